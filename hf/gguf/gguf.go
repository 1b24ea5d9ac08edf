// Package gguf reads GGUF model files (llama.cpp's format), dequantises their
// tensors to float32 and converts Llama and Qwen2 models to Hugging Face
// directories (pure Go).
//
// A GGUF file (versions 2 and 3, little-endian) is
//
//	magic "GGUF" | version u32 | tensor count u64 | metadata count u64
//	metadata:     key (u64 length + UTF-8) | value type u32 | value
//	tensor infos: name | n_dims u32 | ne[n_dims] u64 | ggml type u32 | offset u64
//	padding to general.alignment (default 32), then the data section.
//
// A tensor's dims ne are listed innermost first: ne[0] is the length of a
// row. The row-major (PyTorch, Hugging Face) shape is ne reversed; see
// [TensorInfo.Shape]. Tensor offsets are relative to the data section.
//
// Reading: [Open] memory-maps a file and [Parse] reads a byte slice. Every
// count, length, offset and size is checked against the file length before it
// is used: a hostile file yields an error, never a panic, and no allocation
// larger than a small multiple of the file. [File.Dequantize] and
// [Dequantize] decode F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
// Q3_K, Q4_K, Q5_K and Q6_K with ggml's block layouts and arithmetic, so the
// values are bit-identical to ggml's and gguf-py's.
//
// Converting: [Convert] writes config.json, generation_config.json,
// tokenizer.json, tokenizer_config.json and float32 safetensors weights,
// undoing the row permutation llama.cpp applies to Llama q/k projections.
package gguf

import (
	"errors"
	"fmt"
	"strconv"
)

// ValueType is the type of a metadata value, numbered as in the GGUF spec.
type ValueType uint32

// The metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32",
	"float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "ValueType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// scalarSize is the encoded size of a fixed-size value type, 0 for string,
// array and unknown types.
func (t ValueType) scalarSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// KV is one metadata key/value pair.
//
// Value holds, by Type: uint8, int8, uint16, int16, uint32, int32, float32,
// bool, string, uint64, int64, float64, or [Array].
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// Array is a metadata array.
//
// Values is a slice of the element type: []uint8, []int8, []uint16, []int16,
// []uint32, []int32, []float32, []bool, []string, []uint64, []int64,
// []float64, or []Array for an array of arrays (whose elements each carry
// their own element type).
type Array struct {
	Elem   ValueType
	Values any
}

// Len returns the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// TensorType is a tensor element type (ggml_type), numbered as in ggml.
type TensorType uint32

// The ggml tensor types. Those without a block layout in this package's table
// (removed or unknown types) make [Parse] fail; the others parse, and
// [Dequantize] supports the subset listed in the package documentation.
const (
	F32     TensorType = 0
	F16     TensorType = 1
	Q4_0    TensorType = 2
	Q4_1    TensorType = 3
	Q5_0    TensorType = 6
	Q5_1    TensorType = 7
	Q8_0    TensorType = 8
	Q8_1    TensorType = 9
	Q2_K    TensorType = 10
	Q3_K    TensorType = 11
	Q4_K    TensorType = 12
	Q5_K    TensorType = 13
	Q6_K    TensorType = 14
	Q8_K    TensorType = 15
	IQ2_XXS TensorType = 16
	IQ2_XS  TensorType = 17
	IQ3_XXS TensorType = 18
	IQ1_S   TensorType = 19
	IQ4_NL  TensorType = 20
	IQ3_S   TensorType = 21
	IQ2_S   TensorType = 22
	IQ4_XS  TensorType = 23
	I8      TensorType = 24
	I16     TensorType = 25
	I32     TensorType = 26
	I64     TensorType = 27
	F64     TensorType = 28
	IQ1_M   TensorType = 29
	BF16    TensorType = 30
	TQ1_0   TensorType = 34
	TQ2_0   TensorType = 35
	MXFP4   TensorType = 39
)

// qk is QK_K, the super-block size of the K-quants.
const qk = 256

