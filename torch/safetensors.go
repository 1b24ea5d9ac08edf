package torch

import (
	"fmt"

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
