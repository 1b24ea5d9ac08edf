package gguf

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
)

// File is one parsed GGUF file.
//
// A File from [Open] memory-maps the file read-only (on Unix; elsewhere it
// reads it into memory); the file must not be truncated or rewritten in place
// while it is open. A File from [Parse] aliases the caller's buffer. The
// exported fields are the parsed header; treat them as read-only. The methods
// may be called concurrently, but not concurrently with [File.Close], which
// invalidates every slice returned by [File.TensorData].
type File struct {
	Version uint32
	// KV is the metadata in file order. Keys are unique.
	KV []KV
	// Tensors is the tensor infos in file order. Names are unique; every
	// tensor's data lies inside the file, aligned, with no overlaps.
	Tensors []TensorInfo
	// Alignment is general.alignment, or 32 when absent.
	Alignment int64
	// DataOffset is the file offset of the data section.
	DataOffset int64

	buf     []byte
	mapped  bool
	keys    map[string]int
	tensors map[string]int
}

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// maxNesting bounds the depth of arrays of arrays.
const maxNesting = 8

// Minimum encoded sizes, used to bound counts by the bytes left before
// allocating anything.
const (
	minKVBytes     = 8 + 4 + 1     // empty key, type, 1-byte value
	minTensorBytes = 8 + 4 + 4 + 8 // empty name, n_dims = 0, type, offset
	minArrayBytes  = 4 + 8         // element type, count
	maxDims        = 4             // GGML_MAX_DIMS
)

