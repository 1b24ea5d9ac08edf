// Package torch is nashmd's binding to libtorch, through the C ABI of
// libnashmd (csrc/include/nashmd.h). It is the only package that imports "C".
//
// Ownership. A *Tensor owns one handle to a libtorch tensor. Tensors made by
// a Scope's methods belong to that Scope and are freed together by
// Scope.Close; Scope.Keep moves one out, after which the caller closes it
// with Tensor.Close. Close is idempotent and nil-safe. There are no
// finalizers: a tensor that is never closed leaks, and LiveTensors counts
// the handles that are still open so tests can catch it.
//
// Errors. Every call into C returns its own error, so errors never mix
// between goroutines or OS threads. Scope methods keep the first error
// (Scope.Err) and turn every later call on that Scope into a no-op that
// returns nil, so a formula can be written as a chain of calls and checked
// once. Errors are *Error values that unwrap to sentinels (ErrShape, ...).
//
// Host memory. Slices passed in are copied during the call and never
// retained; slices returned are new Go memory owned by the caller.
//
// Threads. libtorch gets one intra-op thread per CPU (runtime.NumCPU) unless
// OMP_NUM_THREADS is set; SetNumThreads changes it for the process.
//
// Concurrency. A Scope is for one goroutine at a time. Tensors may be read by
// several goroutines at once (libtorch ops do not modify their inputs), but
// in-place operations (SetRequiresGrad, ZeroGrad, Backward's gradient
// accumulation) need the caller's synchronisation.
package torch

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc/include
#cgo LDFLAGS: -L${SRCDIR}/../build -lnashmd -Wl,-rpath,${SRCDIR}/../build
#include <stdlib.h>
#include "nashmd.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// init gives libtorch one intra-op thread per CPU unless OMP_NUM_THREADS
// says otherwise: libtorch 1.13 counts physical cores through cpuinfo, which
// reports 1 on some VMs, and would leave the other cores idle.
func init() {
	if os.Getenv("OMP_NUM_THREADS") == "" && NumThreads() < runtime.NumCPU() {
		_ = SetNumThreads(runtime.NumCPU()) // cannot fail for n > 0
	}
}

// DType is a tensor's element type. The values match nm_dtype in nashmd.h.
type DType int32

const (
	Float32  DType = C.NM_FLOAT32
	BFloat16 DType = C.NM_BFLOAT16
	Float16  DType = C.NM_FLOAT16
	Int64    DType = C.NM_INT64
	Int32    DType = C.NM_INT32
	Bool     DType = C.NM_BOOL
	Uint8    DType = C.NM_UINT8
	Float64  DType = C.NM_FLOAT64
)

var dtypeInfo = map[DType]struct {
	name string
	size int
}{
	Float32: {"float32", 4}, BFloat16: {"bfloat16", 2}, Float16: {"float16", 2},
	Int64: {"int64", 8}, Int32: {"int32", 4}, Bool: {"bool", 1}, Uint8: {"uint8", 1},
	Float64: {"float64", 8},
}

func (d DType) String() string {
	if i, ok := dtypeInfo[d]; ok {
		return i.name
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size is the size of one element in bytes (0 for an unknown DType).
func (d DType) Size() int { return dtypeInfo[d].size }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == BFloat16 || d == Float16 || d == Float64
}

// DeviceType is CPU or CUDA.
type DeviceType int32

const (
	DeviceCPU  DeviceType = C.NM_CPU
	DeviceCUDA DeviceType = C.NM_CUDA
)

// Device is where a tensor lives. Index -1 means the current device of its type.
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host.
var CPU = Device{Type: DeviceCPU, Index: -1}

// CUDA returns the n-th CUDA device.
func CUDA(n int) Device { return Device{Type: DeviceCUDA, Index: n} }

func (d Device) String() string {
	if d.Type == DeviceCPU {
		return "cpu"
	}
	if d.Index < 0 {
		return "cuda"
	}
	return fmt.Sprintf("cuda:%d", d.Index)
}

func (d Device) c() C.nm_device {
	return C.nm_device{_type: C.int32_t(d.Type), index: C.int32_t(d.Index)}
}

// checkDevice reports ErrNoCUDA before any C call asks for a missing GPU.
func checkDevice(op string, d Device) error {
	switch d.Type {
	case DeviceCPU:
		return nil
	case DeviceCUDA:
		if !CUDAAvailable() {
			return &Error{Op: op, Code: CodeDevice, Msg: "CUDA is not available (no GPU, or libnashmd built without CUDA)", cause: ErrNoCUDA}
		}
		return nil
	}
	return argError(op, fmt.Sprintf("unknown device type %d", d.Type))
}

// ---- runtime ----------------------------------------------------------------

// ManualSeed seeds libtorch's default generators (CPU and CUDA).
func ManualSeed(seed uint64) error {
	return check("ManualSeed", C.nm_rt_manual_seed(C.uint64_t(seed)))
}

// SetNumThreads sets libtorch's intra-op thread count for the process.
func SetNumThreads(n int) error {
	return check("SetNumThreads", C.nm_rt_set_num_threads(C.int32_t(n)))
}

// ReleaseMemory hands freed heap memory back to the operating system
// (glibc's malloc_trim). libtorch's CPU tensors come from malloc, which keeps
// freed pages; the trainer calls this after backward so that the optimizer's
// state and the next step's activations do not stack on the last step's.
func ReleaseMemory() error {
	var r C.int32_t
	return check("ReleaseMemory", C.nm_rt_release_memory(&r))
}

// NumThreads is libtorch's intra-op thread count.
func NumThreads() int {
	var n C.int32_t
	if check("NumThreads", C.nm_rt_num_threads(&n)) != nil {
		return 0
	}
	return int(n)
}

// LiveTensors is the number of tensor handles not yet closed, process-wide.
func LiveTensors() int64 {
	var n C.int64_t
	if check("LiveTensors", C.nm_rt_live_tensors(&n)) != nil {
		return -1
	}
	return int64(n)
}

// Version is the libtorch version libnashmd was compiled against ("1.13.0").
func Version() string {
	var s *C.char
	if check("Version", C.nm_rt_version(&s)) != nil {
		return ""
	}
	return C.GoString(s)
}

var cudaOnce = sync.OnceValues(func() (bool, int) {
	var ok, n C.int32_t
	if check("CUDAAvailable", C.nm_rt_cuda_available(&ok)) != nil || ok == 0 {
		return false, 0
	}
	if check("CUDADeviceCount", C.nm_rt_cuda_device_count(&n)) != nil {
		return false, 0
	}
	return true, int(n)
})

// CUDAKernels reports whether libnashmd was built with nashmd's own CUDA
// kernels (make cuda). Tensors on a GPU then go through them; a build
// without them still runs on a GPU through plain libtorch ops.
func CUDAKernels() bool {
	var ok C.int32_t
	if check("CUDAKernels", C.nm_rt_cuda_kernels(&ok)) != nil {
		return false
	}
	return ok != 0
}

// ParseDevice parses "cpu", "cuda" or "cuda:N". A CUDA device is an error
// wrapping ErrNoCUDA when libnashmd has no CUDA or sees no GPU.
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "cpu":
		return CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		d := Device{Type: DeviceCUDA, Index: -1}
		if s != "cuda" {
			n, err := strconv.Atoi(s[len("cuda:"):])
			if err != nil || n < 0 {
				return CPU, argError("ParseDevice", fmt.Sprintf("device %q: want cpu, cuda or cuda:N", s))
			}
			d.Index = n
		}
		if err := checkDevice("ParseDevice", d); err != nil {
			return CPU, err
		}
		if d.Index >= CUDADeviceCount() {
			return CPU, &Error{Op: "ParseDevice", Code: CodeDevice, Msg: fmt.Sprintf("device %q: only %d GPU(s) visible", s, CUDADeviceCount()), cause: ErrNoCUDA}
		}
		return d, nil
	}
	return CPU, argError("ParseDevice", fmt.Sprintf("device %q: want cpu, cuda or cuda:N", s))
}

