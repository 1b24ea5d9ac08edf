package torch

/*
#include <stdlib.h>
#include "nashmd.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// handles copies the C handles of ts into a C array for one call; the
// returned func frees it.
func handles(op string, ts []*Tensor) (**C.nm_tensor, C.int32_t, func(), error) {
	if len(ts) == 0 {
		return nil, 0, func() {}, nil
	}
	p := C.malloc(C.size_t(len(ts)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	arr := unsafe.Slice((**C.nm_tensor)(p), len(ts))
	for i, t := range ts {
		if t == nil || t.h == nil {
			C.free(p)
			return nil, 0, nil, argError(op, fmt.Sprintf("tensor %d is nil or closed", i))
		}
		arr[i] = t.h
	}
	return (**C.nm_tensor)(p), C.int32_t(len(ts)), func() { C.free(p) }, nil
}

// AdamW is torch.optim.AdamW (decoupled weight decay) over a fixed list of
// parameters, which it shares (it does not own them). Close frees its state.
type AdamW struct {
	h      *C.nm_optimizer
	params []*Tensor
}

// NewAdamW makes an optimizer for params with transformers' defaults being
// betas (0.9, 0.999), eps 1e-8.
func NewAdamW(params []*Tensor, beta1, beta2, eps, weightDecay float64) (*AdamW, error) {
	p, n, free, err := handles("NewAdamW", params)
	if err != nil {
		return nil, err
	}
	defer free()
	var h *C.nm_optimizer
	if err := check("NewAdamW", C.nm_adamw_new(p, n, C.double(beta1), C.double(beta2), C.double(eps), C.double(weightDecay), &h)); err != nil {
		return nil, err
	}
	return &AdamW{h: h, params: params}, nil
}

// Step applies one update with learning rate lr.
func (o *AdamW) Step(lr float64) error {
	return check("AdamW.Step", C.nm_adamw_step(o.h, C.double(lr)))
}

// State returns parameter i's moments (nil before its first step; owned by
// the caller) and step count.
func (o *AdamW) State(i int) (expAvg, expAvgSq *Tensor, step int64, err error) {
	var m, v *C.nm_tensor
	var st C.int64_t
	if err := check("AdamW.State", C.nm_adamw_get_state(o.h, C.int32_t(i), &m, &v, &st)); err != nil {
		return nil, nil, 0, err
	}
	if m == nil {
		return nil, nil, int64(st), nil
	}
	return &Tensor{h: m}, &Tensor{h: v}, int64(st), nil
}

// SetState restores parameter i's moments (copied) and step count.
func (o *AdamW) SetState(i int, expAvg, expAvgSq *Tensor, step int64) error {
	m, err := expAvg.handle("AdamW.SetState")
	if err != nil {
		return err
	}
	v, err := expAvgSq.handle("AdamW.SetState")
	if err != nil {
		return err
	}
	return check("AdamW.SetState", C.nm_adamw_set_state(o.h, C.int32_t(i), m, v, C.int64_t(step)))
}

// Close frees the optimizer state. Idempotent and nil-safe.
func (o *AdamW) Close() error {
	if o == nil || o.h == nil {
		return nil
	}
	err := check("AdamW.Close", C.nm_adamw_free(o.h))
	o.h = nil
	return err
}

// ClipGradNorm returns the total 2-norm of the parameters' gradients and,
// when maxNorm > 0 and the norm is finite, scales them to at most maxNorm
// (torch.nn.utils.clip_grad_norm_).
func ClipGradNorm(params []*Tensor, maxNorm float64) (float64, error) {
	p, n, free, err := handles("ClipGradNorm", params)
	if err != nil {
		return 0, err
	}
	defer free()
	var total C.double
	if err := check("ClipGradNorm", C.nm_grad_clip(p, n, C.double(maxNorm), &total)); err != nil {
		return 0, err
	}
	return float64(total), nil
}

// ScaleGrads multiplies every gradient by factor.
func ScaleGrads(params []*Tensor, factor float64) error {
	p, n, free, err := handles("ScaleGrads", params)
	if err != nil {
		return err
	}
	defer free()
	return check("ScaleGrads", C.nm_grad_scale(p, n, C.double(factor)))
}

// ZeroGrads drops every gradient (zero_grad(set_to_none=True)).
func ZeroGrads(params []*Tensor) error {
	p, n, free, err := handles("ZeroGrads", params)
	if err != nil {
		return err
	}
	defer free()
	return check("ZeroGrads", C.nm_grad_zero(p, n))
}
