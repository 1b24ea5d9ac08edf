// Package safetensors reads and writes Hugging Face safetensors files (pure Go).
//
// A safetensors file is an 8-byte little-endian unsigned header length N,
// then N bytes of a UTF-8 JSON object describing the tensors, then the data
// buffer. The JSON object maps each tensor name to
//
//	{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//
// where the offsets are relative to the start of the data buffer, plus an
// optional "__metadata__" object of string to string.
//
// Reading: [Open] memory-maps a file, [Parse] reads from a byte slice held in
// memory, and [OpenCheckpoint] opens a model directory that holds one file or
// several shards listed by model.safetensors.index.json. The parser validates
// the header the way the reference Rust implementation does (known dtypes,
// exact byte counts, tensors that tile the data buffer with no overlap, hole
// or trailing bytes) and, additionally, rejects duplicate names and unknown
// keys. Hostile input yields an error, never a panic, and no allocation larger
// than a small multiple of the header (which is capped at 100 MiB).
//
// Writing: [Write] and [WriteFile] produce files in the layout the official
// writer uses: compact JSON, "__metadata__" first, tensors in data order, the
// header padded with spaces so that the data buffer starts at a multiple of 8.
// [WriteStream] and [WriteFileStream] write the same bytes from [Source]s,
// whose data is produced one tensor at a time while the file is written.
package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// DType is an element type, spelled as in the file's "dtype" field.
type DType string

// The element types defined by the safetensors format.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U8     DType = "U8"
	BOOL   DType = "BOOL"
	U16    DType = "U16"
	U32    DType = "U32"
	U64    DType = "U64"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

// Size returns the number of bytes per element, or 0 if d is not one of the
// DType constants of this package.
func (d DType) Size() int {
	switch d {
	case F64, I64, U64:
		return 8
	case F32, I32, U32:
		return 4
	case F16, BF16, I16, U16:
		return 2
	case I8, U8, BOOL, F8E4M3, F8E5M2:
		return 1
	}
	return 0
}

// Tensor is one named tensor.
//
// Data holds the elements in row-major (C) order, each in little-endian byte
// order. A Tensor returned by [File.Tensor] or [Checkpoint.Tensor] aliases the
// file's memory: Data is read-only (writing to a memory-mapped file's Data
// faults), and it is valid only until the File or Checkpoint is closed; copy
// it to keep it longer. Shape is a fresh copy owned by the caller.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Numel returns the number of elements: the product of Shape, which is 1 for
// a 0-d (scalar) tensor with an empty Shape. It returns -1 if a dimension is
// negative or the product overflows int64; tensors returned by this package
// never do.
func (t Tensor) Numel() int64 {
	n, ok := numel(t.Shape)
	if !ok {
		return -1
	}
	return n
}

// numel is the product of shape with overflow checks. ok is false if a
// dimension is negative or the product does not fit in an int64.
func numel(shape []int64) (n int64, ok bool) {
	zero := false
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			zero = true
		}
	}
	if zero {
		return 0, true
	}
	n = 1
	for _, d := range shape {
		if n > math.MaxInt64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// byteSize is numel(shape)*size with overflow checks.
func byteSize(shape []int64, size int) (int64, bool) {
	n, ok := numel(shape)
	if !ok || size <= 0 {
		return 0, false
	}
	if n > math.MaxInt64/int64(size) {
		return 0, false
	}
	return n * int64(size), true
}

// maxHeaderLen is the largest header this package reads or writes (100 MiB).
const maxHeaderLen = 100 << 20

// metadataKey is the reserved header key for the string-to-string metadata.
const metadataKey = "__metadata__"

// member is one key/value pair of a JSON object, in document order.
type member struct {
	key string
	val json.RawMessage
}

// decodeObject decodes the JSON object at the start of raw into its members,
// in order, rejecting duplicate keys (which plain map decoding would silently
// drop). It returns the offset just past the closing brace; the caller
// decides what may follow.
func decodeObject(raw []byte) ([]member, int64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, fmt.Errorf("invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, 0, fmt.Errorf("not a JSON object")
	}
	var out []member
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, fmt.Errorf("invalid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, 0, fmt.Errorf("invalid JSON: object key is not a string")
		}
		if seen[key] {
			return nil, 0, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, 0, fmt.Errorf("invalid JSON: value of key %q: %v", key, err)
		}
		out = append(out, member{key, v})
	}
	tok, err = dec.Token()
	if err != nil {
		return nil, 0, fmt.Errorf("invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '}' {
		return nil, 0, fmt.Errorf("invalid JSON: object not closed")
	}
	return out, dec.InputOffset(), nil
}

// jsonString decodes raw, which must be a JSON string (not null, not a number).
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonUintArray decodes raw, which must be a JSON array of non-negative
// integers that fit in an int64. what names the array in error messages.
func jsonUintArray(raw json.RawMessage, what string) ([]int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("%s is %s, not an array", what, abbrev(raw))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		e = bytes.TrimSpace(e)
		s := string(e)
		if len(e) > 0 && e[0] == '-' {
			return nil, fmt.Errorf("%s[%d] = %s is negative", what, i, abbrev(e))
		}
		digits := len(e) > 0
		for _, c := range e {
			if c < '0' || c > '9' {
				digits = false
				break
			}
		}
		if !digits {
			return nil, fmt.Errorf("%s[%d] = %s is not a non-negative integer", what, i, abbrev(e))
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s[%d] = %s overflows int64", what, i, abbrev(e))
		}
		out[i] = v
	}
	return out, nil
}

// abbrev quotes a JSON fragment for an error message, cut to a sane length.
func abbrev(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
