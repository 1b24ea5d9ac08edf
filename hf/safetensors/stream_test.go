package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sources wraps tensors as streaming sources whose Fill writes the data in
// chunks of at most chunk bytes and appends the tensor's name to calls.
func sources(tensors []Tensor, chunk int, calls *[]string) []Source {
	out := make([]Source, len(tensors))
	for i, t := range tensors {
		out[i] = Source{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape), Fill: func(w io.Writer) error {
			*calls = append(*calls, t.Name)
			for d := t.Data; len(d) > 0; {
				n := min(chunk, len(d))
				if _, err := w.Write(d[:n]); err != nil {
					return err
				}
				d = d[n:]
			}
			return nil
		}}
	}
	return out
}

func TestWriteStreamMatchesWrite(t *testing.T) {
	all := roundTripTensors()
	for _, c := range []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
	}{
		{"all dtypes with metadata", all, map[string]string{"format": "pt", "b": "<&>", "a": "ünïcode"}},
		{"all dtypes without metadata", all, nil},
		{"empty tensors only", []Tensor{
			{Name: "e0", DType: F32, Shape: []int64{0}},
			{Name: "e1", DType: BF16, Shape: []int64{3, 0, 2}},
		}, map[string]string{"format": "pt"}},
		{"no tensors", nil, map[string]string{"k": "v"}},
		{"nothing", nil, nil},
	} {
		for _, chunk := range []int{1, 3, 1 << 20} {
			var want, got bytes.Buffer
			if err := Write(&want, c.tensors, c.meta); err != nil {
				t.Fatalf("%s: Write: %v", c.name, err)
			}
			var calls []string
			if err := WriteStream(&got, sources(c.tensors, chunk, &calls), c.meta); err != nil {
				t.Fatalf("%s: WriteStream: %v", c.name, err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s, chunks of %d: WriteStream =\n%q\nWrite =\n%q", c.name, chunk, got.Bytes(), want.Bytes())
			}
			var names []string
			for _, tn := range c.tensors {
				names = append(names, tn.Name)
			}
			if !slices.Equal(calls, names) {
				t.Errorf("%s: Fill called for %q, want each once in order %q", c.name, calls, names)
			}
		}
	}
}

func TestWriteStreamOfficialShards(t *testing.T) {
	// The official writer's shards, rewritten from streaming sources, must
	// come out byte-identical.
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
		var calls []string
		p := filepath.Join(t.TempDir(), name)
		if err := WriteFileStream(p, sources(tensors, 5, &calls), f.Metadata()); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, raw) {
			t.Errorf("%s: streamed rewrite differs from the official writer's file", name)
		}
	}
}

func TestWriteStreamFillPosition(t *testing.T) {
	// Each Fill runs exactly when the writer has reached its data offset: the
	// header and every earlier tensor are written, nothing later is.
	tensors := roundTripTensors()
	var buf bytes.Buffer
	var at []int
	srcs := make([]Source, len(tensors))
	for i, tn := range tensors {
		srcs[i] = Source{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Fill: func(w io.Writer) error {
			at = append(at, buf.Len())
			_, err := w.Write(tn.Data)
			return err
		}}
	}
	if err := WriteStream(&buf, srcs, nil); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	off := 8 + int(binary.LittleEndian.Uint64(raw))
	for i, tn := range tensors {
		if at[i] != off {
			t.Errorf("%s: Fill called with %d bytes written, its data starts at byte %d", tn.Name, at[i], off)
		}
		off += len(tn.Data)
	}
	if off != len(raw) {
		t.Errorf("file has %d bytes, want %d", len(raw), off)
	}
}