// CUDAAvailable reports whether libnashmd has CUDA support and sees a GPU.
func CUDAAvailable() bool { ok, _ := cudaOnce(); return ok }

// CUDADeviceCount is the number of visible GPUs (0 without CUDA).
func CUDADeviceCount() int { _, n := cudaOnce(); return n }

// NoGrad runs f with gradient recording off on the calling goroutine, and
// restores the previous mode afterwards. libtorch keeps grad mode per OS
// thread, so NoGrad locks the goroutine to its thread while f runs;
// goroutines that f starts are not covered.
func NoGrad(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var prev C.int32_t
	if err := check("NoGrad", C.nm_rt_set_grad_enabled(0, &prev)); err != nil {
		return err
	}
	defer func() { C.nm_err_free(C.nm_rt_set_grad_enabled(prev, nil)) }()
	return f()
}

// GradEnabled reports whether gradient recording is on for the calling OS
// thread. It is only meaningful inside NoGrad or on a locked thread.
func GradEnabled() bool {
	var on C.int32_t
	if check("GradEnabled", C.nm_rt_grad_enabled(&on)) != nil {
		return false
	}
	return on != 0
}

// ---- generators ---------------------------------------------------------------

// Generator is a seeded random generator on one device, safe for concurrent
// use. Close frees it.
type Generator struct {
	h *C.nm_generator
}

// NewGenerator returns a generator seeded with seed on device d.
func NewGenerator(seed uint64, d Device) (*Generator, error) {
	if err := checkDevice("NewGenerator", d); err != nil {
		return nil, err
	}
	var h *C.nm_generator
	if err := check("NewGenerator", C.nm_gen_new(C.uint64_t(seed), d.c(), &h)); err != nil {
		return nil, err
	}
	return &Generator{h: h}, nil
}

// Close frees the generator. Idempotent and nil-safe.
func (g *Generator) Close() error {
	if g == nil || g.h == nil {
		return nil
	}
	err := check("Generator.Close", C.nm_gen_free(g.h))
	g.h = nil
	return err
}

// State returns the generator's full state as bytes (for checkpoints).
func (g *Generator) State() ([]byte, error) {
	var t *C.nm_tensor
	if err := check("Generator.State", C.nm_gen_get_state(g.h, &t)); err != nil {
		return nil, err
	}
	x := &Tensor{h: t}
	defer x.Close()
	return x.Bytes()
}

// SetState restores a state from State.
func (g *Generator) SetState(state []byte) error {
	s := NewScope()
	defer s.Close()
	t := s.FromBytes(state, Uint8, CPU, int64(len(state)))
	if err := s.Err(); err != nil {
		return err
	}
	return check("Generator.SetState", C.nm_gen_set_state(g.h, t.h))
}

func (g *Generator) c() *C.nm_generator {
	if g == nil {
		return nil
	}
	return g.h
}

// shapePtr returns a C view of shape for the duration of a call.
func shapePtr(shape []int64) (*C.int64_t, C.int32_t) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0])), C.int32_t(len(shape))
}
