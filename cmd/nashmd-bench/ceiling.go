package main

import (
	"time"

	"github.com/nashmd/nashmd/torch"
)

// ceiling is the machine's own speed, measured first in every run.
type ceiling struct {
	N        int64   `json:"matmul_n"`
	FP32     float64 `json:"matmul_fp32_gflops"`
	BF16     float64 `json:"matmul_bf16_gflops"`
	TinyOpUS float64 `json:"tiny_op_us"` // one Add of 1-element tensors through the binding
}

// raise keeps the better of two measurements: the ceiling is the most the
// machine did, and a shared machine has slow spells.
func (c *ceiling) raise(o *ceiling) {
	c.FP32, c.BF16 = max(c.FP32, o.FP32), max(c.BF16, o.BF16)
	c.TinyOpUS = min(c.TinyOpUS, o.TinyOpUS)
}

// of is the ceiling for a dtype.
func (c *ceiling) of(dt torch.DType) float64 {
	if dt == torch.BFloat16 {
		return c.BF16
	}
	return c.FP32
}

func measureCeiling(n int64) (*ceiling, error) {
	f32, err := matmulGFLOPS(n, torch.Float32)
	if err != nil {
		return nil, err
	}
	bf16, err := matmulGFLOPS(n, torch.BFloat16)
	if err != nil {
		return nil, err
	}
	op, err := tinyOp()
	if err != nil {
		return nil, err
	}
	return &ceiling{N: n, FP32: f32, BF16: bf16, TinyOpUS: op.Seconds() * 1e6}, nil
}

// matmulGFLOPS is the best of several timed n³ matmuls.
func matmulGFLOPS(n int64, dt torch.DType) (float64, error) {
	s := torch.NewScope()
	defer s.Close()
	a := s.Randn(nil, []int64{n, n}, dt, torch.CPU)
	b := s.Randn(nil, []int64{n, n}, dt, torch.CPU)
	best := time.Duration(1 << 62)
	for i := 0; i < 11; i++ {
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
