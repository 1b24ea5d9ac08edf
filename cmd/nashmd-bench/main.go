// Command nashmd-bench measures nashmd's speed as ratios taken in one run.
//
// For now it measures the machine's ceiling (fp32 and bf16 matmul GFLOP/s)
// and the binding's per-call overhead; the Nash-MD step benchmarks and the
// side-by-side run against TRL come with the speed issue.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nashmd/nashmd/torch"
)

func main() {
	threads := flag.Int("threads", 0, "intra-op threads (0: one per CPU)")
	size := flag.Int64("n", 1024, "matmul size n for the n³ ceiling")
	model := flag.String("model", "", "HF model directory for the decode benchmarks (default: SmolLM2-135M's shape with random weights)")
	gpu := flag.String("gpu", "", "run only the GPU benchmark on this device (cuda, cuda:N; see gpu.go)")
	flag.Parse()
	if *gpu != "" {
		if err := gpuBench(*gpu); err != nil {
			fmt.Fprintln(os.Stderr, "nashmd-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*threads, *size); err != nil {
		fmt.Fprintln(os.Stderr, "nashmd-bench:", err)
		os.Exit(1)
	}
	if err := decodeBench(*model); err != nil {
		fmt.Fprintln(os.Stderr, "nashmd-bench:", err)
		os.Exit(1)
	}
}

func run(threads int, n int64) error {
	if threads > 0 {
		if err := torch.SetNumThreads(threads); err != nil {
			return err
		}
	}
	f32, err := matmulGFLOPS(n, torch.Float32)
	if err != nil {
		return err
	}
	bf16, err := matmulGFLOPS(n, torch.BFloat16)
	if err != nil {
		return err
	}
	op, err := tinyOp()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Printf("nashmd-bench on %s: libtorch %s, %d threads\n\n", host, torch.Version(), torch.NumThreads())
	fmt.Println("| measure | value | ratio |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| matmul %d³ fp32 | %.1f GFLOP/s | 1.00 (ceiling) |\n", n, f32)
	fmt.Printf("| matmul %d³ bf16 | %.1f GFLOP/s | %.2f of fp32 |\n", n, bf16, bf16/f32)
	fmt.Printf("| tiny op (add of 1-element tensors) | %.2f µs/call | %.0f calls per fp32 %d³ matmul |\n",
		op.Seconds()*1e6, 2*float64(n*n*n)/f32/1e9/op.Seconds(), n)
	return nil
}

// matmulGFLOPS is the best of several timed n³ matmuls.
func matmulGFLOPS(n int64, dt torch.DType) (float64, error) {
	s := torch.NewScope()
	defer s.Close()
	a := s.Randn(nil, []int64{n, n}, dt, torch.CPU)
	b := s.Randn(nil, []int64{n, n}, dt, torch.CPU)
	best := time.Duration(1 << 62)
	for i := 0; i < 6; i++ {
		r := torch.NewScope()
		t0 := time.Now()
		r.Matmul(a, b)
		d := time.Since(t0)
		r.Close()
		if err := r.Err(); err != nil {
			return 0, err
		}
		if i > 0 && d < best { // the first run warms up
			best = d
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 2 * float64(n*n*n) / best.Seconds() / 1e9, nil
}

// tinyOp is the mean time of one Add of one-element tensors, freeing included.
func tinyOp() (time.Duration, error) {
	hold := torch.NewScope()
	defer hold.Close()
	x := hold.FromFloat32([]float32{1})
	y := hold.FromFloat32([]float32{2})
	const calls = 200000
	s := torch.NewScope()
	t0 := time.Now()
	for i := 0; i < calls; i++ {
		s.Add(x, y)
		if s.Len() == 1024 {
			s.Close()
		}
	}
	d := time.Since(t0)
	s.Close()
	if err := s.Err(); err != nil {
		return 0, err
	}
	return d / calls, hold.Err()
}