// failWriter fails every Write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestWriteStreamBadFill(t *testing.T) {
	good := roundTripTensors()[:3]
	boom := errors.New("boom")
	for _, c := range []struct {
		name string
		fill func(w io.Writer) error
		want string
	}{
		{"short", func(w io.Writer) error { _, err := w.Write(make([]byte, 7)); return err }, `tensor 1 ("bad"): Fill wrote 7 bytes, shape [2 2] of F32 needs 16`},
		{"nothing", func(io.Writer) error { return nil }, "Fill wrote 0 bytes"},
		{"long", func(w io.Writer) error { _, err := w.Write(make([]byte, 17)); return err }, "Fill wrote at least 17 bytes, shape [2 2] of F32 needs 16"},
		{"long, error ignored", func(w io.Writer) error {
			w.Write(make([]byte, 16))
			w.Write([]byte{1})
			return nil
		}, "Fill wrote at least 17 bytes"},
		{"fails", func(io.Writer) error { return boom }, `writing tensor "bad": boom`},
	} {
		mk := func(calls *[]string) []Source {
			srcs := sources(good, 4, calls)
			bad := Source{Name: "bad", DType: F32, Shape: []int64{2, 2}, Fill: func(w io.Writer) error {
				*calls = append(*calls, "bad")
				return c.fill(w)
			}}
			return slices.Insert(srcs, 1, bad)
		}
		var calls []string
		var buf bytes.Buffer
		err := WriteStream(&buf, mk(&calls), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: WriteStream error = %v, want %q", c.name, err, c.want)
		}
		if c.name == "fails" && !errors.Is(err, boom) {
			t.Errorf("%s: error %v does not wrap Fill's error", c.name, err)
		}
		if want := []string{good[0].Name, "bad"}; !slices.Equal(calls, want) {
			t.Errorf("%s: Fill called for %q, want %q (none after the failure)", c.name, calls, want)
		}

		dir := t.TempDir()
		p := filepath.Join(dir, "out.safetensors")
		if err := os.WriteFile(p, []byte("old contents"), 0o644); err != nil {
			t.Fatal(err)
		}
		calls = nil
		err = WriteFileStream(p, mk(&calls), map[string]string{"format": "pt"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: WriteFileStream error = %v, want %q", c.name, err, c.want)
		}
		if got := dirEntries(t, dir); !slices.Equal(got, []string{"out.safetensors"}) {
			t.Errorf("%s: directory holds %q after failed WriteFileStream", c.name, got)
		}
		if b, _ := os.ReadFile(p); string(b) != "old contents" {
			t.Errorf("%s: previous file replaced by %q", c.name, b)
		}
	}

	// An error of the underlying writer reaches the caller through Fill.
	var calls []string
	err := WriteStream(failWriter{}, sources(good, 4, &calls), nil)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("WriteStream to a failing writer = %v", err)
	}
}

func TestWriteStreamValidation(t *testing.T) {
	fill := func(w io.Writer) error { _, err := w.Write(make([]byte, 4)); return err }
	ok := Source{Name: "ok", DType: F32, Shape: []int64{1}, Fill: fill}
	for _, c := range []struct {
		name string
		srcs []Source
		meta map[string]string
		want string
	}{
		{"nil fill", []Source{ok, {Name: "x", DType: F32, Shape: []int64{1}}}, nil, `tensor 1 ("x"): Fill is nil`},
		{"unknown dtype", []Source{ok, {Name: "x", DType: "F128", Shape: []int64{1}, Fill: fill}}, nil, `unknown dtype "F128"`},
		{"duplicate", []Source{ok, ok}, nil, "duplicate name"},
		{"empty name", []Source{{DType: U8, Shape: []int64{1}, Fill: fill}}, nil, "empty name"},
		{"reserved name", []Source{{Name: "__metadata__", DType: U8, Shape: []int64{1}, Fill: fill}}, nil, "reserved"},
		{"negative shape", []Source{{Name: "x", DType: U8, Shape: []int64{-1}, Fill: fill}}, nil, "shape[0] = -1 is negative"},
		{"overflow", []Source{{Name: "x", DType: F32, Shape: []int64{1 << 31, 1 << 31}, Fill: fill}}, nil, "overflows"},
		{"total overflows", []Source{
			{Name: "x", DType: U8, Shape: []int64{1 << 62}, Fill: fill},
			{Name: "y", DType: U8, Shape: []int64{1 << 62}, Fill: fill},
			{Name: "z", DType: U8, Shape: []int64{1 << 62}, Fill: fill},
		}, nil, "data buffer size overflows"},
		{"bad utf8 name", []Source{{Name: "a\xff", DType: U8, Shape: []int64{1}, Fill: fill}}, nil, "UTF-8"},
		{"bad utf8 metadata", []Source{ok}, map[string]string{"k": "\xfe"}, "UTF-8"},
	} {
		called := false
		srcs := slices.Clone(c.srcs)
		for i := range srcs {
			if f := srcs[i].Fill; f != nil {
				srcs[i].Fill = func(w io.Writer) error { called = true; return f(w) }
			}
		}
		var buf bytes.Buffer
		err := WriteStream(&buf, srcs, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: WriteStream error = %v, want %q", c.name, err, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: WriteStream wrote %d bytes before failing validation", c.name, buf.Len())
		}
		dir := t.TempDir()
		err = WriteFileStream(filepath.Join(dir, "out.safetensors"), srcs, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: WriteFileStream error = %v, want %q", c.name, err, c.want)
		}
		if got := dirEntries(t, dir); len(got) != 0 {
			t.Errorf("%s: directory holds %q after a validation error", c.name, got)
		}
		if called {
			t.Errorf("%s: Fill called despite a validation error", c.name)
		}
	}
}
