package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The expectations below come from testdata/gen_golden.py (Python, the
// official safetensors writer and torch), never from the code under test.

const (
	refPath    = "testdata/reference.safetensors"
	refValues  = "testdata/reference_values.json"
	shardDir   = "testdata/sharded"
	shardVals  = "testdata/sharded/values.json"
	shard1Name = "model-00001-of-00002.safetensors"
	shard2Name = "model-00002-of-00002.safetensors"
)

type goldenTensor struct {
	DType       string            `json:"dtype"`
	Shape       []int64           `json:"shape"`
	DataOffsets []int64           `json:"data_offsets"`
	Values      []json.RawMessage `json:"values"`
}

type goldenFile struct {
	File      string                  `json:"file"`
	SHA256    string                  `json:"sha256"`
	Size      int                     `json:"size"`
	HeaderLen int                     `json:"header_len"`
	Metadata  map[string]string       `json:"metadata"`
	Tensors   map[string]goldenTensor `json:"tensors"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadReference(t *testing.T) (goldenFile, []byte) {
	t.Helper()
	var g goldenFile
	readJSON(t, refValues, &g)
	raw, err := os.ReadFile(refPath)
	if err != nil {
		t.Fatal(err)
	}
	return g, raw
}

func loadShards(t *testing.T) map[string]goldenFile {
	t.Helper()
	var v struct {
		Shards map[string]goldenFile `json:"shards"`
	}
	readJSON(t, shardVals, &v)
	return v.Shards
}

// byDataOrder returns the tensor names of g in the order of their data in
// the data buffer, as Python read it from the header.
func byDataOrder(g goldenFile) []string {
	var names []string
	for n := range g.Tensors {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		oa, ob := g.Tensors[a].DataOffsets, g.Tensors[b].DataOffsets
		if oa[0] != ob[0] {
			return int(oa[0] - ob[0])
		}
		if oa[1] != ob[1] {
			return int(oa[1] - ob[1])
		}
		return strings.Compare(a, b)
	})
	return names
}

// halfToFloat64 converts IEEE 754 binary16 bits to a float64 (exactly).
func halfToFloat64(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var v float64
	switch exp {
	case 0: // zero or subnormal: frac * 2^-24
		v = math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			v = math.Inf(1)
		} else {
			v = math.NaN()
		}
	default: // (1024 + frac) * 2^(exp-15-10)
		v = math.Ldexp(1024+frac, exp-25)
	}
	if h&0x8000 != 0 {
		v = math.Copysign(v, -1)
	}
	return v
}

// bf16ToFloat64 converts bfloat16 bits (the upper half of a float32).
func bf16ToFloat64(h uint16) float64 {
	return float64(math.Float32frombits(uint32(h) << 16))
}

func TestHalfToFloat64(t *testing.T) {
	// Spot checks of the test's own converter against known encodings.
	for _, c := range []struct {
		bits uint16
		want float64
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, math.Ldexp(1, -24)},
		{0x0400, math.Ldexp(1, -14)}, {0x3555, 0.333251953125}, {0x0000, 0},
	} {
		if got := halfToFloat64(c.bits); got != c.want {
			t.Errorf("halfToFloat64(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
	if !math.Signbit(halfToFloat64(0x8000)) || !math.IsInf(halfToFloat64(0xfc00), -1) || !math.IsNaN(halfToFloat64(0x7e00)) {
		t.Error("halfToFloat64: -0, -inf or nan wrong")
	}
}

// checkValues decodes data as dtype (little-endian) in the test and compares
// every element with the Python-computed values.
func checkValues(t *testing.T, name string, dtype DType, data []byte, want []json.RawMessage) {
	t.Helper()
	size := map[DType]int{F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1}[dtype]
	if size == 0 {
		t.Fatalf("%s: test cannot decode dtype %s", name, dtype)
	}
	if len(data) != len(want)*size {
		t.Fatalf("%s: %d data bytes, want %d elements of %d bytes", name, len(data), len(want), size)
	}
	le := binary.LittleEndian
	for i, raw := range want {
		e := data[i*size : (i+1)*size]
		switch dtype {
		case F64, F32, F16, BF16:
			var got float64
			switch dtype {
			case F64:
				got = math.Float64frombits(le.Uint64(e))
			case F32:
				got = float64(math.Float32frombits(le.Uint32(e)))
			case F16:
				got = halfToFloat64(le.Uint16(e))
			case BF16:
				got = bf16ToFloat64(le.Uint16(e))
			}
			var exp float64
			var s string
			if json.Unmarshal(raw, &s) == nil {
				switch s {
				case "inf":
					exp = math.Inf(1)
				case "-inf":
					exp = math.Inf(-1)
				case "nan":
					exp = math.NaN()
				default:
					t.Fatalf("%s[%d]: bad golden value %s", name, i, raw)
				}
			} else {
				var err error
				if exp, err = strconv.ParseFloat(string(raw), 64); err != nil {
					t.Fatalf("%s[%d]: bad golden value %s", name, i, raw)
				}
			}
			if math.IsNaN(exp) {
				if !math.IsNaN(got) {
					t.Errorf("%s[%d] = %v, want NaN", name, i, got)
				}
			} else if math.Float64bits(got) != math.Float64bits(exp) {
				t.Errorf("%s[%d] = %v (bits %#x), want %v (bits %#x)", name, i, got, math.Float64bits(got), exp, math.Float64bits(exp))
			}
		case I64, I32, I16, I8:
			exp, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				t.Fatalf("%s[%d]: bad golden value %s", name, i, raw)
			}
			var got int64
			switch dtype {
			case I64:
				got = int64(le.Uint64(e))
			case I32:
				got = int64(int32(le.Uint32(e)))
			case I16:
				got = int64(int16(le.Uint16(e)))
			case I8:
				got = int64(int8(e[0]))
			}
			if got != exp {
				t.Errorf("%s[%d] = %d, want %d", name, i, got, exp)
			}
		case U8:
			exp, err := strconv.ParseUint(string(raw), 10, 8)
			if err != nil {
				t.Fatalf("%s[%d]: bad golden value %s", name, i, raw)
			}
			if uint64(e[0]) != exp {
				t.Errorf("%s[%d] = %d, want %d", name, i, e[0], exp)
			}
		case BOOL:
			var exp bool
			if err := json.Unmarshal(raw, &exp); err != nil {
				t.Fatalf("%s[%d]: bad golden value %s", name, i, raw)
			}
			if e[0] > 1 || (e[0] == 1) != exp {
				t.Errorf("%s[%d] = byte %d, want %v", name, i, e[0], exp)
			}
		}
	}
}

func sortedNames(m map[string]goldenTensor) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// checkAgainstGolden compares every tensor of f with g; buf (when not nil) is
// the file's bytes, to check that Data aliases the right range.
func checkAgainstGolden(t *testing.T, f *File, g goldenFile, buf []byte) {
	t.Helper()
	if got, want := f.Names(), sortedNames(g.Tensors); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, g.Metadata) {
		t.Errorf("Metadata() = %v, want %v", got, g.Metadata)
	}
	for name, gt := range g.Tensors {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if tn.Name != name || string(tn.DType) != gt.DType || !slices.Equal(tn.Shape, gt.Shape) {
			t.Errorf("%s: got name %q dtype %s shape %v, want dtype %s shape %v", name, tn.Name, tn.DType, tn.Shape, gt.DType, gt.Shape)
		}
		if tn.Shape == nil || len(tn.Shape) != len(gt.Shape) {
			t.Errorf("%s: shape %#v", name, tn.Shape)
		}
		if n := tn.Numel(); n != int64(len(gt.Values)) {
			t.Errorf("%s: Numel() = %d, want %d", name, n, len(gt.Values))
		}
		checkValues(t, name, tn.DType, tn.Data, gt.Values)
		if buf != nil {
			start := 8 + g.HeaderLen
			want := buf[start+int(gt.DataOffsets[0]) : start+int(gt.DataOffsets[1])]
			if !bytes.Equal(tn.Data, want) {
				t.Errorf("%s: Data differs from file bytes at data_offsets %v", name, gt.DataOffsets)
			}
		}
	}
}

func TestReferenceGoldenIntact(t *testing.T) {
	g, raw := loadReference(t)
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != g.SHA256 || len(raw) != g.Size {
		t.Fatalf("%s: sha256 %s size %d, golden says %s size %d: regenerate with gen_golden.py", refPath, got, len(raw), g.SHA256, g.Size)
	}
	// The golden file must exercise what the brief asks for.
	dtypes := map[string]bool{}
	var scalar, empty bool
	for _, gt := range g.Tensors {
		dtypes[gt.DType] = true
		scalar = scalar || len(gt.Shape) == 0
		empty = empty || (len(gt.Shape) == 1 && gt.Shape[0] == 0)
	}
	for _, d := range []string{"BF16", "F16", "F32", "F64", "I64", "I32", "U8", "BOOL"} {
		if !dtypes[d] {
			t.Errorf("golden file lacks dtype %s", d)
		}
	}
	if !scalar || !empty || g.Metadata["format"] != "pt" {
		t.Errorf("golden file lacks scalar (%v), empty tensor (%v) or metadata (%v)", scalar, empty, g.Metadata)
	}
}

func TestOpenReference(t *testing.T) {
	g, raw := loadReference(t)
	f, err := Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkAgainstGolden(t, f, g, raw)
}

func TestParseReference(t *testing.T) {
	g, raw := loadReference(t)
	f, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstGolden(t, f, g, raw)
	// Data aliases buf.
	tn, err := f.Tensor("f32.weight")
	if err != nil {
		t.Fatal(err)
	}
	off := 8 + g.HeaderLen + int(g.Tensors["f32.weight"].DataOffsets[0])
	if &tn.Data[0] != &raw[off] {
		t.Error("Tensor.Data from Parse does not alias the input buffer")
	}
	if cap(tn.Data) != len(tn.Data) {
		t.Errorf("Tensor.Data cap %d > len %d: append would overwrite the next tensor", cap(tn.Data), len(tn.Data))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestShardGoldenValues(t *testing.T) {
	for name, g := range loadShards(t) {
		raw, err := os.ReadFile(filepath.Join(shardDir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		if hex.EncodeToString(sum[:]) != g.SHA256 {
			t.Fatalf("%s: sha256 mismatch: regenerate with gen_golden.py", name)
		}
		f, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstGolden(t, f, g, raw)
	}
}

func TestTensorMissingAndClose(t *testing.T) {
	f, err := Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Tensor("no.such.tensor")
	if err == nil || !strings.Contains(err.Error(), `"no.such.tensor"`) || !strings.Contains(err.Error(), refPath) {
		t.Errorf("missing tensor error = %v; want it to name the tensor and %s", err, refPath)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := f.Tensor("f32.weight"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tensor after Close = %v, want a 'closed' error", err)
	}
	if len(f.Names()) == 0 {
		t.Error("Names after Close is empty")
	}
}

func TestNamesAndMetadataAreCopies(t *testing.T) {
	f, err := Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := f.Names()
	n[0] = "clobbered"
	if f.Names()[0] == "clobbered" {
		t.Error("Names returns the internal slice")
	}
	m := f.Metadata()
	m["format"] = "clobbered"
	if f.Metadata()["format"] != "pt" {
		t.Error("Metadata returns the internal map")
	}
	tn, _ := f.Tensor("f32.weight")
	tn.Shape[0] = 99
	tn2, _ := f.Tensor("f32.weight")
	if tn2.Shape[0] != 2 {
		t.Error("Tensor.Shape aliases internal state")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.safetensors")
	short := filepath.Join(dir, "short.safetensors")
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(short, []byte{1, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, append(le64(2), "{x"...), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.safetensors")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{missing, "no such file"},
		{short, "shorter than the 8-byte"},
		{empty, "shorter than the 8-byte"},
		{bad, "invalid JSON"},
		{dir, "not a regular file"},
	} {
		f, err := Open(c.path)
		if err == nil {
			f.Close()
			t.Errorf("Open(%s) succeeded", c.path)
			continue
		}
		if !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s) = %v; want the path and %q", c.path, err, c.want)
		}
	}
}

func TestZeroLengthDataBuffer(t *testing.T) {
	dir := t.TempDir()
	for name, tensors := range map[string][]Tensor{
		"none.safetensors":  nil,
		"empty.safetensors": {{Name: "e", DType: F32, Shape: []int64{0, 3}}, {Name: "f", DType: BF16, Shape: []int64{0}, Data: []byte{}}},
	} {
		p := filepath.Join(dir, name)
		if err := WriteFile(p, tensors, nil); err != nil {
			t.Fatal(err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatalf("Open(%s): %v", name, err)
		}
		if got := len(f.Names()); got != len(tensors) {
			t.Errorf("%s: %d names, want %d", name, got, len(tensors))
		}
		for _, want := range tensors {
			tn, err := f.Tensor(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(tn.Data) != 0 || tn.Numel() != 0 || !slices.Equal(tn.Shape, want.Shape) {
				t.Errorf("%s: %+v", want.Name, tn)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNumel(t *testing.T) {
	for _, c := range []struct {
		shape []int64
		want  int64
	}{
		{nil, 1}, {[]int64{}, 1}, {[]int64{0}, 0}, {[]int64{2, 3, 4}, 24},
		{[]int64{-1}, -1}, {[]int64{1 << 32, 1 << 32}, -1}, {[]int64{0, 1 << 62, 1 << 62}, 0},
		{[]int64{math.MaxInt64}, math.MaxInt64},
	} {
		if got := (Tensor{Shape: c.shape}).Numel(); got != c.want {
			t.Errorf("Numel(%v) = %d, want %d", c.shape, got, c.want)
		}
	}
}

func TestDTypeSize(t *testing.T) {
	want := map[DType]int{F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8E4M3: 1, F8E5M2: 1, "F128": 0, "": 0, "f32": 0}
	for d, w := range want {
		if got := d.Size(); got != w {
			t.Errorf("%q.Size() = %d, want %d", d, got, w)
		}
	}
	if F8E4M3 != "F8_E4M3" || F8E5M2 != "F8_E5M2" {
		t.Error("F8 dtype spellings")
	}
}

// roundTripTensors covers every dtype, a scalar and an empty tensor, with
// byte patterns written out by hand.
func roundTripTensors() []Tensor {
	return []Tensor{
		{Name: "bf16", DType: BF16, Shape: []int64{2, 2}, Data: []byte{0x80, 0x3f, 0x20, 0xc0, 0xcd, 0x3d, 0x80, 0x7f}},
		{Name: "f16", DType: F16, Shape: []int64{3}, Data: []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b}},
		{Name: "f32", DType: F32, Shape: []int64{1, 2}, Data: []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x80}},
		{Name: "f64", DType: F64, Shape: []int64{1}, Data: []byte{0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f}},
		{Name: "i64", DType: I64, Shape: []int64{2}, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{Name: "i32", DType: I32, Shape: []int64{1}, Data: []byte{0, 0, 0, 0x80}},
		{Name: "i16", DType: I16, Shape: []int64{1}, Data: []byte{0xfe, 0xff}},
		{Name: "i8", DType: I8, Shape: []int64{2}, Data: []byte{0x80, 0x7f}},
		{Name: "u8", DType: U8, Shape: []int64{3}, Data: []byte{0, 128, 255}},
		{Name: "bool", DType: BOOL, Shape: []int64{2}, Data: []byte{1, 0}},
		{Name: "u16", DType: U16, Shape: []int64{1}, Data: []byte{0xff, 0xff}},
		{Name: "u32", DType: U32, Shape: []int64{1}, Data: []byte{1, 2, 3, 4}},
		{Name: "u64", DType: U64, Shape: []int64{1}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "f8e4m3", DType: F8E4M3, Shape: []int64{2}, Data: []byte{0x38, 0xb8}},
		{Name: "f8e5m2", DType: F8E5M2, Shape: []int64{2}, Data: []byte{0x3c, 0xbc}},
		{Name: "scalar", DType: F32, Shape: []int64{}, Data: []byte{0, 0, 0x50, 0x40}},
		{Name: "empty", DType: F32, Shape: []int64{0}, Data: nil},
		{Name: "weird <name> & \"quotes\" é", DType: U8, Shape: []int64{1}, Data: []byte{7}},
	}
}

func TestRoundTrip(t *testing.T) {
	in := roundTripTensors()
	meta := map[string]string{"format": "pt", "b": "<&>", "a": "ünïcode"}
	var buf bytes.Buffer
	if err := Write(&buf, in, meta); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	n := binary.LittleEndian.Uint64(raw)
	if (8+n)%8 != 0 {
		t.Errorf("8+N = %d is not a multiple of 8", 8+n)
	}
	header := raw[8 : 8+n]
	if !bytes.HasPrefix(header, []byte(`{"__metadata__":{"a":"ünïcode","b":"<&>","format":"pt"},"bf16":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"f16":`)) {
		t.Errorf("header starts %q", header[:min(len(header), 160)])
	}
	trimmed := bytes.TrimRight(header, " ")
	if len(header)-len(trimmed) >= 8 || trimmed[len(trimmed)-1] != '}' {
		t.Errorf("header padding wrong: %q", header[len(trimmed)-1:])
	}
	var wantData []byte
	for _, tn := range in {
		wantData = append(wantData, tn.Data...)
	}
	if !bytes.Equal(raw[8+n:], wantData) {
		t.Error("data buffer is not the tensors' Data concatenated in slice order")
	}

	f, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range in {
		names = append(names, tn.Name)
	}
	slices.Sort(names)
	if got := f.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %q, want %q", got, names)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("Metadata() = %v, want %v", got, meta)
	}
	for _, want := range in {
		got, err := f.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %s %v %x, want %s %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
}

func TestWriteExactBytes(t *testing.T) {
	// A tiny file written out by hand per the format description.
	var buf bytes.Buffer
	err := Write(&buf, []Tensor{{Name: "w", DType: F16, Shape: []int64{2}, Data: []byte{0, 0x3c, 0, 0xc0}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	header := `{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}` // 54 bytes
	header += "  "                                                     // 8+56 = 64
	want := append(le64(uint64(len(header))), header...)
	want = append(want, 0, 0x3c, 0, 0xc0)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Write =\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

func TestRewriteReferenceDataBuffer(t *testing.T) {
	g, raw := loadReference(t)
	f, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var tensors []Tensor
	for _, name := range byDataOrder(g) {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, tn)
	}
	var buf bytes.Buffer
	if err := Write(&buf, tensors, f.Metadata()); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	f2, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse of rewritten reference: %v", err)
	}
	checkAgainstGolden(t, f2, g, nil)
	n := binary.LittleEndian.Uint64(out)
	if !bytes.Equal(out[8+n:], raw[8+g.HeaderLen:]) {
		t.Error("rewritten data buffer differs from the reference file's data buffer")
	}
}

func TestRewriteShardsByteIdentical(t *testing.T) {
	// The shards have one metadata key, so the header is deterministic and
	// our writer must reproduce the official writer's bytes exactly.
	for name, g := range loadShards(t) {
		raw, err := os.ReadFile(filepath.Join(shardDir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		var tensors []Tensor
		for _, n := range byDataOrder(g) {
			tn, err := f.Tensor(n)
			if err != nil {
				t.Fatal(err)
			}
			tensors = append(tensors, tn)
		}
		var buf bytes.Buffer
		if err := Write(&buf, tensors, f.Metadata()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), raw) {
			t.Errorf("%s: rewrite differs from the official writer's file:\n got %q\nwant %q", name, buf.Bytes(), raw)
		}
	}
}

func TestWriteValidation(t *testing.T) {
	ok := Tensor{Name: "ok", DType: F32, Shape: []int64{1}, Data: make([]byte, 4)}
	for _, c := range []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"unknown dtype", []Tensor{ok, {Name: "x", DType: "F128", Shape: []int64{1}, Data: make([]byte, 16)}}, nil, `unknown dtype "F128"`},
		{"short data", []Tensor{{Name: "x", DType: F32, Shape: []int64{2, 3}, Data: make([]byte, 12)}}, nil, "Data holds 12 bytes, shape [2 3] of F32 needs 24"},
		{"long data", []Tensor{{Name: "x", DType: BF16, Shape: []int64{}, Data: make([]byte, 4)}}, nil, "needs 2"},
		{"duplicate", []Tensor{ok, ok}, nil, "duplicate name"},
		{"empty name", []Tensor{{DType: U8, Shape: []int64{1}, Data: []byte{1}}}, nil, "empty name"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: U8, Shape: []int64{1}, Data: []byte{1}}}, nil, "reserved"},
		{"negative shape", []Tensor{{Name: "x", DType: U8, Shape: []int64{-1}}}, nil, "shape[0] = -1 is negative"},
		{"overflow", []Tensor{{Name: "x", DType: F32, Shape: []int64{1 << 31, 1 << 31}}}, nil, "overflows"},
		{"bad utf8 name", []Tensor{{Name: "a\xff", DType: U8, Shape: []int64{1}, Data: []byte{1}}}, nil, "UTF-8"},
		{"bad utf8 metadata", []Tensor{ok}, map[string]string{"k": "\xfe"}, "UTF-8"},
	} {
		var buf bytes.Buffer
		err := Write(&buf, c.tensors, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Write error = %v, want %q", c.name, err, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: Write wrote %d bytes before failing validation", c.name, buf.Len())
		}
	}
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	tensors := roundTripTensors()
	t.Run("ok", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "out.safetensors")
		if err := os.WriteFile(p, []byte("old contents"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, tensors, map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		if got := dirEntries(t, dir); !slices.Equal(got, []string{"out.safetensors"}) {
			t.Errorf("directory holds %q", got)
		}
		var buf bytes.Buffer
		if err := Write(&buf, tensors, map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Error("WriteFile contents differ from Write")
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", st.Mode().Perm())
		}
	})
	t.Run("rename fails", func(t *testing.T) {
		// The target is a non-empty directory: the temp file is written in
		// full, then the rename fails; it must be cleaned up.
		dir := t.TempDir()
		p := filepath.Join(dir, "out.safetensors")
		if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, tensors, nil); err == nil {
			t.Fatal("WriteFile over a directory succeeded")
		}
		if got := dirEntries(t, dir); !slices.Equal(got, []string{"out.safetensors"}) {
			t.Errorf("directory holds %q after failed WriteFile", got)
		}
	})
	t.Run("unwritable dir", func(t *testing.T) {
		dir := t.TempDir()
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(ro, 0o755)
		if probe, err := os.Create(filepath.Join(ro, "probe")); err == nil {
			probe.Close()
			os.Remove(probe.Name())
			t.Skip("running with privileges that ignore directory permissions")
		}
		err := WriteFile(filepath.Join(ro, "out.safetensors"), tensors, nil)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("WriteFile in read-only dir = %v, want permission denied", err)
		}
		if got := dirEntries(t, ro); len(got) != 0 {
			t.Errorf("read-only directory holds %q", got)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		dir := t.TempDir()
		err := WriteFile(filepath.Join(dir, "nope", "out.safetensors"), tensors, nil)
		if err == nil {
			t.Fatal("WriteFile into a missing directory succeeded")
		}
		if got := dirEntries(t, dir); len(got) != 0 {
			t.Errorf("directory holds %q", got)
		}
	})
	t.Run("invalid tensors", func(t *testing.T) {
		dir := t.TempDir()
		bad := []Tensor{tensors[0], {Name: "x", DType: F32, Shape: []int64{2}, Data: []byte{1}}}
		if err := WriteFile(filepath.Join(dir, "out.safetensors"), bad, nil); err == nil {
			t.Fatal("WriteFile with an invalid tensor succeeded")
		}
		if got := dirEntries(t, dir); len(got) != 0 {
			t.Errorf("directory holds %q", got)
		}
	})
}

func le64(n uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, n)
	return b
}

// file builds a safetensors file from a raw header string and a data buffer.
func file(header string, data []byte) []byte {
	return append(append(le64(uint64(len(header))), header...), data...)
}

func entry1(name, dtype, shape, offsets string) string {
	return fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":%s}`, name, dtype, shape, offsets)
}

func TestParseHostile(t *testing.T) {
	four := make([]byte, 4)
	twelve := make([]byte, 12)
	cases := []struct {
		name string
		buf  []byte
		want []string
	}{
		{"shorter than 8", []byte{1, 2, 3}, []string{"3 bytes, shorter than the 8-byte header length"}},
		{"empty", nil, []string{"shorter than the 8-byte"}},
		{"N exceeds file", append(le64(100), "{}"...), []string{"header length 100 exceeds the 2 bytes"}},
		{"N over 100 MiB", append(le64(200<<20), "{}"...), []string{"100 MiB"}},
		{"N huge", append(le64(math.MaxUint64), "{}"...), []string{"100 MiB"}},
		{"N zero", le64(0), []string{"does not start with '{'"}},
		{"leading space", file(` {}`, nil), []string{"does not start with '{'"}},
		{"array header", file(`[]`, nil), []string{"does not start with '{'"}},
		{"invalid JSON", file(`{"a":`, nil), []string{"invalid JSON"}},
		{"trailing comma", file(`{"__metadata__":{},}`, nil), []string{"invalid JSON"}},
		{"trailing garbage", file(`{}x  `, nil), []string{"unexpected byte 'x' at offset 2"}},
		{"trailing newline", file("{}\n", nil), []string{`unexpected byte '\n'`}},
		{"second object", file(`{}{}`, nil), []string{"unexpected byte '{'"}},
		{"invalid UTF-8", file("{\"\xff\":1}", nil), []string{"UTF-8"}},
		{"metadata not object", file(`{"__metadata__":["a"]}`, nil), []string{"__metadata__ must be an object"}},
		{"metadata not string", file(`{"__metadata__":{"format":1}}`, nil), []string{`__metadata__: value of key "format" is 1, not a string`}},
		{"metadata null value", file(`{"__metadata__":{"format":null}}`, nil), []string{`key "format"`, "not a string"}},
		{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`, nil), []string{`duplicate key "__metadata__"`}},
		{"duplicate tensor", file(`{`+entry1("a", "F32", "[1]", "[0,4]")+`,`+entry1("a", "F32", "[1]", "[0,4]")+`}`, four), []string{`duplicate key "a"`}},
		{"duplicate key in entry", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), []string{`tensor "a"`, `duplicate key "dtype"`}},
		{"entry not object", file(`{"a":5}`, nil), []string{`tensor "a"`, "must be an object"}},
		{"unknown key", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, four), []string{`tensor "a"`, `unknown key "extra"`}},
		{"missing key", file(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four), []string{`tensor "a"`, `missing key "shape"`}},
		{"unknown dtype", file(`{`+entry1("a", "F128", "[1]", "[0,16]")+`}`, make([]byte, 16)), []string{`tensor "a"`, `unknown dtype "F128"`}},
		{"dtype lower case", file(`{`+entry1("a", "f32", "[1]", "[0,4]")+`}`, four), []string{`unknown dtype "f32"`}},
		{"dtype not string", file(`{"a":{"dtype":null,"shape":[1],"data_offsets":[0,4]}}`, four), []string{"dtype is null, not a string"}},
		{"negative shape", file(`{`+entry1("a", "F32", "[-1]", "[0,4]")+`}`, four), []string{`tensor "a"`, "shape[0] = -1 is negative"}},
		{"fractional shape", file(`{`+entry1("a", "F32", "[1.5]", "[0,4]")+`}`, four), []string{"shape[0] = 1.5 is not a non-negative integer"}},
		{"exponent shape", file(`{`+entry1("a", "F32", "[1e0]", "[0,4]")+`}`, four), []string{"shape[0] = 1e0 is not a non-negative integer"}},
		{"string in shape", file(`{`+entry1("a", "F32", `["1"]`, "[0,4]")+`}`, four), []string{`shape[0] = "1" is not a non-negative integer`}},
		{"shape not array", file(`{`+entry1("a", "F32", `null`, "[0,4]")+`}`, four), []string{"shape is null, not an array"}},
		{"shape dim beyond int64", file(`{`+entry1("a", "F32", "[99999999999999999999]", "[0,4]")+`}`, four), []string{"shape[0] = 99999999999999999999 overflows int64"}},
		{"shape product overflow", file(`{`+entry1("a", "F32", "[4294967296,4294967296]", "[0,4]")+`}`, four), []string{`tensor "a"`, "shape [4294967296 4294967296] of F32: byte size overflows int64"}},
		{"shape bytes overflow", file(`{`+entry1("a", "F64", "[2305843009213693952]", "[0,4]")+`}`, four), []string{"byte size overflows"}},
		{"offsets reversed", file(`{`+entry1("a", "U8", "[0]", "[4,0]")+`}`, four), []string{"data_offsets [4,0] are reversed"}},
		{"offsets negative", file(`{`+entry1("a", "U8", "[4]", "[-4,0]")+`}`, four), []string{"data_offsets[0] = -4 is negative"}},
		{"offsets count", file(`{`+entry1("a", "U8", "[4]", "[0,4,8]")+`}`, four), []string{"data_offsets has 3 entries, want 2"}},
		{"size mismatch", file(`{`+entry1("a.weight", "F32", "[2,3]", "[0,12]")+`}`, twelve), []string{`safetensors: tensor "a.weight": data_offsets [0,12] hold 12 bytes, shape [2 3] of F32 needs 24`}},
		{"beyond buffer", file(`{`+entry1("a", "F32", "[3]", "[0,12]")+`}`, four), []string{"data_offsets [0,12] extend past the end of the 4-byte data buffer"}},
		{"overlap", file(`{`+entry1("a", "F32", "[2]", "[0,8]")+`,`+entry1("b", "F32", "[2]", "[4,12]")+`}`, twelve), []string{`tensor "b": data_offsets [4,12] overlap tensor "a", which ends at 8`}},
		{"same range twice", file(`{`+entry1("a", "F32", "[1]", "[0,4]")+`,`+entry1("b", "F32", "[1]", "[0,4]")+`}`, four), []string{`overlap tensor "a"`}},
		{"empty tensor inside another", file(`{`+entry1("a", "F32", "[2]", "[0,8]")+`,`+entry1("e", "F32", "[0]", "[4,4]")+`}`, make([]byte, 8)), []string{`tensor "e"`, "overlap"}},
		{"hole between", file(`{`+entry1("a", "F32", "[1]", "[0,4]")+`,`+entry1("b", "F32", "[1]", "[8,12]")+`}`, twelve), []string{`hole in data buffer: bytes [4,8) between tensor "a" and tensor "b"`}},
		{"hole at start", file(`{`+entry1("a", "F32", "[1]", "[4,8]")+`}`, make([]byte, 8)), []string{`hole in data buffer: bytes [0,4) before tensor "a"`}},
		{"trailing bytes", file(`{`+entry1("a", "F32", "[1]", "[0,4]")+`}`, make([]byte, 6)), []string{"data buffer has 2 trailing bytes after the last tensor"}},
		{"no tensors but data", file(`{}`, four), []string{"4 trailing bytes"}},
	}
	if len(cases) < 15 {
		t.Fatal("need at least 15 hostile inputs")
	}
	for _, c := range cases {
		f, err := Parse(c.buf)
		if err == nil {
			t.Errorf("%s: Parse succeeded with names %q", c.name, f.Names())
			continue
		}
		if !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("%s: error %q lacks the package prefix", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

func TestParseAccepts(t *testing.T) {
	four := make([]byte, 4)
	for _, c := range []struct {
		name string
		buf  []byte
	}{
		{"empty object", file(`{}`, nil)},
		{"space padding", file(`{}      `, nil)},
		{"whitespace inside", file("{ \"a\" :\n{\"shape\":[ 1 ],\t\"data_offsets\":[0,4],\"dtype\":\"I32\"} }", four)},
		{"empty metadata", file(`{"__metadata__":{}}`, nil)},
		{"metadata last", file(`{`+entry1("a", "U8", "[4]", "[0,4]")+`,"__metadata__":{"x":"y"}}`, four)},
		{"escaped name", file(`{"\u0061\n":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, four)},
		{"zero-size at end", file(`{`+entry1("a", "U8", "[4]", "[0,4]")+`,`+entry1("e", "U8", "[0,5]", "[4,4]")+`}`, four)},
		{"dims with zeros overflow", file(`{`+entry1("e", "U8", "[0,9223372036854775807,9223372036854775807]", "[0,0]")+`}`, nil)},
	} {
		if _, err := Parse(c.buf); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// --- Checkpoints ---

func checkShardedCheckpoint(t *testing.T, c *Checkpoint) {
	t.Helper()
	shards := loadShards(t)
	want := map[string]goldenTensor{}
	for _, g := range shards {
		for n, gt := range g.Tensors {
			want[n] = gt
		}
	}
	if got := c.Names(); !slices.Equal(got, sortedNames(want)) {
		t.Fatalf("Names() = %q, want %q", got, sortedNames(want))
	}
	for name, gt := range want {
		tn, err := c.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(tn.DType) != gt.DType || !slices.Equal(tn.Shape, gt.Shape) {
			t.Errorf("%s: %s %v, want %s %v", name, tn.DType, tn.Shape, gt.DType, gt.Shape)
		}
		checkValues(t, name, tn.DType, tn.Data, gt.Values)
	}
}

func TestCheckpointSharded(t *testing.T) {
	for _, path := range []string{shardDir, filepath.Join(shardDir, "model.safetensors.index.json")} {
		c, err := OpenCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		checkShardedCheckpoint(t, c)
		_, err = c.Tensor("missing.weight")
		if err == nil || !strings.Contains(err.Error(), `"missing.weight"`) {
			t.Errorf("missing tensor: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := c.Tensor("lm_head.weight"); err == nil {
			t.Error("Tensor after Close succeeded")
		}
	}
}

func TestCheckpointSingle(t *testing.T) {
	g, raw := loadReference(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, filepath.Join(dir, "model.safetensors"), refPath} {
		c, err := OpenCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Names(); !slices.Equal(got, sortedNames(g.Tensors)) {
			t.Errorf("%s: Names() = %q", path, got)
		}
		for name, gt := range g.Tensors {
			tn, err := c.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			checkValues(t, name, tn.DType, tn.Data, gt.Values)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenCheckpoint(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither model.safetensors.index.json nor model.safetensors") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := OpenCheckpoint(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing path: no error")
	}
}

// copyShards copies the golden sharded checkpoint into a fresh directory.
func copyShards(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{shard1Name, shard2Name, "model.safetensors.index.json"} {
		raw, err := os.ReadFile(filepath.Join(shardDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeIndex(t *testing.T, dir string, weightMap map[string]string) {
	t.Helper()
	raw, err := json.MarshalIndent(map[string]any{"metadata": map[string]any{"total_size": 96}, "weight_map": weightMap}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func goldenWeightMap(t *testing.T) map[string]string {
	t.Helper()
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	readJSON(t, filepath.Join(shardDir, "model.safetensors.index.json"), &idx)
	return idx.WeightMap
}

func TestCheckpointBrokenIndex(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"control: intact copy opens", func(t *testing.T, dir string) {}, nil},
		{"missing shard", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, shard2Name))
		}, []string{`shard "` + shard2Name + `"`, "no such file"}},
		{"dotdot name", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["lm_head.weight"] = "../" + shard2Name
			writeIndex(t, dir, wm)
		}, []string{`tensor "lm_head.weight"`, `"../` + shard2Name + `" is not a plain file name`}},
		{"dotdot alone", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["lm_head.weight"] = ".."
			writeIndex(t, dir, wm)
		}, []string{`".." is not a plain file name`}},
		{"absolute name", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["lm_head.weight"] = filepath.Join(dir, shard2Name)
			writeIndex(t, dir, wm)
		}, []string{"is not a plain file name"}},
		{"subdirectory name", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["lm_head.weight"] = "sub/" + shard2Name
			writeIndex(t, dir, wm)
		}, []string{`"sub/` + shard2Name + `" is not a plain file name`}},
		{"backslash name", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["lm_head.weight"] = `..\` + shard2Name
			writeIndex(t, dir, wm)
		}, []string{"is not a plain file name"}},
		{"tensor missing from shard", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["model.layers.2.weight"] = shard2Name
			writeIndex(t, dir, wm)
		}, []string{`tensor "model.layers.2.weight" listed in the index is missing from shard "` + shard2Name + `"`}},
		{"tensor in wrong shard", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			wm["lm_head.weight"] = shard1Name
			writeIndex(t, dir, wm)
		}, []string{`"lm_head.weight"`, `missing from shard "` + shard1Name + `"`}},
		{"unlisted tensor in shard", func(t *testing.T, dir string) {
			wm := goldenWeightMap(t)
			delete(wm, "model.layers.1.bias")
			writeIndex(t, dir, wm)
		}, []string{`shard "` + shard2Name + `" holds tensor "model.layers.1.bias" not listed in the index`}},
		{"shard not parseable", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, shard1Name), []byte("garbage!"), 0o644)
		}, []string{`shard "` + shard1Name + `"`, "header length"}},
		{"no weight_map", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"metadata":{}}`), 0o644)
		}, []string{`no "weight_map"`}},
		{"empty weight_map", func(t *testing.T, dir string) {
			writeIndex(t, dir, map[string]string{})
		}, []string{"weight_map is empty"}},
		{"duplicate weight_map key", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map":{"lm_head.weight":"`+shard2Name+`","lm_head.weight":"`+shard1Name+`"}}`), 0o644)
		}, []string{`duplicate key "lm_head.weight"`}},
		{"shard not a string", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map":{"lm_head.weight":2}}`), 0o644)
		}, []string{`tensor "lm_head.weight": shard is 2, not a string`}},
		{"index invalid JSON", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map":`), 0o644)
		}, []string{"invalid JSON"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyShards(t)
			c.setup(t, dir)
			ck, err := OpenCheckpoint(dir)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				checkShardedCheckpoint(t, ck)
				ck.Close()
				return
			}
			if err == nil {
				ck.Close()
				t.Fatal("OpenCheckpoint succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, "model.safetensors.index.json") {
				t.Errorf("error %q does not name the index", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestConcurrentTensor(t *testing.T) {
	c, err := OpenCheckpoint(shardDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func() {
			var err error
			for j := 0; j < 100 && err == nil; j++ {
				for _, n := range c.Names() {
					if _, err = c.Tensor(n); err != nil {
						break
					}
				}
			}
			done <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
