package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
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
	header, err := buildHeader(tensors, metadata)
	if err != nil {
		return err
	}
	return writeBody(w, header, tensors)
}

// WriteFile writes tensors and metadata as by [Write] to a temporary file
// path+".tmp-*" in the same directory, fsyncs it, and renames it to path, so
// that path either keeps its old contents or holds the complete new file.
// On error the temporary file is removed: nothing half-written is left
// behind. The new file has mode 0644. Arguments are validated before the
// file system is touched.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	header, err := buildHeader(tensors, metadata)
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
	if err := writeBody(bw, header, tensors); err != nil {
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

// writeBody writes the length prefix, the padded header and the data.
func writeBody(w io.Writer, header []byte, tensors []Tensor) error {
	prefix := make([]byte, 8, 8+len(header))
	binary.LittleEndian.PutUint64(prefix, uint64(len(header)))
	if _, err := w.Write(append(prefix, header...)); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	for _, t := range tensors {
		if len(t.Data) == 0 {
			continue
		}
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// buildHeader validates the arguments and returns the padded header JSON.
func buildHeader(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		errf := func(format string, args ...any) error {
			return fmt.Errorf("safetensors: tensor %d (%q): %s", i, t.Name, fmt.Sprintf(format, args...))
		}
		switch {
		case t.Name == "":
			return nil, errf("empty name")
		case t.Name == metadataKey:
			return nil, errf("name %q is reserved for metadata", metadataKey)
		case !utf8.ValidString(t.Name):
			return nil, errf("name is not valid UTF-8")
		case seen[t.Name]:
			return nil, errf("duplicate name")
		}
		seen[t.Name] = true
		size := t.DType.Size()
		if size == 0 {
			return nil, errf("unknown dtype %q", t.DType)
		}
		for j, d := range t.Shape {
			if d < 0 {
				return nil, errf("shape[%d] = %d is negative", j, d)
			}
		}
		need, ok := byteSize(t.Shape, size)
		if !ok {
			return nil, errf("shape %v of %s: byte size overflows int64", t.Shape, t.DType)
		}
		if int64(len(t.Data)) != need {
			return nil, errf("Data holds %d bytes, shape %v of %s needs %d", len(t.Data), t.Shape, t.DType, need)
		}
	}
	keys := make([]string, 0, len(metadata))
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("safetensors: metadata key %q: key or value is not valid UTF-8", k)
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
	for _, t := range tensors {
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
		off += int64(len(t.Data))
		b.Write(strconv.AppendInt(num[:0], off, 10))
		b.WriteString(`]}`)
	}
	b.WriteByte('}')
	for (8+b.Len())%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > maxHeaderLen {
		return nil, fmt.Errorf("safetensors: header of %d bytes exceeds the 100 MiB limit", b.Len())
	}
	return b.Bytes(), nil
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
