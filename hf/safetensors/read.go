package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"unicode/utf8"
)

// File is one parsed safetensors file.
//
// A File from [Open] memory-maps the file read-only (on Unix; elsewhere it
// reads the file into memory); the file must not be truncated or rewritten in
// place while it is open. A File from [Parse] aliases the caller's buffer.
// The methods of File are safe for concurrent use. [File.Close] invalidates
// the Data of every Tensor obtained from the File; it must not run while
// another goroutine still reads such Data.
type File struct {
	src      string // path, or "" for Parse
	buf      []byte // the whole file
	data     []byte // the data buffer, a suffix of buf
	mapped   bool   // buf came from mmap and must be unmapped
	names    []string
	entries  map[string]entry
	metadata map[string]string

	mu     sync.RWMutex // guards closed, buf and data
	closed bool
}

// entry is one tensor's header record, already validated.
type entry struct {
	name       string
	dtype      DType
	shape      []int64
	begin, end int64
}

// Open memory-maps and parses the safetensors file at path. Errors name the
// path. The returned File must be closed with [File.Close], which unmaps it.
func Open(path string) (*File, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// openFile is Open without the package prefix on errors.
func openFile(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: file is %d bytes, shorter than the 8-byte header length", path, size)
	}
	if uint64(size) > uint64(math.MaxInt) {
		return nil, fmt.Errorf("%s: file of %d bytes is too large to map", path, size)
	}
	buf, mapped, err := mapFile(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := parse(buf, path)
	if err != nil {
		if mapped {
			unmapFile(buf)
		}
		return nil, err
	}
	f.mapped = mapped
	return f, nil
}

// Parse parses a safetensors file held in memory. The File retains buf: the
// Data of its tensors are subslices of buf, so buf must not be modified while
// the File or its tensors are in use. [File.Close] on such a File only marks
// it closed; it does not touch buf.
func Parse(buf []byte) (*File, error) {
	f, err := parse(buf, "")
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// parse validates buf and builds a File. Errors start with src when it is
// non-empty.
func parse(buf []byte, src string) (*File, error) {
	errf := func(format string, args ...any) error {
		if src != "" {
			format = "%s: " + format
			args = append([]any{src}, args...)
		}
		return fmt.Errorf(format, args...)
	}
	if len(buf) < 8 {
		return nil, errf("file is %d bytes, shorter than the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > maxHeaderLen {
		return nil, errf("header length %d exceeds the 100 MiB limit", n)
	}
	if n > uint64(len(buf)-8) {
		return nil, errf("header length %d exceeds the %d bytes that follow the length prefix", n, len(buf)-8)
	}
	header := buf[8 : 8+n]
	if len(header) == 0 || header[0] != '{' {
		return nil, errf("header does not start with '{'")
	}
	if !utf8.Valid(header) {
		return nil, errf("header is not valid UTF-8")
	}
	members, end, err := decodeObject(header)
	if err != nil {
		return nil, errf("header: %v", err)
	}
	for i := end; i < int64(len(header)); i++ {
		if header[i] != ' ' {
			return nil, errf("header: unexpected byte %q at offset %d after the JSON object (only space padding may follow)", header[i], i)
		}
	}
	data := buf[8+n:]

	f := &File{
		src:     src,
		buf:     buf,
		data:    data,
		entries: make(map[string]entry, len(members)),
	}
	ordered := make([]entry, 0, len(members))
	for _, m := range members {
		if m.key == metadataKey {
			md, err := parseMetadata(m.val)
			if err != nil {
				return nil, errf("%v", err)
			}
			f.metadata = md
			continue
		}
		e, err := parseEntry(m.key, m.val, int64(len(data)))
		if err != nil {
			return nil, errf("tensor %q: %v", m.key, err)
		}
		f.entries[m.key] = e
		f.names = append(f.names, m.key)
		ordered = append(ordered, e)
	}

	// The tensors must tile the data buffer exactly.
	slices.SortFunc(ordered, func(a, b entry) int {
		if c := cmp.Compare(a.begin, b.begin); c != 0 {
			return c
		}
		if c := cmp.Compare(a.end, b.end); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	var pos int64
	prev := ""
	for _, e := range ordered {
		switch {
		case e.begin < pos:
			return nil, errf("tensor %q: data_offsets [%d,%d] overlap tensor %q, which ends at %d", e.name, e.begin, e.end, prev, pos)
		case e.begin > pos && prev == "":
			return nil, errf("hole in data buffer: bytes [%d,%d) before tensor %q belong to no tensor", pos, e.begin, e.name)
		case e.begin > pos:
			return nil, errf("hole in data buffer: bytes [%d,%d) between tensor %q and tensor %q belong to no tensor", pos, e.begin, prev, e.name)
		}
		pos, prev = e.end, e.name
	}
	if pos != int64(len(data)) {
		return nil, errf("data buffer has %d trailing bytes after the last tensor (tensors end at %d, buffer is %d bytes)", int64(len(data))-pos, pos, len(data))
	}
	slices.Sort(f.names)
	return f, nil
}

// parseMetadata decodes the "__metadata__" object.
func parseMetadata(raw []byte) (map[string]string, error) {
	members, _, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s must be an object of string to string: %v", metadataKey, err)
	}
	md := make(map[string]string, len(members))
	for _, m := range members {
		s, ok := jsonString(m.val)
		if !ok {
			return nil, fmt.Errorf("%s: value of key %q is %s, not a string", metadataKey, m.key, abbrev(m.val))
		}
		md[m.key] = s
	}
	return md, nil
}

// parseEntry decodes and validates one tensor's header record against a data
// buffer of dataLen bytes.
func parseEntry(name string, raw []byte, dataLen int64) (entry, error) {
	e := entry{name: name}
	members, _, err := decodeObject(raw)
	if err != nil {
		return e, fmt.Errorf("entry must be an object with dtype, shape and data_offsets: %v", err)
	}
	var dtypeRaw, shapeRaw, offRaw []byte
	for _, m := range members {
		switch m.key {
		case "dtype":
			dtypeRaw = m.val
		case "shape":
			shapeRaw = m.val
		case "data_offsets":
			offRaw = m.val
		default:
			return e, fmt.Errorf("unknown key %q (allowed: dtype, shape, data_offsets)", m.key)
		}
	}
	switch {
	case dtypeRaw == nil:
		return e, errors.New("missing key \"dtype\"")
	case shapeRaw == nil:
		return e, errors.New("missing key \"shape\"")
	case offRaw == nil:
		return e, errors.New("missing key \"data_offsets\"")
	}
	s, ok := jsonString(dtypeRaw)
	if !ok {
		return e, fmt.Errorf("dtype is %s, not a string", abbrev(dtypeRaw))
	}
	e.dtype = DType(s)
	if e.dtype.Size() == 0 {
		return e, fmt.Errorf("unknown dtype %q", s)
	}
	if e.shape, err = jsonUintArray(shapeRaw, "shape"); err != nil {
		return e, err
	}
	offs, err := jsonUintArray(offRaw, "data_offsets")
	if err != nil {
		return e, err
	}
	if len(offs) != 2 {
		return e, fmt.Errorf("data_offsets has %d entries, want 2 ([begin, end])", len(offs))
	}
	e.begin, e.end = offs[0], offs[1]
	if e.begin > e.end {
		return e, fmt.Errorf("data_offsets [%d,%d] are reversed (begin > end)", e.begin, e.end)
	}
	need, ok := byteSize(e.shape, e.dtype.Size())
	if !ok {
		return e, fmt.Errorf("shape %v of %s: byte size overflows int64", e.shape, e.dtype)
	}
	if have := e.end - e.begin; have != need {
		return e, fmt.Errorf("data_offsets [%d,%d] hold %d bytes, shape %v of %s needs %d", e.begin, e.end, have, e.shape, e.dtype, need)
	}
	if e.end > dataLen {
		return e, fmt.Errorf("data_offsets [%d,%d] extend past the end of the %d-byte data buffer", e.begin, e.end, dataLen)
	}
	return e, nil
}

// Names returns the tensor names in sorted order, in a new slice owned by
// the caller. It does not include "__metadata__".
func (f *File) Names() []string { return slices.Clone(f.names) }

// Tensor returns the named tensor. Its Data aliases the file's memory, is
// read-only and is valid until [File.Close]; its Shape is a fresh copy. The
// error names the missing tensor and the file.
func (f *File) Tensor(name string) (Tensor, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return Tensor{}, fmt.Errorf("safetensors: %s: file is closed", f.describe())
	}
	e, ok := f.entries[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: no tensor %q in %s", name, f.describe())
	}
	return Tensor{
		Name:  name,
		DType: e.dtype,
		Shape: slices.Clone(e.shape),
		Data:  f.data[e.begin:e.end:e.end],
	}, nil
}

// has reports whether the file holds a tensor called name.
func (f *File) has(name string) bool {
	_, ok := f.entries[name]
	return ok
}

// describe names the file in messages.
func (f *File) describe() string {
	if f.src == "" {
		return "in-memory file"
	}
	return f.src
}

// Metadata returns a copy of the "__metadata__" map, owned by the caller, or
// nil if the file has none (or it is empty).
func (f *File) Metadata() map[string]string {
	if len(f.metadata) == 0 {
		return nil
	}
	out := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		out[k] = v
	}
	return out
}

// Close releases the file: for a File from [Open] it unmaps the memory, so
// the Data of every Tensor obtained from f becomes invalid (reading it may
// crash the program). Tensor calls after Close return an error; Names and
// Metadata keep working. Close is idempotent; later calls return nil.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	buf := f.buf
	f.buf, f.data = nil, nil
	if f.mapped {
		if err := unmapFile(buf); err != nil {
			return fmt.Errorf("safetensors: %s: unmap: %w", f.src, err)
		}
	}
	return nil
}
