package gguf

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// builder assembles GGUF bytes field by field for the invalid-file tests.
type builder struct{ b []byte }

func (w *builder) raw(p ...byte) *builder { w.b = append(w.b, p...); return w }
func (w *builder) u32(v uint32) *builder  { w.b = binary.LittleEndian.AppendUint32(w.b, v); return w }
func (w *builder) u64(v uint64) *builder  { w.b = binary.LittleEndian.AppendUint64(w.b, v); return w }
func (w *builder) str(s string) *builder  { return w.u64(uint64(len(s))).raw([]byte(s)...) }

// header writes magic, version 3 and the two counts.
func header(nTensors, nKV uint64) *builder {
	return (&builder{}).raw('G', 'G', 'U', 'F').u32(3).u64(nTensors).u64(nKV)
}

// tensor writes one tensor info.
func (w *builder) tensor(name string, typ TensorType, off uint64, dims ...uint64) *builder {
	w.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		w.u64(d)
	}
	return w.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n data bytes.
func (w *builder) data(n int) []byte {
	for len(w.b)%32 != 0 {
		w.b = append(w.b, 0)
	}
	return append(w.b, make([]byte, n)...)
}

// valid is a small well-formed file: one string key, two F32 tensors.
func valid() []byte {
	w := header(2, 1)
	w.str("general.architecture").u32(uint32(TypeString)).str("x")
	w.tensor("a", F32, 0, 4)
	w.tensor("b", F32, 32, 2, 2)
	return w.data(48)
}

func TestValidMinimal(t *testing.T) {
	f, err := Parse(valid())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Tensors[1].Shape(), []int64{2, 2}; len(got) != 2 || got[0] != want[0] {
		t.Errorf("shape %v", got)
	}
	d, err := f.TensorData("b")
	if err != nil || len(d) != 16 {
		t.Errorf("TensorData = %d bytes, %v", len(d), err)
	}
}

// TestTruncated: every proper prefix of a valid file is an error.
func TestTruncated(t *testing.T) {
	full := valid()
	for n := 0; n < len(full); n++ {
		_, err := Parse(full[:n])
		if err == nil {
			t.Fatalf("prefix of %d of %d bytes parsed", n, len(full))
		}
		if n >= 4 && !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "past the end") &&
			!strings.Contains(err.Error(), "impossible") && !strings.Contains(err.Error(), "exceeds") {
			t.Errorf("prefix %d: error %q does not say what ran short", n, err)
		}
	}
}

func TestHostile(t *testing.T) {
	arch := func(w *builder) *builder { return w.str("general.architecture").u32(uint32(TypeString)).str("x") }
	cases := []struct {
		name string
		file []byte
		want string // substring of the error
	}{
		{"wrong magic", append([]byte("GGUG"), valid()[4:]...), "bad magic"},
		{"version 1", (&builder{}).raw('G', 'G', 'U', 'F').u32(1).u64(0).u64(0).b, "unsupported GGUF version 1"},
		{"big-endian", (&builder{}).raw('G', 'G', 'U', 'F').u32(3 << 24).u64(0).u64(0).b, "big-endian"},
		{"absurd tensor count", header(1<<40, 0).data(64), "tensor count 1099511627776 is impossible"},
		{"absurd metadata count", header(0, 1<<62).data(64), "metadata count"},
		{"offset past EOF", header(1, 0).tensor("w", F32, 1024, 4).data(16), `tensor "w": data [1024, +16)`},
		{"size past EOF", header(1, 0).tensor("w", F32, 0, 1000).data(16), "past the end"},
		{"unknown quant type", header(1, 0).tensor("w", TensorType(99), 0, 32).data(64), `tensor "w": unknown ggml tensor type 99`},
		{"misaligned offset", header(1, 0).tensor("w", F32, 4, 1).data(64), "not a multiple of the alignment 32"},
		{"overlap", header(2, 0).tensor("a", F32, 0, 8).tensor("b", F32, 0, 1).data(64), "overlap"},
		{"duplicate tensor", header(2, 0).tensor("a", F32, 0, 1).tensor("a", F32, 32, 1).data(64), `duplicate tensor name "a"`},
		{"duplicate key", arch(arch(header(0, 2))).data(0), `duplicate metadata key "general.architecture"`},
		{"too many dims", header(1, 0).tensor("w", F32, 0, 1, 1, 1, 1, 1).data(4), "5 dims"},
		{"dims overflow", header(1, 0).tensor("w", F32, 0, 1<<40, 1<<40).data(4), "dims overflow"},
		{"partial block", header(1, 0).tensor("w", Q4_0, 0, 16).data(64), "not a multiple of the Q4_0 block size 32"},
		{"string past EOF", header(0, 1).u64(1 << 50).raw('k').data(64), "exceeds"},
		{"unknown value type", header(0, 1).str("k").u32(13).u64(0).b, "unknown value type 13"},
		{"array too long", header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(1 << 40).u64(0).b, "cannot fit"},
		{"array unknown element", header(0, 1).str("k").u32(uint32(TypeArray)).u32(77).u64(1).u64(0).b, "unknown array element type 77"},
		{"bool 2", header(0, 1).str("k").u32(uint32(TypeBool)).raw(2).b, "neither 0 nor 1"},
		{"bad alignment", header(0, 1).str("general.alignment").u32(uint32(TypeUint32)).u32(48).b, "power of two"},
		{"alignment type", header(0, 1).str("general.alignment").u32(uint32(TypeUint64)).u64(32).b, "power of two"},
	}
	deep := header(0, 1).str("k").u32(uint32(TypeArray))
	for i := 0; i < maxNesting+1; i++ {
		deep.u32(uint32(TypeArray)).u64(1)
	}
	deep.u32(uint32(TypeUint8)).u64(0)
	cases = append(cases, struct {
		name string
		file []byte
		want string
	}{"deep nesting", deep.data(64), "nested deeper"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse(c.file)
			if err == nil {
				t.Fatalf("parsed: %+v", f)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			var fe *FormatError
			if c.name != "wrong magic" && !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FormatError", err)
			}
		})
	}
	if _, err := Parse(append([]byte("GGUG"), valid()[4:]...)); !errors.Is(err, ErrBadMagic) {
		t.Errorf("wrong magic: %v is not ErrBadMagic", err)
	}
}

// TestOpenErrors: Open names the path and refuses empty files and
// directories.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.gguf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	if err := os.WriteFile(bad, header(1<<40, 0).data(64), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{empty, dir, filepath.Join(dir, "missing.gguf"), bad} {
		_, err := Open(p)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("Open(%s) = %v", p, err)
		}
	}
	f, err := Open(synthPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.TensorData("f32.vec"); err == nil {
		t.Errorf("TensorData after Close succeeded")
	}
}
