package torch

/*
#include "nashmd.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Tensor owns one handle to a libtorch tensor. The zero value and nil are
// "no tensor"; methods on them return an error (or zero values for queries).
// Make tensors through a Scope; free them with Scope.Close, or with Close
// after Scope.Keep.
type Tensor struct {
	h *C.nm_tensor
}

// Close frees the handle. Idempotent and nil-safe. A tensor closed while it
// still belongs to a Scope is skipped by the Scope's Close.
func (t *Tensor) Close() error {
	if t == nil || t.h == nil {
		return nil
	}
	err := check("Tensor.Close", C.nm_tensor_free(t.h))
	t.h = nil
	return err
}

// handle returns t's C handle or an error naming op.
func (t *Tensor) handle(op string) (*C.nm_tensor, error) {
	if t == nil || t.h == nil {
		return nil, argError(op, "nil or closed tensor")
	}
	return t.h, nil
}

// Dim is the number of dimensions (0 for a nil tensor).
func (t *Tensor) Dim() int {
	h, err := t.handle("Dim")
	if err != nil {
		return 0
	}
	var n C.int32_t
	if check("Dim", C.nm_tensor_ndim(h, &n)) != nil {
		return 0
	}
	return int(n)
}

// Shape returns the sizes as a new slice (nil for a nil tensor).
func (t *Tensor) Shape() []int64 {
	h, err := t.handle("Shape")
	if err != nil {
		return nil
	}
	shape := make([]int64, t.Dim())
	p, n := shapePtr(shape)
	if check("Shape", C.nm_tensor_shape(h, p, n)) != nil {
		return nil
	}
	return shape
}

// Numel is the number of elements (0 for a nil tensor).
func (t *Tensor) Numel() int64 {
	h, err := t.handle("Numel")
	if err != nil {
		return 0
	}
	var n C.int64_t
	if check("Numel", C.nm_tensor_numel(h, &n)) != nil {
		return 0
	}
	return int64(n)
}

// DType is the element type (-1 for a nil tensor).
func (t *Tensor) DType() DType {
	h, err := t.handle("DType")
	if err != nil {
		return -1
	}
	var d C.int32_t
	if check("DType", C.nm_tensor_dtype(h, &d)) != nil {
		return -1
	}
	return DType(d)
}

// Device is where the tensor lives (CPU for a nil tensor).
func (t *Tensor) Device() Device {
	h, err := t.handle("Device")
	if err != nil {
		return CPU
	}
	var d C.nm_device
	if check("Device", C.nm_tensor_device(h, &d)) != nil {
		return CPU
	}
	return Device{Type: DeviceType(d._type), Index: int(d.index)}
}

func (t *Tensor) String() string {
	if t == nil || t.h == nil {
		return "Tensor(nil)"
	}
	return fmt.Sprintf("Tensor(%v, %v, %v)", t.Shape(), t.DType(), t.Device())
}

// ---- host copies ---------------------------------------------------------------------

// copyOut copies t's elements into dst (n bytes) after checking t's dtype.
func (t *Tensor) copyOut(op string, want DType, dst unsafe.Pointer, n int) error {
	h, err := t.handle(op)
	if err != nil {
		return err
	}
	if got := t.DType(); got != want {
		return &Error{Op: op, Code: CodeDType, Msg: fmt.Sprintf("tensor is %v, %s needs %v (convert with Scope.To first)", got, op, want)}
	}
	return check(op, C.nm_tensor_to_host(h, dst, C.int64_t(n)))
}

// hostSlice reads t (of dtype want) into a new []E.
func hostSlice[E any](t *Tensor, op string, want DType) ([]E, error) {
	out := make([]E, t.Numel())
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	var zero E
	if err := t.copyOut(op, want, p, len(out)*int(unsafe.Sizeof(zero))); err != nil {
		return nil, err
	}
	return out, nil
}

// Float32s copies a float32 tensor (any device, any layout) into a new slice, row-major.
func (t *Tensor) Float32s() ([]float32, error) { return hostSlice[float32](t, "Float32s", Float32) }

// Float64s copies a float64 tensor into a new slice.
func (t *Tensor) Float64s() ([]float64, error) { return hostSlice[float64](t, "Float64s", Float64) }

// Int64s copies an int64 tensor into a new slice.
func (t *Tensor) Int64s() ([]int64, error) { return hostSlice[int64](t, "Int64s", Int64) }

// Int32s copies an int32 tensor into a new slice.
func (t *Tensor) Int32s() ([]int32, error) { return hostSlice[int32](t, "Int32s", Int32) }

// Bools copies a bool tensor into a new slice.
func (t *Tensor) Bools() ([]bool, error) { return hostSlice[bool](t, "Bools", Bool) }

// Bytes copies the raw little-endian element bytes of a tensor of any dtype
// (for bfloat16 and float16, the 16-bit patterns) into a new slice.
func (t *Tensor) Bytes() ([]byte, error) {
	out := make([]byte, t.Numel()*int64(t.DType().Size()))
	if err := t.bytesInto("Bytes", out); err != nil {
		return nil, err
	}
	return out, nil
}

// bytesInto copies t's raw elements, as by Bytes, into dst, which must hold
// exactly Numel()*DType().Size() bytes.
func (t *Tensor) bytesInto(op string, dst []byte) error {
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	h, err := t.handle(op)
	if err != nil {
		return err
	}
	return check(op, C.nm_tensor_to_host(h, p, C.int64_t(len(dst))))
}

// Item returns the value of a one-element tensor of any dtype as a float64.
func (t *Tensor) Item() (float64, error) {
	h, err := t.handle("Item")
	if err != nil {
		return 0, err
	}
	var v C.double
	if err := check("Item", C.nm_tensor_item(h, &v)); err != nil {
		return 0, err
	}
	return float64(v), nil
}

// ---- autograd ----------------------------------------------------------------------

// SetRequiresGrad marks a leaf tensor as a parameter whose gradient autograd records.
func (t *Tensor) SetRequiresGrad(on bool) error {
	h, err := t.handle("SetRequiresGrad")
	if err != nil {
		return err
	}
	return check("SetRequiresGrad", C.nm_ag_set_requires_grad(h, cbool(on)))
}

// RequiresGrad reports whether autograd records operations on t.
func (t *Tensor) RequiresGrad() bool {
	h, err := t.handle("RequiresGrad")
	if err != nil {
		return false
	}
	var v C.int32_t
	if check("RequiresGrad", C.nm_ag_requires_grad(h, &v)) != nil {
		return false
	}
	return v != 0
}

// Backward computes gradients of t with respect to the leaves that require
// them, accumulating into their Grad. grad may be nil when t has one element.
func (t *Tensor) Backward(grad *Tensor) error {
	h, err := t.handle("Backward")
	if err != nil {
		return err
	}
	var g *C.nm_tensor
	if grad != nil {
		if g, err = grad.handle("Backward"); err != nil {
			return err
		}
	}
	return check("Backward", C.nm_ag_backward(h, g))
}

// ZeroGrad drops t's gradient (PyTorch's zero_grad(set_to_none=True)).
func (t *Tensor) ZeroGrad() error {
	h, err := t.handle("ZeroGrad")
	if err != nil {
		return err
	}
	return check("ZeroGrad", C.nm_ag_zero_grad(h))
}

func cbool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
