package gguf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
)

// The expectations come from testdata/gen_golden.py: a GGUF written byte by
// byte from the spec and re-read by gguf-py's GGUFReader, and gguf-py's
// dequantisation (gguf.quants), never from the code under test.

const (
	synthPath   = "testdata/synthetic.gguf"
	synthJSON   = "testdata/synthetic.json"
	synthValues = "testdata/synthetic_values.safetensors"
)

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type goldenTensorInfo struct {
	Name       string  `json:"name"`
	Type       uint32  `json:"type"`
	TypeName   string  `json:"type_name"`
	Dims       []int64 `json:"dims"`
	DataOffset int64   `json:"data_offset"`
	NBytes     int64   `json:"n_bytes"`
}

type synthGolden struct {
	Version    uint32 `json:"version"`
	Alignment  int64  `json:"alignment"`
	DataOffset int64  `json:"data_offset"`
	FileSize   int64  `json:"file_size"`
	Metadata   []struct {
		Key   string `json:"key"`
		Type  uint32 `json:"type"`
		Value any    `json:"value"`
	} `json:"metadata"`
	Tensors []goldenTensorInfo `json:"tensors"`
}

// sameValue checks that our decoded metadata value v (of type t) equals the
// golden JSON value g (decoded with UseNumber; arrays as {"type", "values"}).
func sameValue(t ValueType, v any, g any) error {
	if t == TypeArray {
		a, ok := v.(Array)
		gm, ok2 := g.(map[string]any)
		if !ok || !ok2 {
			return fmt.Errorf("array: got %T, golden %T", v, g)
		}
		et, _ := strconv.Atoi(string(gm["type"].(json.Number)))
		gv := gm["values"].([]any)
		if a.Len() != len(gv) {
			return fmt.Errorf("array length %d, golden %d", a.Len(), len(gv))
		}
		// An empty array's element type is still recorded in the file.
		if a.Elem != ValueType(et) {
			return fmt.Errorf("element type %s, golden %d", a.Elem, et)
		}
		for i := range gv {
			if err := sameValue(a.Elem, index(a, i), gv[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	switch x := v.(type) {
	case string:
		if g != x {
			return fmt.Errorf("%q, golden %q", x, g)
		}
	case bool:
		if g != x {
			return fmt.Errorf("%v, golden %v", x, g)
		}
	case float32, float64:
		f := reflectFloat(x)
		gf, err := g.(json.Number).Float64()
		if err != nil || f != gf || math.Signbit(f) != math.Signbit(gf) {
			return fmt.Errorf("%v, golden %v", f, g)
		}
	default:
		if s := fmt.Sprint(x); s != string(g.(json.Number)) {
			return fmt.Errorf("%s (%T), golden %s", s, x, g)
		}
	}
	return nil
}

func reflectFloat(x any) float64 {
	if f, ok := x.(float32); ok {
		return float64(f)
	}
	return x.(float64)
}

// index returns element i of an array as an interface value.
func index(a Array, i int) any {
	switch v := a.Values.(type) {
	case []uint8:
		return v[i]
	case []int8:
		return v[i]
	case []uint16:
		return v[i]
	case []int16:
		return v[i]
	case []uint32:
		return v[i]
	case []int32:
		return v[i]
	case []float32:
		return v[i]
	case []bool:
		return v[i]
	case []string:
		return v[i]
	case []uint64:
		return v[i]
	case []int64:
		return v[i]
	case []float64:
		return v[i]
	case []Array:
		return v[i]
	}
	return nil
}

// TestSyntheticHeader checks every metadata value type (scalars, arrays of
// each, an empty and nested arrays), a non-default alignment, tensor infos and
// the data offset against gguf-py's reading of the same file.
func TestSyntheticHeader(t *testing.T) {
	var g synthGolden
	readJSON(t, synthJSON, &g)
	f, err := Open(synthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != g.Version || f.Alignment != g.Alignment || f.DataOffset != g.DataOffset {
		t.Errorf("version/alignment/data offset = %d/%d/%d, golden %d/%d/%d",
			f.Version, f.Alignment, f.DataOffset, g.Version, g.Alignment, g.DataOffset)
	}
	if len(f.KV) != len(g.Metadata) {
		t.Fatalf("%d metadata pairs, golden %d", len(f.KV), len(g.Metadata))
	}
	for i, gm := range g.Metadata {
		kv := f.KV[i]
		if kv.Key != gm.Key || uint32(kv.Type) != gm.Type {
			t.Errorf("metadata %d: %q %s, golden %q type %d", i, kv.Key, kv.Type, gm.Key, gm.Type)
			continue
		}
		if err := sameValue(kv.Type, kv.Value, gm.Value); err != nil {
			t.Errorf("%s: %v", kv.Key, err)
		}
	}
	if len(f.Tensors) != len(g.Tensors) {
		t.Fatalf("%d tensors, golden %d", len(f.Tensors), len(g.Tensors))
	}
	for i, gt := range g.Tensors {
		ti := f.Tensors[i]
		if ti.Name != gt.Name || uint32(ti.Type) != gt.Type || ti.Type.String() != gt.TypeName ||
			fmt.Sprint(ti.Dims) != fmt.Sprint(gt.Dims) || f.DataOffset+ti.Offset != gt.DataOffset || ti.Size != gt.NBytes {
			t.Errorf("tensor %d: %+v at %d, golden %+v", i, ti, f.DataOffset+ti.Offset, gt)
		}
	}
	// Typed getters.
	if s, ok := f.Str("test.string"); !ok || s != "h\u00e9llo \u2713 <b>&" {
		t.Errorf("Str = %q, %v", s, ok)
	}
	if u, ok := f.Uint("test.uint16"); !ok || u != 65000 {
		t.Errorf("Uint(uint16) = %d, %v", u, ok)
	}
	if _, ok := f.Uint("test.int8"); ok {
		t.Errorf("Uint of a negative int8 reported ok")
	}
	if v, ok := f.Float("test.float32"); !ok || v != float64(float32(1e-5)) {
		t.Errorf("Float = %v, %v", v, ok)
	}
	if s, ok := f.Strs("test.arr.string"); !ok || len(s) != 3 || s[2] != "\u00fc b" {
		t.Errorf("Strs = %q, %v", s, ok)
	}
	if _, ok := f.Str("test.uint8"); ok {
		t.Errorf("Str of a uint8 reported ok")
	}
}

// TestDequantizeSynthetic decodes random blocks of every supported type and
// compares bit for bit with gguf-py's dequantisation.
func TestDequantizeSynthetic(t *testing.T) {
	f, err := Open(synthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := safetensors.Open(synthValues)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	seen := map[TensorType]bool{}
	for _, ti := range f.Tensors {
		if !CanDequantize(ti.Type) {
			continue
		}
		seen[ti.Type] = true
		got, err := f.Dequantize(ti.Name)
		if err != nil {
			t.Errorf("%s: %v", ti.Name, err)
			continue
		}
		wt, err := want.Tensor(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(wt.Shape) != fmt.Sprint(ti.Shape()) {
			t.Errorf("%s: Shape() %v, golden %v", ti.Name, ti.Shape(), wt.Shape)
		}
		w := f32s(wt.Data)
		if len(w) != len(got) {
			t.Fatalf("%s: %d values, golden %d", ti.Name, len(got), len(w))
		}
		bad := 0
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(w[i]) {
				if bad < 3 {
					t.Errorf("%s (%s)[%d] = %v, gguf-py %v", ti.Name, ti.Type, i, got[i], w[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d values differ", ti.Name, bad, len(got))
		}
	}
	for _, typ := range []TensorType{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K} {
		if !seen[typ] {
			t.Errorf("no %s tensor in %s", typ, synthPath)
		}
	}
}

// TestDequantizeUnsupported: a type without a decoder is an error naming the
// tensor and the type.
func TestDequantizeUnsupported(t *testing.T) {
	f, err := Open(synthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = f.Dequantize("iq4_nl.mat")
	var ute *UnsupportedTypeError
	if !errors.As(err, &ute) || ute.Tensor != "iq4_nl.mat" || ute.Type != IQ4_NL {
		t.Fatalf("err = %v, want UnsupportedTypeError for iq4_nl.mat IQ4_NL", err)
	}
	if msg := err.Error(); !bytes.Contains([]byte(msg), []byte("iq4_nl.mat")) || !bytes.Contains([]byte(msg), []byte("IQ4_NL")) {
		t.Errorf("message %q does not name tensor and type", msg)
	}
	if _, err := Dequantize(Q4_0, make([]byte, 17), 32); err == nil {
		t.Errorf("Dequantize accepted 17 bytes for one Q4_0 block")
	}
	if _, err := Dequantize(Q4_0, make([]byte, 18), 31); err == nil {
		t.Errorf("Dequantize accepted 31 elements of Q4_0")
	}
}

// TestHalf checks the binary16 decoder on the values numpy gives for
// special encodings (exact powers of two, subnormals, infinities).
func TestHalf(t *testing.T) {
	for _, c := range []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 1.0 / (1 << 24)},
		{0x03ff, 1023.0 / (1 << 24)}, {0x0400, 1.0 / (1 << 14)}, {0x8001, -1.0 / (1 << 24)},
		{0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))}, {0x3555, 0.333251953125},
	} {
		got := half([]byte{byte(c.bits), byte(c.bits >> 8)})
		if got != c.want {
			t.Errorf("half(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
	if got := half([]byte{0x00, 0x80}); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("half(0x8000) = %v, want -0", got)
	}
	if got := half([]byte{0x01, 0x7e}); !math.IsNaN(float64(got)) {
		t.Errorf("half(0x7e01) = %v, want NaN", got)
	}
}

// TestVersion2 reads the synthetic file relabelled as version 2 (the layouts
// are the same) and refuses other versions.
func TestVersion2(t *testing.T) {
	raw, err := os.ReadFile(synthPath)
	if err != nil {
		t.Fatal(err)
	}
	raw[4] = 2
	f, err := Parse(raw)
	if err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if f.Version != 2 || len(f.Tensors) == 0 {
		t.Errorf("version %d, %d tensors", f.Version, len(f.Tensors))
	}
	for _, v := range []byte{1, 4} {
		raw[4] = v
		if _, err := Parse(raw); err == nil || !bytes.Contains([]byte(err.Error()), []byte("version")) {
			t.Errorf("version %d: err = %v", v, err)
		}
	}
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return out
}