// typeInfo is a ggml type's name, elements per block and bytes per block
// (gguf-py's GGML_QUANT_SIZES, ggml's type_traits).
var typeInfo = map[TensorType]struct {
	name       string
	blockSize  int64
	blockBytes int64
}{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 2 + 16},
	Q4_1:    {"Q4_1", 32, 2 + 2 + 16},
	Q5_0:    {"Q5_0", 32, 2 + 4 + 16},
	Q5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0:    {"Q8_0", 32, 2 + 32},
	Q8_1:    {"Q8_1", 32, 4 + 4 + 32},
	Q2_K:    {"Q2_K", qk, 2 + 2 + qk/16 + qk/4},
	Q3_K:    {"Q3_K", qk, 2 + qk/4 + qk/8 + 12},
	Q4_K:    {"Q4_K", qk, 2 + 2 + qk/2 + 12},
	Q5_K:    {"Q5_K", qk, 2 + 2 + qk/2 + qk/8 + 12},
	Q6_K:    {"Q6_K", qk, 2 + qk/2 + qk/4 + qk/16},
	Q8_K:    {"Q8_K", qk, 4 + qk + qk/8},
	IQ2_XXS: {"IQ2_XXS", qk, 2 + qk/4},
	IQ2_XS:  {"IQ2_XS", qk, 2 + qk/4 + qk/32},
	IQ3_XXS: {"IQ3_XXS", qk, 2 + qk/4 + qk/8},
	IQ1_S:   {"IQ1_S", qk, 2 + qk/8 + qk/16},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	IQ3_S:   {"IQ3_S", qk, 2 + qk/4 + qk/8 + qk/32 + 4},
	IQ2_S:   {"IQ2_S", qk, 2 + qk/4 + qk/16},
	IQ4_XS:  {"IQ4_XS", qk, 2 + 2 + qk/2 + qk/64},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	IQ1_M:   {"IQ1_M", qk, qk/8 + qk/16 + qk/32},
	BF16:    {"BF16", 1, 2},
	TQ1_0:   {"TQ1_0", qk, 2 + 4*13},
	TQ2_0:   {"TQ2_0", qk, 2 + 64},
	MXFP4:   {"MXFP4", 32, 1 + 16},
}

func (t TensorType) String() string {
	if ti, ok := typeInfo[t]; ok {
		return ti.name
	}
	return "TensorType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// BlockSize returns the number of elements per block (1 for plain types), or
// 0 if t has no known layout.
func (t TensorType) BlockSize() int64 { return typeInfo[t].blockSize }

// BlockBytes returns the number of bytes per block, or 0 if t has no known
// layout.
func (t TensorType) BlockBytes() int64 { return typeInfo[t].blockBytes }

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	Name string
	Type TensorType
	// Dims is ggml's ne, innermost first: Dims[0] is the row length. It has
	// 1 to 4 entries.
	Dims []int64
	// Offset is the byte offset of the data relative to the data section
	// (File.DataOffset); Size is its length in bytes.
	Offset, Size int64
}

// Shape returns the row-major (PyTorch, Hugging Face) shape: Dims reversed,
// as a fresh slice.
func (t TensorInfo) Shape() []int64 {
	s := make([]int64, len(t.Dims))
	for i, d := range t.Dims {
		s[len(s)-1-i] = d
	}
	return s
}

// Numel returns the number of elements, the product of Dims.
func (t TensorInfo) Numel() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d // Parse checked that the product fits.
	}
	return n
}

// ErrBadMagic reports a file that does not start with "GGUF".
var ErrBadMagic = errors.New("gguf: not a GGUF file (bad magic)")

// FormatError reports a malformed GGUF file: what is wrong and the byte
// offset at which it was found.
type FormatError struct {
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: malformed file at byte %d: %s", e.Offset, e.Msg)
}

// UnsupportedTypeError reports a tensor whose element type this package
// cannot dequantise.
type UnsupportedTypeError struct {
	Tensor string // empty when not known (Dequantize)
	Type   TensorType
}

func (e *UnsupportedTypeError) Error() string {
	if e.Tensor == "" {
		return fmt.Sprintf("gguf: dequantising %s is not supported", e.Type)
	}
	return fmt.Sprintf("gguf: tensor %q: dequantising %s is not supported", e.Tensor, e.Type)
}
