package torch_test

import (
	"testing"

	"github.com/nashmd/nashmd/torch"
)

// BenchmarkTinyOp is the per-call cost of the binding: one cgo call, one
// libtorch dispatch, one handle, on one-element tensors.
func BenchmarkTinyOp(b *testing.B) {
	hold := torch.NewScope()
	defer hold.Close()
	x := hold.FromFloat32([]float32{1})
	y := hold.FromFloat32([]float32{2})
	s := torch.NewScope()
	for b.Loop() {
		s.Add(x, y)
		if s.Len() == 1024 {
			s.Close() // freeing is part of an op's cost
		}
	}
	if err := s.Err(); err != nil {
		b.Fatal(err)
	}
	s.Close()
}

// BenchmarkMatmul1024 reports GFLOP/s of a float32 1024³ matmul.
func BenchmarkMatmul1024(b *testing.B) { benchMatmul(b, torch.Float32) }

// BenchmarkMatmul1024BF16 is the same in bfloat16.
func BenchmarkMatmul1024BF16(b *testing.B) { benchMatmul(b, torch.BFloat16) }

func benchMatmul(b *testing.B, dt torch.DType) {
	const n = 1024
	s := torch.NewScope()
	defer s.Close()
	x := s.Randn(nil, []int64{n, n}, dt, torch.CPU)
	y := s.Randn(nil, []int64{n, n}, dt, torch.CPU)
	if err := s.Err(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r := torch.NewScope()
		r.Matmul(x, y)
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
