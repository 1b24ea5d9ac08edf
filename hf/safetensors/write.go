package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Write writes a safetensors file holding tensors and metadata to w.
//
// The data buffer holds the tensors' Data in the order of the tensors slice,
// contiguous, with no gaps. The header is compact JSON: "__metadata__" first
// (only when metadata is non-empty; its keys sorted), then the tensors in the
// same order as their data, padded with spaces so that the data buffer starts
// at an offset that is a multiple of 8.
//
// Every tensor is validated before anything is written: its DType must be
// known, len(Data) must equal Numel()*DType.Size(), names must be non-empty,
// unique, valid UTF-8 and not "__metadata__"; metadata must be valid UTF-8.
// On a validation error nothing is written to w. Write neither retains nor
// modifies tensors or metadata.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	return WriteStream(w, inMemory(tensors), metadata)
}

// WriteFile writes tensors and metadata as by [Write] to a temporary file
// path+".tmp-*" in the same directory, fsyncs it, and renames it to path, so
// that path either keeps its old contents or holds the complete new file.
// On error the temporary file is removed: nothing half-written is left
// behind. The new file has mode 0644. Arguments are validated before the
// file system is touched.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	return WriteFileStream(path, inMemory(tensors), metadata)
}

// Source is a tensor for [WriteStream] and [WriteFileStream] whose data is
// produced only when the writer reaches it, so that a file of many large
// tensors can be written while holding about one of them in memory.
type Source struct {
	Name  string
	DType DType
	Shape []int64
	// Fill writes the tensor's data to w: exactly Numel()*DType.Size()
	// bytes, the elements in row-major (C) order, each little-endian. It is
	// called once, in the order of the sources, right after the data of the
	// previous source (the first one right after the header), also for a
	// tensor of zero bytes; it is not called once an earlier step has
	// failed. A Write to w that would go past the declared size writes
	// nothing and fails. Fill must not retain w.
	Fill func(w io.Writer) error

	data []byte // the Data of a Tensor given to Write (Fill is nil)
	mem  bool
}

// inMemory wraps tensors as sources whose data is already in memory.
func inMemory(tensors []Tensor) []Source {
	srcs := make([]Source, len(tensors))
	for i, t := range tensors {
		srcs[i] = Source{Name: t.Name, DType: t.DType, Shape: t.Shape, data: t.Data, mem: true}
	}
	return srcs
}

// WriteStream writes a safetensors file holding sources and metadata to w,
// byte for byte as [Write] writes tensors with the same names, dtypes,
// shapes and data. The header is written first, then each source's Fill is
// called in turn.
//
// The sources are validated as by Write before anything is written to w
// (Fill must be non-nil; the byte sizes come from Shape and DType). If a
// Fill fails or writes other than its tensor's byte size, WriteStream
// returns an error naming the tensor; what was written to w by then is an
// incomplete file. WriteStream retains neither sources nor metadata.
func WriteStream(w io.Writer, sources []Source, metadata map[string]string) error {
	header, sizes, err := buildHeader(sources, metadata)
	if err != nil {
		return err
	}
	return writeBody(w, header, sources, sizes)
}

