package torch

/*
#include "nashmd.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Code classifies an Error. The values match nm_error_code in nashmd.h.
type Code int

const (
	CodeTorch    Code = C.NM_ERR_TORCH    // raised by libtorch, fits no other code
	CodeShape    Code = C.NM_ERR_SHAPE    // sizes, dimensions or indices do not fit
	CodeDType    Code = C.NM_ERR_DTYPE    // wrong or unsupported element type
	CodeDevice   Code = C.NM_ERR_DEVICE   // wrong device, or the device is unavailable
	CodeIO       Code = C.NM_ERR_IO       // file or stream failure
	CodeOOM      Code = C.NM_ERR_OOM      // out of memory
	CodeInternal Code = C.NM_ERR_INTERNAL // a bug in nashmd
	CodeArg      Code = C.NM_ERR_ARG      // invalid argument: nil or closed tensor, bad enum value
	CodeDist     Code = C.NM_ERR_DIST     // a collective failed: a peer process is lost or the timeout passed
)

var codeNames = map[Code]string{
	CodeTorch: "torch", CodeShape: "shape", CodeDType: "dtype", CodeDevice: "device",
	CodeIO: "io", CodeOOM: "oom", CodeInternal: "internal", CodeArg: "arg", CodeDist: "dist",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Sentinels for errors.Is. Every *Error unwraps to the sentinel of its Code;
// ErrNoCUDA is returned when a CUDA device is asked for and none is usable.
var (
	ErrTorch    = errors.New("torch error")
	ErrShape    = errors.New("shape error")
	ErrDType    = errors.New("dtype error")
	ErrDevice   = errors.New("device error")
	ErrIO       = errors.New("io error")
	ErrOOM      = errors.New("out of memory")
	ErrInternal = errors.New("internal error")
	ErrArg      = errors.New("invalid argument")
	ErrDist     = errors.New("collective failed")
	ErrNoCUDA   = errors.New("CUDA is not available")
)

var codeSentinels = map[Code]error{
	CodeTorch: ErrTorch, CodeShape: ErrShape, CodeDType: ErrDType, CodeDevice: ErrDevice,
	CodeIO: ErrIO, CodeOOM: ErrOOM, CodeInternal: ErrInternal, CodeArg: ErrArg, CodeDist: ErrDist,
}

// Error is a failure of one call into libnashmd. Op names the Go operation
// ("Matmul", "FromFloat32"), Msg is the message of the exception caught in
// C++ (for libtorch errors, libtorch's own text without its backtrace).
type Error struct {
	Op   string
	Code Code
	Msg  string
	// cause is an extra sentinel (ErrNoCUDA) matched by errors.Is.
	cause error
}

func (e *Error) Error() string {
	return "torch: " + e.Op + ": " + e.Msg
}

// Unwrap returns the sentinel for e.Code (and ErrNoCUDA where it applies).
func (e *Error) Unwrap() []error {
	errs := []error{codeSentinels[e.Code]}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// check turns an nm_error* into an *Error, freeing the C error. nil in, nil out.
func check(op string, e *C.nm_error) error {
	if e == nil {
		return nil
	}
	err := &Error{Op: op, Code: Code(C.nm_err_code(e)), Msg: C.GoString(C.nm_err_message(e))}
	C.nm_err_free(e)
	return err
}

// argError is an Error raised on the Go side before calling C.
func argError(op, msg string) *Error {
	return &Error{Op: op, Code: CodeArg, Msg: msg}
}
