package torch

import (
	"fmt"
	"io"

	"github.com/nashmd/nashmd/hf/safetensors"
)

// dtypes between safetensors' names and ours.
var (
	stToDType = map[safetensors.DType]DType{
		safetensors.F32: Float32, safetensors.BF16: BFloat16, safetensors.F16: Float16,
		safetensors.I64: Int64, safetensors.I32: Int32, safetensors.BOOL: Bool,
		safetensors.U8: Uint8, safetensors.F64: Float64,
	}
	dtypeToST = map[DType]safetensors.DType{
		Float32: safetensors.F32, BFloat16: safetensors.BF16, Float16: safetensors.F16,
		Int64: safetensors.I64, Int32: safetensors.I32, Bool: safetensors.BOOL,
		Uint8: safetensors.U8, Float64: safetensors.F64,
	}
)

// FromSafetensors copies a safetensors tensor into a new tensor on device d,
// with a single copy from t.Data (which may be a read-only file mapping)
// straight into libtorch memory. t.Data is not retained.
func (s *Scope) FromSafetensors(t safetensors.Tensor, d Device) *Tensor {
	if s.err != nil {
		return nil
	}
	dt, ok := stToDType[t.DType]
	if !ok {
		return s.fail(&Error{Op: "FromSafetensors", Code: CodeDType, Msg: fmt.Sprintf("tensor %q has dtype %s, which nashmd does not load", t.Name, t.DType)})
	}
	out := s.FromBytes(t.Data, dt, d, t.Shape...)
	if err, ok := s.err.(*Error); ok && out == nil && err.Op == "FromBytes" {
		err.Op = "FromSafetensors"
		err.Msg = fmt.Sprintf("tensor %q: %s", t.Name, err.Msg)
	}
	return out
}

// Safetensor copies t to host memory as a safetensors tensor named name,
// ready for safetensors.Write.
func (t *Tensor) Safetensor(name string) (safetensors.Tensor, error) {
	st, ok := dtypeToST[t.DType()]
	if !ok {
		return safetensors.Tensor{}, &Error{Op: "Safetensor", Code: CodeDType, Msg: fmt.Sprintf("tensor %q has dtype %v, which safetensors cannot hold", name, t.DType())}
	}
	data, err := t.Bytes()
	if err != nil {
		return safetensors.Tensor{}, err
	}
	return safetensors.Tensor{Name: name, DType: st, Shape: t.Shape(), Data: data}, nil
}

// HostBuffer stages tensors in host memory, one at a time, for
// safetensors.WriteStream and WriteFileStream, so that saving many tensors
// holds about one of them in Go memory rather than all. The zero value is
// ready to use. Its memory grows to the largest tensor filled so far and is
// reused; it is freed by the garbage collector with the HostBuffer.
type HostBuffer struct {
	b []byte
}

// Source returns a safetensors source named name for t: its dtype and shape
// are read now, and its Fill copies t's elements into the buffer and writes
// them. t is not closed; it must stay open, with the same dtype and shape,
// until the Fill has run. The sources of one HostBuffer share its memory, so
// they must be filled one at a time (WriteStream fills them in order).
func (h *HostBuffer) Source(name string, t *Tensor) (safetensors.Source, error) {
	if _, err := t.handle("HostBuffer.Source"); err != nil {
		return safetensors.Source{}, err
	}
	dt := t.DType()
	st, ok := dtypeToST[dt]
	if !ok {
		return safetensors.Source{}, &Error{Op: "HostBuffer.Source", Code: CodeDType, Msg: fmt.Sprintf("tensor %q has dtype %v, which safetensors cannot hold", name, dt)}
	}
	n := t.Numel() * int64(dt.Size())
	fill := func(w io.Writer) error {
		if int64(cap(h.b)) < n {
			h.b = nil // let the old buffer go before the new one is made
			h.b = make([]byte, n)
		}
		buf := h.b[:n]
		if err := t.bytesInto("HostBuffer.Source", buf); err != nil {
			return err
		}
		_, err := w.Write(buf)
		return err
	}
	return safetensors.Source{Name: name, DType: st, Shape: t.Shape(), Fill: fill}, nil
}
