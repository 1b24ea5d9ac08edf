package torch

/*
#include "nashmd.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"unsafe"
)

// Scope makes tensors and frees them together. Every tensor a Scope method
// returns belongs to the Scope until Keep moves it out; Close frees the rest.
//
// A Scope keeps the first error of its calls: once Err is non-nil, every
// method returns nil without calling C, so a chain of calls needs one check
// at the end. A Scope is for one goroutine at a time.
type Scope struct {
	ts  []*Tensor
	err error
}

// NewScope returns an empty Scope. Close it (usually with defer).
func NewScope() *Scope { return &Scope{} }

// Err is the first error of any call made through s, or nil.
func (s *Scope) Err() error { return s.err }

// Close frees every tensor still owned by s. Idempotent. It does not clear Err.
func (s *Scope) Close() error {
	var first error
	for i := len(s.ts) - 1; i >= 0; i-- {
		if err := s.ts[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	s.ts = nil
	return first
}

// Keep moves t out of s: s.Close will not free it and the caller must Close
// it. It returns t, so `w := s.Keep(s.Randn(...))` reads naturally.
func (s *Scope) Keep(t *Tensor) *Tensor {
	for i := len(s.ts) - 1; i >= 0; i-- {
		if s.ts[i] == t {
			s.ts = slices.Delete(s.ts, i, i+1)
			break
		}
	}
	return t
}

// Len is the number of tensors s currently owns.
func (s *Scope) Len() int { return len(s.ts) }

// fail records err as the Scope's error unless one is already recorded.
func (s *Scope) fail(err error) *Tensor {
	if s.err == nil {
		s.err = err
	}
	return nil
}

// run calls f, which writes a new handle through its out-parameter, after
// checking that s has no error and every input is a live tensor.
func (s *Scope) run(op string, f func(out **C.nm_tensor) *C.nm_error, ins ...*Tensor) *Tensor {
	if s.err != nil {
		return nil
	}
	for _, t := range ins {
		if t == nil || t.h == nil {
			return s.fail(argError(op, "nil or closed tensor argument"))
		}
	}
	var h *C.nm_tensor
	if err := check(op, f(&h)); err != nil {
		return s.fail(err)
	}
	if h == nil { // only Grad returns no handle without error
		return nil
	}
	t := &Tensor{h: h}
	s.ts = append(s.ts, t)
	return t
}

// ---- creation --------------------------------------------------------------------

// fromHost copies n bytes at p into a new tensor of dtype dt and the given shape.
func (s *Scope) fromHost(op string, p unsafe.Pointer, n int, dt DType, d Device, shape []int64) *Tensor {
	if s.err != nil {
		return nil
	}
	if err := checkDevice(op, d); err != nil {
		return s.fail(err)
	}
	sp, nd := shapePtr(shape)
	return s.run(op, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_from_host(p, C.int64_t(n), C.int32_t(dt), sp, nd, d.c(), o)
	})
}

// fromSlice copies data (element type E = dtype dt) into a new CPU tensor.
// With no shape, the tensor is 1-D of len(data).
func fromSlice[E any](s *Scope, op string, dt DType, data []E, shape []int64) *Tensor {
	if len(shape) == 0 {
		shape = []int64{int64(len(data))}
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var zero E
	return s.fromHost(op, p, len(data)*int(unsafe.Sizeof(zero)), dt, CPU, shape)
}

// FromFloat32 copies data into a new float32 CPU tensor of the given shape
// (1-D when shape is empty; use Scalar-shaped []int64{} via FromBytes for 0-d).
// len(data) must equal the product of shape. data is not retained.
func (s *Scope) FromFloat32(data []float32, shape ...int64) *Tensor {
	return fromSlice(s, "FromFloat32", Float32, data, shape)
}

// FromFloat64 is FromFloat32 for float64.
func (s *Scope) FromFloat64(data []float64, shape ...int64) *Tensor {
	return fromSlice(s, "FromFloat64", Float64, data, shape)
}

// FromInt64 is FromFloat32 for int64.
func (s *Scope) FromInt64(data []int64, shape ...int64) *Tensor {
	return fromSlice(s, "FromInt64", Int64, data, shape)
}

// FromInt32 is FromFloat32 for int32.
func (s *Scope) FromInt32(data []int32, shape ...int64) *Tensor {
	return fromSlice(s, "FromInt32", Int32, data, shape)
}

// FromBool is FromFloat32 for bool.
func (s *Scope) FromBool(data []bool, shape ...int64) *Tensor {
	return fromSlice(s, "FromBool", Bool, data, shape)
}

// FromBytes copies raw little-endian element bytes of dtype dt (for
// bfloat16/float16, the 16-bit patterns) into a new tensor on device d.
// shape may be empty for a 0-d tensor. data is not retained; it may be
// memory that Go does not manage (an mmap), which is copied once.
func (s *Scope) FromBytes(data []byte, dt DType, d Device, shape ...int64) *Tensor {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return s.fromHost("FromBytes", p, len(data), dt, d, shape)
}

func (s *Scope) create(op string, d Device, f func(o **C.nm_tensor) *C.nm_error) *Tensor {
	if s.err != nil {
		return nil
	}
	if err := checkDevice(op, d); err != nil {
		return s.fail(err)
	}
	return s.run(op, f)
}

// Zeros returns a tensor of zeros.
func (s *Scope) Zeros(shape []int64, dt DType, d Device) *Tensor {
	sp, n := shapePtr(shape)
	return s.create("Zeros", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_zeros(sp, n, C.int32_t(dt), d.c(), o)
	})
}

// Ones returns a tensor of ones.
func (s *Scope) Ones(shape []int64, dt DType, d Device) *Tensor {
	sp, n := shapePtr(shape)
	return s.create("Ones", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_ones(sp, n, C.int32_t(dt), d.c(), o)
	})
}

// Full returns a tensor filled with v.
func (s *Scope) Full(shape []int64, v float64, dt DType, d Device) *Tensor {
	sp, n := shapePtr(shape)
	return s.create("Full", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_full(sp, n, C.double(v), C.int32_t(dt), d.c(), o)
	})
}

// Arange returns [start, end) in steps of step, like torch.arange.
func (s *Scope) Arange(start, end, step float64, dt DType, d Device) *Tensor {
	return s.create("Arange", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_arange(C.double(start), C.double(end), C.double(step), C.int32_t(dt), d.c(), o)
	})
}

// Randn returns standard normal samples drawn from g (nil: the default
// generator, seeded by ManualSeed). dt must be a float type.
func (s *Scope) Randn(g *Generator, shape []int64, dt DType, d Device) *Tensor {
	sp, n := shapePtr(shape)
	return s.create("Randn", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_randn(sp, n, C.int32_t(dt), d.c(), g.c(), o)
	})
}

// Rand returns uniform samples in [0, 1) drawn from g (nil: default generator).
func (s *Scope) Rand(g *Generator, shape []int64, dt DType, d Device) *Tensor {
	sp, n := shapePtr(shape)
	return s.create("Rand", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_tensor_rand(sp, n, C.int32_t(dt), d.c(), g.c(), o)
	})
}

// ---- conversion ------------------------------------------------------------------------

// To returns t converted to dtype dt on device d (t itself, shared, when
// nothing changes).
func (s *Scope) To(t *Tensor, dt DType, d Device) *Tensor {
	if s.err != nil {
		return nil
	}
	if err := checkDevice("To", d); err != nil {
		return s.fail(err)
	}
	return s.run("To", func(o **C.nm_tensor) *C.nm_error { return C.nm_tensor_to(t.h, C.int32_t(dt), d.c(), o) }, t)
}

// Contiguous returns t laid out row-major (shared when it already is).
func (s *Scope) Contiguous(t *Tensor) *Tensor {
	return s.run("Contiguous", func(o **C.nm_tensor) *C.nm_error { return C.nm_tensor_contiguous(t.h, o) }, t)
}

// Clone returns a copy of t with its own storage (recorded by autograd).
func (s *Scope) Clone(t *Tensor) *Tensor {
	return s.run("Clone", func(o **C.nm_tensor) *C.nm_error { return C.nm_tensor_clone(t.h, o) }, t)
}

// Detach returns t's data without autograd history (shares storage).
func (s *Scope) Detach(t *Tensor) *Tensor {
	return s.run("Detach", func(o **C.nm_tensor) *C.nm_error { return C.nm_tensor_detach(t.h, o) }, t)
}

// Share returns a second handle to t (same storage and autograd identity),
// owned by s.
func (s *Scope) Share(t *Tensor) *Tensor {
	return s.run("Share", func(o **C.nm_tensor) *C.nm_error { return C.nm_tensor_share(t.h, o) }, t)
}

// Copy copies src into dst in place (broadcasting, converting dtype and device).
func (s *Scope) Copy(dst, src *Tensor) {
	if s.err != nil {
		return
	}
	if dst == nil || dst.h == nil || src == nil || src.h == nil {
		s.fail(argError("Copy", "nil or closed tensor argument"))
		return
	}
	if err := check("Copy", C.nm_tensor_copy_(dst.h, src.h)); err != nil {
		s.fail(err)
	}
}

// ---- elementwise -----------------------------------------------------------------------------

func (s *Scope) unary(op string, code C.int32_t, x *Tensor) *Tensor {
	return s.run(op, func(o **C.nm_tensor) *C.nm_error { return C.nm_op_unary(code, x.h, o) }, x)
}

func (s *Scope) binary(op string, code C.int32_t, a, b *Tensor) *Tensor {
	return s.run(op, func(o **C.nm_tensor) *C.nm_error { return C.nm_op_binary(code, a.h, b.h, o) }, a, b)
}

func (s *Scope) binaryScalar(op string, code C.int32_t, a *Tensor, v float64) *Tensor {
	return s.run(op, func(o **C.nm_tensor) *C.nm_error { return C.nm_op_binary_scalar(code, a.h, C.double(v), o) }, a)
}

// Neg returns -x.
func (s *Scope) Neg(x *Tensor) *Tensor { return s.unary("Neg", C.NM_UN_NEG, x) }

// Exp returns e^x.
func (s *Scope) Exp(x *Tensor) *Tensor { return s.unary("Exp", C.NM_UN_EXP, x) }

// Log returns the natural logarithm of x.
func (s *Scope) Log(x *Tensor) *Tensor { return s.unary("Log", C.NM_UN_LOG, x) }

// Sigmoid returns 1/(1+e^-x).
func (s *Scope) Sigmoid(x *Tensor) *Tensor { return s.unary("Sigmoid", C.NM_UN_SIGMOID, x) }

// Abs returns |x|.
func (s *Scope) Abs(x *Tensor) *Tensor { return s.unary("Abs", C.NM_UN_ABS, x) }

// Sqrt returns √x.
func (s *Scope) Sqrt(x *Tensor) *Tensor { return s.unary("Sqrt", C.NM_UN_SQRT, x) }

// LogicalNot returns !x as bool.
func (s *Scope) LogicalNot(x *Tensor) *Tensor { return s.unary("LogicalNot", C.NM_UN_LOGICAL_NOT, x) }

// Add returns a+b, broadcasting, with PyTorch's type promotion.
func (s *Scope) Add(a, b *Tensor) *Tensor { return s.binary("Add", C.NM_BIN_ADD, a, b) }

// Sub returns a-b.
func (s *Scope) Sub(a, b *Tensor) *Tensor { return s.binary("Sub", C.NM_BIN_SUB, a, b) }

// Mul returns a*b.
func (s *Scope) Mul(a, b *Tensor) *Tensor { return s.binary("Mul", C.NM_BIN_MUL, a, b) }

// Div returns a/b (true division: integers give floats).
func (s *Scope) Div(a, b *Tensor) *Tensor { return s.binary("Div", C.NM_BIN_DIV, a, b) }

// Maximum returns the elementwise maximum.
func (s *Scope) Maximum(a, b *Tensor) *Tensor { return s.binary("Maximum", C.NM_BIN_MAXIMUM, a, b) }

// Minimum returns the elementwise minimum.
func (s *Scope) Minimum(a, b *Tensor) *Tensor { return s.binary("Minimum", C.NM_BIN_MINIMUM, a, b) }

// LogicalAnd returns a && b as bool.
func (s *Scope) LogicalAnd(a, b *Tensor) *Tensor {
	return s.binary("LogicalAnd", C.NM_BIN_LOGICAL_AND, a, b)
}

// LogicalOr returns a || b as bool.
func (s *Scope) LogicalOr(a, b *Tensor) *Tensor {
	return s.binary("LogicalOr", C.NM_BIN_LOGICAL_OR, a, b)
}

// Eq returns a == b as bool. Ne, Lt, Le, Gt and Ge likewise.
func (s *Scope) Eq(a, b *Tensor) *Tensor { return s.binary("Eq", C.NM_BIN_EQ, a, b) }
func (s *Scope) Ne(a, b *Tensor) *Tensor { return s.binary("Ne", C.NM_BIN_NE, a, b) }
func (s *Scope) Lt(a, b *Tensor) *Tensor { return s.binary("Lt", C.NM_BIN_LT, a, b) }
func (s *Scope) Le(a, b *Tensor) *Tensor { return s.binary("Le", C.NM_BIN_LE, a, b) }
func (s *Scope) Gt(a, b *Tensor) *Tensor { return s.binary("Gt", C.NM_BIN_GT, a, b) }
func (s *Scope) Ge(a, b *Tensor) *Tensor { return s.binary("Ge", C.NM_BIN_GE, a, b) }

// AddScalar returns a+v (a Python-number scalar for type promotion: an
// integer tensor plus 0.5 gives the default float type).
func (s *Scope) AddScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("AddScalar", C.NM_BIN_ADD, a, v)
}

// SubScalar returns a-v.
func (s *Scope) SubScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("SubScalar", C.NM_BIN_SUB, a, v)
}

// MulScalar returns a*v.
func (s *Scope) MulScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("MulScalar", C.NM_BIN_MUL, a, v)
}

// DivScalar returns a/v.
func (s *Scope) DivScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("DivScalar", C.NM_BIN_DIV, a, v)
}

// ClampMin returns max(a, v).
func (s *Scope) ClampMin(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("ClampMin", C.NM_BIN_MAXIMUM, a, v)
}

// ClampMax returns min(a, v).
func (s *Scope) ClampMax(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("ClampMax", C.NM_BIN_MINIMUM, a, v)
}

// EqScalar returns a == v as bool. NeScalar, LtScalar, LeScalar, GtScalar
// and GeScalar likewise.
func (s *Scope) EqScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("EqScalar", C.NM_BIN_EQ, a, v)
}
func (s *Scope) NeScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("NeScalar", C.NM_BIN_NE, a, v)
}
func (s *Scope) LtScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("LtScalar", C.NM_BIN_LT, a, v)
}
func (s *Scope) LeScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("LeScalar", C.NM_BIN_LE, a, v)
}
func (s *Scope) GtScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("GtScalar", C.NM_BIN_GT, a, v)
}
func (s *Scope) GeScalar(a *Tensor, v float64) *Tensor {
	return s.binaryScalar("GeScalar", C.NM_BIN_GE, a, v)
}

// ---- reductions -------------------------------------------------------------------------------

func (s *Scope) reduce(op string, code C.int32_t, x *Tensor, all bool, dim int, keepdim bool) *Tensor {
	return s.run(op, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_op_reduce(code, x.h, cbool(all), C.int64_t(dim), cbool(keepdim), o)
	}, x)
}

// Sum returns the sum of all elements (0-d).
func (s *Scope) Sum(x *Tensor) *Tensor { return s.reduce("Sum", C.NM_RED_SUM, x, true, 0, false) }

// SumDim sums along dim (negative counts from the end).
func (s *Scope) SumDim(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("SumDim", C.NM_RED_SUM, x, false, dim, keepdim)
}

// Mean returns the mean of all elements (0-d; x must be a float type).
func (s *Scope) Mean(x *Tensor) *Tensor { return s.reduce("Mean", C.NM_RED_MEAN, x, true, 0, false) }

// MeanDim averages along dim.
func (s *Scope) MeanDim(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("MeanDim", C.NM_RED_MEAN, x, false, dim, keepdim)
}

// Max returns the largest element (0-d).
func (s *Scope) Max(x *Tensor) *Tensor { return s.reduce("Max", C.NM_RED_MAX, x, true, 0, false) }

// MaxDim returns the largest values along dim (see Argmax for their indices).
func (s *Scope) MaxDim(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("MaxDim", C.NM_RED_MAX, x, false, dim, keepdim)
}

// Min returns the smallest element (0-d).
func (s *Scope) Min(x *Tensor) *Tensor { return s.reduce("Min", C.NM_RED_MIN, x, true, 0, false) }

// MinDim returns the smallest values along dim.
func (s *Scope) MinDim(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("MinDim", C.NM_RED_MIN, x, false, dim, keepdim)
}

// Any reports (0-d bool) whether any element is non-zero.
func (s *Scope) Any(x *Tensor) *Tensor { return s.reduce("Any", C.NM_RED_ANY, x, true, 0, false) }

// AnyDim is Any along dim.
func (s *Scope) AnyDim(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("AnyDim", C.NM_RED_ANY, x, false, dim, keepdim)
}

// All reports (0-d bool) whether every element is non-zero.
func (s *Scope) All(x *Tensor) *Tensor { return s.reduce("All", C.NM_RED_ALL, x, true, 0, false) }

// AllDim is All along dim.
func (s *Scope) AllDim(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("AllDim", C.NM_RED_ALL, x, false, dim, keepdim)
}

// Argmax returns the int64 indices of the largest values along dim.
func (s *Scope) Argmax(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("Argmax", C.NM_RED_ARGMAX, x, false, dim, keepdim)
}

// LogSumExp returns log Σ exp(x) along dim, computed stably.
func (s *Scope) LogSumExp(x *Tensor, dim int, keepdim bool) *Tensor {
	return s.reduce("LogSumExp", C.NM_RED_LOGSUMEXP, x, false, dim, keepdim)
}

// ---- linear algebra, softmax, indexing ----------------------------------------------------------

// Cumsum is the cumulative sum along dim; reverse sums from the end
// (out[i] = Σ_{j ≥ i} x[j]).
func (s *Scope) Cumsum(x *Tensor, dim int, reverse bool) *Tensor {
	return s.run("Cumsum", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_op_cumsum(x.h, C.int64_t(dim), cbool(reverse), o)
	}, x)
}

// Matmul is torch.matmul: (…, n, k) @ (…, k, m) → (…, n, m), batched and broadcasting.
func (s *Scope) Matmul(a, b *Tensor) *Tensor {
	return s.run("Matmul", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_matmul(a.h, b.h, o) }, a, b)
}

// LogSoftmax returns log_softmax(x) along dim.
func (s *Scope) LogSoftmax(x *Tensor, dim int) *Tensor {
	return s.run("LogSoftmax", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_log_softmax(x.h, C.int64_t(dim), o) }, x)
}

// Softmax returns softmax(x) along dim.
func (s *Scope) Softmax(x *Tensor, dim int) *Tensor {
	return s.run("Softmax", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_softmax(x.h, C.int64_t(dim), o) }, x)
}

// Gather is torch.gather: out[i][j] = x[i][index[i][j]] for dim 1. index is int64.
func (s *Scope) Gather(x *Tensor, dim int, index *Tensor) *Tensor {
	return s.run("Gather", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_gather(x.h, C.int64_t(dim), index.h, o) }, x, index)
}

// IndexSelect picks the entries index (1-D int64) along dim.
func (s *Scope) IndexSelect(x *Tensor, dim int, index *Tensor) *Tensor {
	return s.run("IndexSelect", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_index_select(x.h, C.int64_t(dim), index.h, o) }, x, index)
}

// MaskedFill returns x with v where mask (bool, broadcastable) is true.
func (s *Scope) MaskedFill(x, mask *Tensor, v float64) *Tensor {
	return s.run("MaskedFill", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_masked_fill(x.h, mask.h, C.double(v), o) }, x, mask)
}

// Where returns a where cond is true and b elsewhere (broadcasting).
func (s *Scope) Where(cond, a, b *Tensor) *Tensor {
	return s.run("Where", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_where(cond.h, a.h, b.h, o) }, cond, a, b)
}

// list builds a C array of handles for the duration of a call.
func (s *Scope) list(op string, ts []*Tensor, f func(p **C.nm_tensor, n C.int32_t, o **C.nm_tensor) *C.nm_error) *Tensor {
	if s.err != nil {
		return nil
	}
	if len(ts) == 0 {
		return s.fail(argError(op, "needs at least one tensor"))
	}
	hs := make([]*C.nm_tensor, len(ts))
	for i, t := range ts {
		if t == nil || t.h == nil {
			return s.fail(argError(op, fmt.Sprintf("tensor %d is nil or closed", i)))
		}
		hs[i] = t.h
	}
	return s.run(op, func(o **C.nm_tensor) *C.nm_error { return f(&hs[0], C.int32_t(len(hs)), o) })
}

// Cat concatenates ts along dim.
func (s *Scope) Cat(dim int, ts ...*Tensor) *Tensor {
	return s.list("Cat", ts, func(p **C.nm_tensor, n C.int32_t, o **C.nm_tensor) *C.nm_error {
		return C.nm_op_cat(p, n, C.int64_t(dim), o)
	})
}

// Stack stacks equally shaped ts along a new dim.
func (s *Scope) Stack(dim int, ts ...*Tensor) *Tensor {
	return s.list("Stack", ts, func(p **C.nm_tensor, n C.int32_t, o **C.nm_tensor) *C.nm_error {
		return C.nm_op_stack(p, n, C.int64_t(dim), o)
	})
}

// Narrow returns the view x[…, start:start+length, …] along dim.
func (s *Scope) Narrow(x *Tensor, dim int, start, length int64) *Tensor {
	return s.run("Narrow", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_op_narrow(x.h, C.int64_t(dim), C.int64_t(start), C.int64_t(length), o)
	}, x)
}

// Slice returns the view x[…, start:end:step, …] along dim (Python slice
// semantics for negative and out-of-range bounds; step > 0).
func (s *Scope) Slice(x *Tensor, dim int, start, end, step int64) *Tensor {
	return s.run("Slice", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_op_slice(x.h, C.int64_t(dim), C.int64_t(start), C.int64_t(end), C.int64_t(step), o)
	}, x)
}

// Reshape returns x with a new shape (one size may be -1); it copies only
// when a view is impossible.
func (s *Scope) Reshape(x *Tensor, shape ...int64) *Tensor {
	sp, n := shapePtr(shape)
	return s.run("Reshape", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_reshape(x.h, sp, n, o) }, x)
}

// View is Reshape that never copies (an error when the strides forbid it).
func (s *Scope) View(x *Tensor, shape ...int64) *Tensor {
	sp, n := shapePtr(shape)
	return s.run("View", func(o **C.nm_tensor) *C.nm_error { return C.nm_op_view(x.h, sp, n, o) }, x)
}

// Transpose swaps dims d0 and d1 (a view).
func (s *Scope) Transpose(x *Tensor, d0, d1 int) *Tensor {
	return s.run("Transpose", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_op_transpose(x.h, C.int64_t(d0), C.int64_t(d1), o)
	}, x)
}

// Multinomial draws n indices per row of probs (1-D or 2-D, non-negative,
// not necessarily normalised) from g (nil: the default generator). int64.
func (s *Scope) Multinomial(probs *Tensor, n int64, replacement bool, g *Generator) *Tensor {
	return s.run("Multinomial", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_op_multinomial(probs.h, C.int64_t(n), cbool(replacement), g.c(), o)
	}, probs)
}

// SelectiveLogSoftmax returns log_softmax(logits, -1) gathered at ids,
// without materialising the full log-softmax: logits (…, V) float, ids (…)
// int64 → (…) float32 (float64 for float64 logits). chunkRows rows are
// worked on at a time (≤ 0: about 64 MiB of float32 per chunk).
// Differentiable with respect to logits.
func (s *Scope) SelectiveLogSoftmax(logits, ids *Tensor, chunkRows int64) *Tensor {
	return s.run("SelectiveLogSoftmax", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_k_selective_log_softmax(logits.h, ids.h, C.int64_t(chunkRows), o)
	}, logits, ids)
}

// MixtureSample draws one token per row from softmax(((1−beta)·policy +
// beta·ref) / temperature) with the fused kernel (inverse-CDF sampling, one
// uniform per row): policy, ref (N, V) float → (N) int64. g may be nil.
func (s *Scope) MixtureSample(policy, ref *Tensor, beta, temperature float64, g *Generator) *Tensor {
	return s.run("MixtureSample", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_k_mixture_sample(policy.h, ref.h, C.double(beta), C.double(temperature), g.c(), o)
	}, policy, ref)
}

// MixtureSampleEx is MixtureSample with top-k (≤ 0: off) then top-p (1:
// off) filters on the mixture, as transformers' warpers, and the sampled
// tokens' log-probs under the unfiltered tempered policy: logp (N) float32 =
// log softmax(policy/temperature)[token]. On a CUDA tensor in a CUDA build
// it is the fused CUDA kernel (g must be a CUDA generator or nil).
func (s *Scope) MixtureSampleEx(policy, ref *Tensor, beta, temperature float64, topK int64, topP float64, g *Generator) (tokens, logp *Tensor) {
	var lp *C.nm_tensor
	tokens = s.run("MixtureSampleEx", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_k_mixture_sample_ex(policy.h, ref.h, C.double(beta), C.double(temperature),
			C.int64_t(topK), C.double(topP), g.c(), o, &lp)
	}, policy, ref)
	if tokens == nil {
		return nil, nil
	}
	return tokens, s.adopt(lp)
}

// MixtureProbs is the distribution MixtureSample draws from, (N, V) float32.
func (s *Scope) MixtureProbs(policy, ref *Tensor, beta, temperature float64) *Tensor {
	return s.run("MixtureProbs", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_k_mixture_probs(policy.h, ref.h, C.double(beta), C.double(temperature), o)
	}, policy, ref)
}

// Grad returns t's accumulated gradient as a tensor owned by s, or nil
// (with Err unchanged) when t has none.
func (s *Scope) Grad(t *Tensor) *Tensor {
	return s.run("Grad", func(o **C.nm_tensor) *C.nm_error { return C.nm_ag_grad(t.h, o) }, t)
}