// WriteFileStream writes sources and metadata as by [WriteStream] to a
// temporary file path+".tmp-*" in the same directory, fsyncs it, and renames
// it to path, with the guarantees of [WriteFile]: arguments are validated
// before the file system is touched, and on any error, including a Fill that
// fails or writes the wrong number of bytes, the temporary file is removed
// and path keeps its old contents.
func WriteFileStream(path string, sources []Source, metadata map[string]string) (err error) {
	header, sizes, err := buildHeader(sources, metadata)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := writeBody(bw, header, sources, sizes); err != nil {
		return fmt.Errorf("safetensors: %s: %w", tmp.Name(), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	// Make the rename durable. Best effort: some platforms and file systems
	// cannot sync a directory, and the file itself is complete either way.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeBody writes the length prefix, the padded header and the data;
// sizes[i] is the byte size of sources[i].
func writeBody(w io.Writer, header []byte, sources []Source, sizes []int64) error {
	prefix := make([]byte, 8, 8+len(header))
	binary.LittleEndian.PutUint64(prefix, uint64(len(header)))
	if _, err := w.Write(append(prefix, header...)); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	for i, s := range sources {
		if s.mem {
			if len(s.data) == 0 {
				continue
			}
			if _, err := w.Write(s.data); err != nil {
				return fmt.Errorf("safetensors: writing tensor %q: %w", s.Name, err)
			}
			continue
		}
		lw := &limitedWriter{w: w, left: sizes[i]}
		err := s.Fill(lw)
		switch {
		case lw.over > 0:
			return fmt.Errorf("safetensors: tensor %d (%q): Fill wrote at least %d bytes, shape %v of %s needs %d",
				i, s.Name, sizes[i]-lw.left+lw.over, s.Shape, s.DType, sizes[i])
		case err != nil:
			return fmt.Errorf("safetensors: writing tensor %q: %w", s.Name, err)
		case lw.left != 0:
			return fmt.Errorf("safetensors: tensor %d (%q): Fill wrote %d bytes, shape %v of %s needs %d",
				i, s.Name, sizes[i]-lw.left, s.Shape, s.DType, sizes[i])
		}
	}
	return nil
}

// limitedWriter passes at most left bytes on to w. A Write past the limit
// writes nothing, records its length in over and fails.
type limitedWriter struct {
	w    io.Writer
	left int64
	over int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.over > 0 || int64(len(p)) > l.left {
		l.over += int64(len(p))
		return 0, errors.New("safetensors: Fill wrote more bytes than the tensor's shape and dtype hold")
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

// buildHeader validates the arguments and returns the padded header JSON and
// the byte size of each source.
func buildHeader(sources []Source, metadata map[string]string) ([]byte, []int64, error) {
	seen := make(map[string]bool, len(sources))
	sizes := make([]int64, len(sources))
	for i, t := range sources {
		errf := func(format string, args ...any) error {
			return fmt.Errorf("safetensors: tensor %d (%q): %s", i, t.Name, fmt.Sprintf(format, args...))
		}
		switch {
		case t.Name == "":
			return nil, nil, errf("empty name")
		case t.Name == metadataKey:
			return nil, nil, errf("name %q is reserved for metadata", metadataKey)
		case !utf8.ValidString(t.Name):
			return nil, nil, errf("name is not valid UTF-8")
		case seen[t.Name]:
			return nil, nil, errf("duplicate name")
		}
		seen[t.Name] = true
		size := t.DType.Size()
		if size == 0 {
			return nil, nil, errf("unknown dtype %q", t.DType)
		}
		for j, d := range t.Shape {
			if d < 0 {
				return nil, nil, errf("shape[%d] = %d is negative", j, d)
			}
		}
		need, ok := byteSize(t.Shape, size)
		if !ok {
			return nil, nil, errf("shape %v of %s: byte size overflows int64", t.Shape, t.DType)
		}
		switch {
		case t.mem && int64(len(t.data)) != need:
			return nil, nil, errf("Data holds %d bytes, shape %v of %s needs %d", len(t.data), t.Shape, t.DType, need)
		case !t.mem && t.Fill == nil:
			return nil, nil, errf("Fill is nil")
		}
		sizes[i] = need
	}
	keys := make([]string, 0, len(metadata))
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("safetensors: metadata key %q: key or value is not valid UTF-8", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	if len(keys) > 0 {
		b.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
		first = false
	}
	var off int64
	num := make([]byte, 0, 24)
	for i, t := range sources {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(strconv.AppendInt(num[:0], d, 10))
		}
		b.WriteString(`],"data_offsets":[`)
		b.Write(strconv.AppendInt(num[:0], off, 10))
		b.WriteByte(',')
		if sizes[i] > math.MaxInt64-off {
			return nil, nil, fmt.Errorf("safetensors: tensor %d (%q): data buffer size overflows int64", i, t.Name)
		}
		off += sizes[i]
		b.Write(strconv.AppendInt(num[:0], off, 10))
		b.WriteString(`]}`)
	}
	b.WriteByte('}')
	for (8+b.Len())%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > maxHeaderLen {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes exceeds the 100 MiB limit", b.Len())
	}
	return b.Bytes(), sizes, nil
}

// writeJSONString appends s as a JSON string. Unlike json.Marshal it leaves
// <, > and & unescaped, as the reference writer does. s must be valid UTF-8.
func writeJSONString(b *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // cannot fail for a string
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}