// Open memory-maps and parses the GGUF file at path. The File must be closed
// with [File.Close]. Errors name the path.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s: not a regular file", path)
	}
	if size == 0 {
		return nil, fmt.Errorf("gguf: %s: empty file", path)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("gguf: %s: file too large (%d bytes)", path, size)
	}
	buf, mapped, err := mapFile(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f, err := Parse(buf)
	if err != nil {
		if mapped {
			unmapFile(buf)
		}
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	f.mapped = mapped
	return f, nil
}

// Close releases the file's memory mapping. It is idempotent and safe on a
// File from Parse (where it does nothing but drop the reference).
func (f *File) Close() error {
	if f == nil || f.buf == nil {
		return nil
	}
	buf, mapped := f.buf, f.mapped
	f.buf, f.mapped = nil, false
	if mapped {
		return unmapFile(buf)
	}
	return nil
}

// Parse parses a GGUF file held in buf. The File aliases buf, which must not
// be modified while the File is in use.
func Parse(buf []byte) (*File, error) {
	p := &parser{buf: buf}
	magic, err := p.bytes(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != "GGUF" {
		return nil, ErrBadMagic
	}
	f := &File{buf: buf, Alignment: DefaultAlignment}
	if f.Version, err = p.u32("version"); err != nil {
		return nil, err
	}
	switch {
	case f.Version == 2 || f.Version == 3:
	case f.Version&0xffff == 0 && (bswap32(f.Version) == 2 || bswap32(f.Version) == 3):
		return nil, p.errAt(4, "big-endian GGUF (version %d) is not supported", bswap32(f.Version))
	default:
		return nil, p.errAt(4, "unsupported GGUF version %d (want 2 or 3)", f.Version)
	}
	nTensors, err := p.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := p.u64("metadata count")
	if err != nil {
		return nil, err
	}
	if nKV > uint64(p.left())/minKVBytes {
		return nil, p.errf("metadata count %d is impossible in the %d bytes left", nKV, p.left())
	}
	if nTensors > uint64(p.left())/minTensorBytes {
		return nil, p.errf("tensor count %d is impossible in the %d bytes left", nTensors, p.left())
	}

	f.KV = make([]KV, 0, nKV)
	f.keys = make(map[string]int, nKV)
	for i := uint64(0); i < nKV; i++ {
		at := p.off
		key, err := p.str("metadata key")
		if err != nil {
			return nil, err
		}
		if _, dup := f.keys[key]; dup {
			return nil, p.errAt(at, "duplicate metadata key %q", key)
		}
		t, err := p.u32("value type of " + key)
		if err != nil {
			return nil, err
		}
		v, err := p.value(ValueType(t), key, 0)
		if err != nil {
			return nil, err
		}
		f.keys[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Type: ValueType(t), Value: v})
	}
	if i, ok := f.keys["general.alignment"]; ok {
		kv := f.KV[i]
		a, isU32 := kv.Value.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return nil, p.errf("general.alignment must be a uint32 power of two, got %s %v", kv.Type, kv.Value)
		}
		f.Alignment = int64(a)
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tensors = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		t, err := p.tensorInfo(f.Alignment)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensors[t.Name]; dup {
			return nil, p.errf("duplicate tensor name %q", t.Name)
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	if p.off > math.MaxInt64-f.Alignment {
		return nil, p.errf("header too large")
	}
	f.DataOffset = alignUp(p.off, f.Alignment)
	if err := f.checkData(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkData checks that every tensor's data lies inside the file and that no
// two tensors overlap.
func (f *File) checkData() error {
	size := int64(len(f.buf))
	for _, t := range f.Tensors {
		if f.DataOffset > size || t.Offset > size-f.DataOffset || t.Size > size-f.DataOffset-t.Offset {
			return &FormatError{f.DataOffset, fmt.Sprintf("tensor %q: data [%d, +%d) of the data section at %d runs past the end of the file (%d bytes)",
				t.Name, t.Offset, t.Size, f.DataOffset, size)}
		}
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(f.Tensors[a].Offset, f.Tensors[b].Offset) })
	for k := 1; k < len(order); k++ {
		a, b := f.Tensors[order[k-1]], f.Tensors[order[k]]
		if a.Offset+a.Size > b.Offset {
			return &FormatError{f.DataOffset + b.Offset, fmt.Sprintf("tensors %q [%d, +%d) and %q [%d, +%d) overlap",
				a.Name, a.Offset, a.Size, b.Name, b.Offset, b.Size)}
		}
	}
	return nil
}

// Lookup returns the metadata pair with the given key.
func (f *File) Lookup(key string) (KV, bool) {
	i, ok := f.keys[key]
	if !ok {
		return KV{}, false
	}
	return f.KV[i], true
}

// Str returns the string value of key; ok is false if the key is absent or
// not a string.
func (f *File) Str(key string) (s string, ok bool) {
	kv, _ := f.Lookup(key)
	s, ok = kv.Value.(string)
	return s, ok
}

// Uint returns the value of key if it is an integer of any width and
// signedness holding a non-negative value.
func (f *File) Uint(key string) (uint64, bool) {
	kv, _ := f.Lookup(key)
	return asUint(kv.Value)
}

// Float returns the value of key if it is a float32 (widened exactly) or a
// float64.
func (f *File) Float(key string) (float64, bool) {
	kv, _ := f.Lookup(key)
	switch v := kv.Value.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// Bool returns the value of key if it is a bool.
func (f *File) Bool(key string) (v bool, ok bool) {
	kv, _ := f.Lookup(key)
	v, ok = kv.Value.(bool)
	return v, ok
}

// Strs returns the value of key if it is an array of strings. The slice is
// shared with the File; do not modify it.
func (f *File) Strs(key string) ([]string, bool) {
	kv, _ := f.Lookup(key)
	a, ok := kv.Value.(Array)
	if !ok {
		return nil, false
	}
	s, ok := a.Values.([]string)
	return s, ok
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorData returns the raw bytes of the named tensor. The slice aliases the
// file's memory: it is read-only and valid until [File.Close].
func (f *File) TensorData(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	if f.buf == nil {
		return nil, fmt.Errorf("gguf: tensor %q: file is closed", name)
	}
	at := f.DataOffset + t.Offset
	return f.buf[at : at+t.Size : at+t.Size], nil
}

// asUint converts any integer value to uint64 if it is non-negative.
func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// parser reads little-endian values from buf, checking every length.
type parser struct {
	buf []byte
	off int64
}

func (p *parser) left() int64 { return int64(len(p.buf)) - p.off }

func (p *parser) errAt(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errf(format string, args ...any) error { return p.errAt(p.off, format, args...) }

// bytes returns the next n bytes.
func (p *parser) bytes(n int64, what string) ([]byte, error) {
	if n < 0 || n > p.left() {
		return nil, p.errf("truncated: %s needs %d bytes, %d left", what, n, p.left())
	}
	b := p.buf[p.off : p.off+n]
	p.off += n
	return b, nil
}

func (p *parser) u32(what string) (uint32, error) {
	b, err := p.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (p *parser) u64(what string) (uint64, error) {
	b, err := p.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a u64 length and that many bytes, copied into a string.
func (p *parser) str(what string) (string, error) {
	at := p.off
	n, err := p.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(p.left()) {
		return "", p.errAt(at, "%s length %d exceeds the %d bytes left", what, n, p.left())
	}
	b, _ := p.bytes(int64(n), what)
	return string(b), nil
}

// value reads one value of type t; what names it in errors.
func (p *parser) value(t ValueType, what string, depth int) (any, error) {
	if t == TypeString {
		return p.str(what)
	}
	if t == TypeArray {
		return p.array(what, depth)
	}
	size := t.scalarSize()
	if size == 0 {
		return nil, p.errAt(p.off-4, "%s: unknown value type %d", what, uint32(t))
	}
	b, err := p.bytes(int64(size), what)
	if err != nil {
		return nil, err
	}
	return p.scalar(t, b, what)
}

// scalar decodes one fixed-size value from b (len(b) == t.scalarSize()).
func (p *parser) scalar(t ValueType, b []byte, what string) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeUint16:
		return le.Uint16(b), nil
	case TypeInt16:
		return int16(le.Uint16(b)), nil
	case TypeUint32:
		return le.Uint32(b), nil
	case TypeInt32:
		return int32(le.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case TypeBool:
		if b[0] > 1 {
			return nil, p.errAt(p.off-1, "%s: bool value %d is neither 0 nor 1", what, b[0])
		}
		return b[0] == 1, nil
	case TypeUint64:
		return le.Uint64(b), nil
	case TypeInt64:
		return int64(le.Uint64(b)), nil
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b)), nil
	}
	return nil, p.errf("%s: unknown value type %d", what, uint32(t))
}

// array reads an array value: element type, count, elements.
func (p *parser) array(what string, depth int) (Array, error) {
	if depth >= maxNesting {
		return Array{}, p.errf("%s: arrays nested deeper than %d", what, maxNesting)
	}
	et, err := p.u32(what + " element type")
	if err != nil {
		return Array{}, err
	}
	elem := ValueType(et)
	at := p.off
	n, err := p.u64(what + " element count")
	if err != nil {
		return Array{}, err
	}
	var minSize int64
	switch {
	case elem == TypeString:
		minSize = 8
	case elem == TypeArray:
		minSize = minArrayBytes
	case elem.scalarSize() > 0:
		minSize = int64(elem.scalarSize())
	default:
		return Array{}, p.errAt(at-4, "%s: unknown array element type %d", what, et)
	}
	if n > uint64(p.left()/minSize) {
		return Array{}, p.errAt(at, "%s: %d elements of %s cannot fit in the %d bytes left", what, n, elem, p.left())
	}
	count := int(n)
	a := Array{Elem: elem}
	switch elem {
	case TypeString:
		v := make([]string, count)
		for i := range v {
			if v[i], err = p.str(what); err != nil {
				return Array{}, err
			}
		}
		a.Values = v
	case TypeArray:
		v := make([]Array, count)
		for i := range v {
			if v[i], err = p.array(what, depth+1); err != nil {
				return Array{}, err
			}
		}
		a.Values = v
	default:
		b, _ := p.bytes(int64(count)*minSize, what)
		if a.Values, err = p.scalars(elem, b, count, what); err != nil {
			return Array{}, err
		}
	}
	return a, nil
}

// scalars decodes count fixed-size values of type t from b into a typed slice.
func (p *parser) scalars(t ValueType, b []byte, count int, what string) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return slices.Clone(b), nil
	case TypeInt8:
		v := make([]int8, count)
		for i := range v {
			v[i] = int8(b[i])
		}
		return v, nil
	case TypeUint16:
		v := make([]uint16, count)
		for i := range v {
			v[i] = le.Uint16(b[2*i:])
		}
		return v, nil
	case TypeInt16:
		v := make([]int16, count)
		for i := range v {
			v[i] = int16(le.Uint16(b[2*i:]))
		}
		return v, nil
	case TypeUint32:
		v := make([]uint32, count)
		for i := range v {
			v[i] = le.Uint32(b[4*i:])
		}
		return v, nil
	case TypeInt32:
		v := make([]int32, count)
		for i := range v {
			v[i] = int32(le.Uint32(b[4*i:]))
		}
		return v, nil
	case TypeFloat32:
		v := make([]float32, count)
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return v, nil
	case TypeBool:
		v := make([]bool, count)
		for i := range v {
			if b[i] > 1 {
				return nil, p.errAt(p.off-int64(count-i), "%s: bool value %d is neither 0 nor 1", what, b[i])
			}
			v[i] = b[i] == 1
		}
		return v, nil
	case TypeUint64:
		v := make([]uint64, count)
		for i := range v {
			v[i] = le.Uint64(b[8*i:])
		}
		return v, nil
	case TypeInt64:
		v := make([]int64, count)
		for i := range v {
			v[i] = int64(le.Uint64(b[8*i:]))
		}
		return v, nil
	case TypeFloat64:
		v := make([]float64, count)
		for i := range v {
			v[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return v, nil
	}
	return nil, p.errf("%s: unknown value type %d", what, uint32(t))
}

// tensorInfo reads one tensor info and validates its dims, type, size and
// alignment (not yet its position in the file).
func (p *parser) tensorInfo(alignment int64) (TensorInfo, error) {
	at := p.off
	name, err := p.str("tensor name")
	if err != nil {
		return TensorInfo{}, err
	}
	what := fmt.Sprintf("tensor %q", name)
	nd, err := p.u32(what + " n_dims")
	if err != nil {
		return TensorInfo{}, err
	}
	if nd > maxDims {
		return TensorInfo{}, p.errAt(at, "%s has %d dims (at most %d)", what, nd, maxDims)
	}
	t := TensorInfo{Name: name, Dims: make([]int64, nd)}
	numel := int64(1)
	for i := range t.Dims {
		d, err := p.u64(what + " dim")
		if err != nil {
			return TensorInfo{}, err
		}
		if d > math.MaxInt64 || (d > 0 && numel > math.MaxInt64/int64(d)) {
			return TensorInfo{}, p.errAt(at, "%s: dims overflow", what)
		}
		t.Dims[i] = int64(d)
		numel *= int64(d)
	}
	typ, err := p.u32(what + " type")
	if err != nil {
		return TensorInfo{}, err
	}
	t.Type = TensorType(typ)
	info, known := typeInfo[t.Type]
	if !known {
		return TensorInfo{}, p.errAt(at, "%s: unknown ggml tensor type %d", what, typ)
	}
	rowLen := int64(1)
	if nd > 0 {
		rowLen = t.Dims[0]
	}
	if rowLen%info.blockSize != 0 {
		return TensorInfo{}, p.errAt(at, "%s: row length %d is not a multiple of the %s block size %d", what, rowLen, t.Type, info.blockSize)
	}
	blocks := numel / info.blockSize
	if blocks > math.MaxInt64/info.blockBytes {
		return TensorInfo{}, p.errAt(at, "%s: byte size overflows", what)
	}
	t.Size = blocks * info.blockBytes
	off, err := p.u64(what + " offset")
	if err != nil {
		return TensorInfo{}, err
	}
	if off > math.MaxInt64 {
		return TensorInfo{}, p.errAt(at, "%s: offset %d overflows", what, off)
	}
	if int64(off)%alignment != 0 {
		return TensorInfo{}, p.errAt(at, "%s: offset %d is not a multiple of the alignment %d", what, off, alignment)
	}
	t.Offset = int64(off)
	return t, nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

func bswap32(x uint32) uint32 {
	return x>>24 | (x>>8)&0xff00 | (x<<8)&0xff0000 | x<<24
}
