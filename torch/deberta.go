package torch

/*
#include <stdlib.h>
#include "nashmd.h"
*/
import "C"

import (
	"archive/zip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/nashmd/nashmd/hf/safetensors"
)

// ---- config ------------------------------------------------------------------------

// DebertaConfig is the part of a DeBERTa-v2/v3 config.json (model_type
// "deberta-v2") that the encoder reads. Absent keys take DebertaV2Config's
// defaults (and the getattr defaults of modeling_deberta_v2.py).
type DebertaConfig struct {
	ModelType             string  `json:"model_type"`
	VocabSize             int64   `json:"vocab_size"`
	HiddenSize            int64   `json:"hidden_size"`
	NumHiddenLayers       int64   `json:"num_hidden_layers"`
	NumAttentionHeads     int64   `json:"num_attention_heads"`
	IntermediateSize      int64   `json:"intermediate_size"`
	HiddenAct             string  `json:"hidden_act"`
	MaxPositionEmbeddings int64   `json:"max_position_embeddings"`
	TypeVocabSize         int64   `json:"type_vocab_size"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	RelativeAttention     bool    `json:"relative_attention"`
	MaxRelativePositions  int64   `json:"max_relative_positions"` // < 1: MaxPositionEmbeddings
	PositionBuckets       int64   `json:"position_buckets"`       // ≤ 0: no log buckets
	ShareAttKey           bool    `json:"share_att_key"`
	// PosAttType lists "c2p" and/or "p2c" (config.json may spell it as a
	// list or as "p2c|c2p"); other entries are ignored, as transformers does.
	PosAttType          []string `json:"-"`
	PositionBiasedInput bool     `json:"position_biased_input"`
	NormRelEbd          string   `json:"norm_rel_ebd"` // "layer_norm" or "none"
	EmbeddingSize       int64    `json:"embedding_size"`
	PadTokenID          int64    `json:"pad_token_id"`
	ConvKernelSize      int64    `json:"conv_kernel_size"` // > 0 is unsupported
}

// ReadDebertaConfig reads dir/config.json (or the file path itself).
func ReadDebertaConfig(path string) (*DebertaConfig, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deberta config: %w", err)
	}
	c, err := ParseDebertaConfig(data)
	if err != nil {
		return nil, fmt.Errorf("deberta config: %s: %w", path, err)
	}
	return c, nil
}

// ParseDebertaConfig parses config.json. It refuses a model_type other than
// "deberta-v2" (absent is accepted) and a hidden_act other than "gelu".
func ParseDebertaConfig(data []byte) (*DebertaConfig, error) {
	c := &DebertaConfig{ // DebertaV2Config's defaults
		VocabSize: 128100, HiddenSize: 1536, NumHiddenLayers: 24, NumAttentionHeads: 24,
		IntermediateSize: 6144, HiddenAct: "gelu", MaxPositionEmbeddings: 512,
		LayerNormEps: 1e-7, MaxRelativePositions: -1, PositionBuckets: -1,
		PositionBiasedInput: true, NormRelEbd: "none",
	}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, err
	}
	var extra struct {
		PosAttType    json.RawMessage `json:"pos_att_type"`
		EmbeddingSize *int64          `json:"embedding_size"`
	}
	if err := json.Unmarshal(data, &extra); err != nil {
		return nil, err
	}
	if extra.EmbeddingSize == nil {
		c.EmbeddingSize = c.HiddenSize
	}
	if p := extra.PosAttType; len(p) > 0 && string(p) != "null" {
		var s string
		if err := json.Unmarshal(p, &s); err == nil {
			for _, x := range strings.Split(s, "|") {
				c.PosAttType = append(c.PosAttType, strings.ToLower(strings.TrimSpace(x)))
			}
		} else if err := json.Unmarshal(p, &c.PosAttType); err != nil {
			return nil, fmt.Errorf("pos_att_type is %s, not a list or a string", p)
		}
	}
	if c.ModelType != "" && c.ModelType != "deberta-v2" {
		return nil, fmt.Errorf("model_type %q is not deberta-v2", c.ModelType)
	}
	if c.HiddenAct != "gelu" {
		return nil, fmt.Errorf("hidden_act %q is unsupported (only \"gelu\")", c.HiddenAct)
	}
	return c, nil
}

func (c *DebertaConfig) c() C.nm_deberta_config {
	var pat C.int32_t
	for _, t := range c.PosAttType {
		switch t {
		case "c2p":
			pat |= C.NM_DEBERTA_C2P
		case "p2c":
			pat |= C.NM_DEBERTA_P2C
		}
	}
	layerNorm := false
	for _, x := range strings.Split(strings.ToLower(c.NormRelEbd), "|") {
		layerNorm = layerNorm || strings.TrimSpace(x) == "layer_norm"
	}
	return C.nm_deberta_config{
		vocab_size:              C.int64_t(c.VocabSize),
		hidden_size:             C.int64_t(c.HiddenSize),
		num_hidden_layers:       C.int64_t(c.NumHiddenLayers),
		num_attention_heads:     C.int64_t(c.NumAttentionHeads),
		intermediate_size:       C.int64_t(c.IntermediateSize),
		max_position_embeddings: C.int64_t(c.MaxPositionEmbeddings),
		type_vocab_size:         C.int64_t(c.TypeVocabSize),
		layer_norm_eps:          C.double(c.LayerNormEps),
		relative_attention:      cbool(c.RelativeAttention),
		max_relative_positions:  C.int64_t(c.MaxRelativePositions),
		position_buckets:        C.int64_t(c.PositionBuckets),
		share_att_key:           cbool(c.ShareAttKey),
		pos_att_type:            pat,
		position_biased_input:   cbool(c.PositionBiasedInput),
		norm_rel_ebd_layer_norm: cbool(layerNorm),
		embedding_size:          C.int64_t(c.EmbeddingSize),
		pad_token_id:            C.int64_t(c.PadTokenID),
		conv_kernel_size:        C.int64_t(c.ConvKernelSize),
	}
}

// ---- model -------------------------------------------------------------------------

// Deberta is a DeBERTa-v2/v3 encoder (transformers' DebertaV2Model) living
// in libtorch. Its parameters are named as in DebertaV2Model's state_dict,
// without a prefix. Close frees it; the Param tensors belong to it.
type Deberta struct {
	h      *C.nm_deberta
	Config *DebertaConfig
	params []Param
}

// NewDeberta builds an encoder with zero weights of dtype dt on device d.
// conv_kernel_size > 0 is an error.
func NewDeberta(c *DebertaConfig, dt DType, d Device) (*Deberta, error) {
	if err := checkDevice("NewDeberta", d); err != nil {
		return nil, err
	}
	cc := c.c()
	var h *C.nm_deberta
	if err := check("NewDeberta", C.nm_deberta_new(&cc, C.int32_t(dt), d.c(), &h)); err != nil {
		return nil, err
	}
	m := &Deberta{h: h, Config: c}
	var err error
	m.params, err = readParams("NewDeberta",
		func(n *C.int64_t) *C.nm_error { return C.nm_deberta_num_params(h, n) },
		func(i C.int64_t, name **C.char, t **C.nm_tensor) *C.nm_error {
			return C.nm_deberta_param(h, i, name, t)
		})
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// LoadDeberta reads config.json and the weights in dir (see OpenWeights)
// into a new encoder of dtype dt on device d. The encoder's weights are the
// checkpoint tensors named prefix + their DebertaV2Model name ("deberta."
// for DebertaV2For* checkpoints, "pretrained_model." for PairRM, "" for a
// bare DebertaV2Model); other lists, sorted, the checkpoint tensors outside
// the prefix (a head's weights, for OpenWeights to read). pytorch_model.bin
// is read only when allowPickle is true.
func LoadDeberta(dir, prefix string, dt DType, d Device, allowPickle bool) (m *Deberta, other []string, err error) {
	c, err := ReadDebertaConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	w, err := OpenWeights(dir, allowPickle)
	if err != nil {
		return nil, nil, err
	}
	defer w.Close()
	m, err = NewDeberta(c, dt, d)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	other, err = m.LoadWeights(w, prefix)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, other, nil
}

// Params lists the parameters in state_dict order. The slice is shared; do
// not modify it.
func (m *Deberta) Params() []Param { return m.params }

// SetParam copies t (same shape, any dtype or device) into the named
// parameter (its DebertaV2Model name, without prefix).
func (m *Deberta) SetParam(name string, t *Tensor) error {
	if m == nil || m.h == nil {
		return argError("SetParam", "nil or closed model")
	}
	h, err := t.handle("SetParam")
	if err != nil {
		return err
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return check("SetParam", C.nm_deberta_set_param(m.h, cs, h))
}

// LoadWeights copies every parameter from the tensors of w named prefix +
// parameter name. A missing parameter, or a tensor under the prefix that the
// encoder does not have, is an error naming them; embeddings.position_ids
// (a buffer older transformers saved) and, without position_biased_input,
// embeddings.position_embeddings.weight are skipped, as transformers skips
// them. other lists, sorted, the tensors of w outside the prefix.
func (m *Deberta) LoadWeights(w *Weights, prefix string) (other []string, err error) {
	if m == nil || m.h == nil || w == nil {
		return nil, argError("LoadWeights", "nil or closed model or weights")
	}
	want := map[string]bool{}
	for _, p := range m.params {
		want[p.Name] = true
	}
	var unexpected []string
	for _, full := range w.Names() {
		name, ok := strings.CutPrefix(full, prefix)
		if !ok {
			other = append(other, full)
			continue
		}
		if !want[name] {
			if name == "embeddings.position_ids" ||
				(name == "embeddings.position_embeddings.weight" && !m.Config.PositionBiasedInput) {
				continue
			}
			unexpected = append(unexpected, full)
			continue
		}
		s := NewScope()
		t := s.Weight(w, full)
		err = s.Err()
		if err == nil {
			err = m.SetParam(name, t)
		}
		s.Close()
		if err != nil {
			return nil, err
		}
		delete(want, name)
	}
	var missing []string
	for name := range want {
		missing = append(missing, prefix+name)
	}
	if len(missing)+len(unexpected) == 0 {
		return other, nil
	}
	sort.Strings(missing)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing weights: %s", len(missing), list(missing)))
	}
	if len(unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected weights: %s", len(unexpected), list(unexpected)))
	}
	return nil, fmt.Errorf("checkpoint does not fit the deberta-v2 config (prefix %q): %s", prefix, strings.Join(parts, "; "))
}

// Close frees the model and its parameter handles. Idempotent and nil-safe.
func (m *Deberta) Close() error {
	if m == nil || m.h == nil {
		return nil
	}
	for _, p := range m.params {
		p.Tensor.Close()
	}
	m.params = nil
	err := check("Deberta.Close", C.nm_deberta_free(m.h))
	m.h = nil
	return err
}

// DebertaHidden runs the encoder: ids (B, L) int64, mask (B, L) 0/1 with
// RIGHT padding (nil: no padding) → last_hidden_state (B, L, H) in the
// model's dtype. Position ids are 0..L−1; token types are all 0. Rows
// at padded positions hold what transformers computes there (pad queries
// attend nothing), but only real positions are meaningful.
func (s *Scope) DebertaHidden(m *Deberta, ids, mask *Tensor) *Tensor {
	return s.DebertaHiddenTypes(m, ids, mask, nil)
}

// DebertaHiddenTypes is DebertaHidden with token_type_ids types (B, L) int64
// (nil: zeros); a model with type_vocab_size 0 refuses them.
func (s *Scope) DebertaHiddenTypes(m *Deberta, ids, mask, types *Tensor) *Tensor {
	if m == nil || m.h == nil {
		return s.fail(argError("DebertaHidden", "nil or closed model"))
	}
	ins := []*Tensor{ids}
	var mh, th *C.nm_tensor
	if mask != nil {
		ins = append(ins, mask)
		mh = mask.h
	}
	if types != nil {
		ins = append(ins, types)
		th = types.h
	}
	return s.run("DebertaHidden", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_deberta_forward(m.h, ids.h, mh, th, o)
	}, ins...)
}

// DebertaRelativePositions returns transformers' build_relative_position:
// (q, k) int64 with r[i, j] = i − j, log-bucketed when buckets > 0 and
// maxPosition > 0 (make_log_bucket_position).
func (s *Scope) DebertaRelativePositions(q, k, buckets, maxPosition int64, d Device) *Tensor {
	return s.create("DebertaRelativePositions", d, func(o **C.nm_tensor) *C.nm_error {
		return C.nm_deberta_relative_positions(C.int64_t(q), C.int64_t(k), C.int64_t(buckets), C.int64_t(maxPosition), d.c(), o)
	})
}

// ---- checkpoint weights ----------------------------------------------------------------

// ErrPickleRefused is returned (wrapped) by OpenWeights for a directory
// whose weights are only in pytorch_model.bin when pickle is not allowed.
var ErrPickleRefused = errors.New("pickle checkpoints (pytorch_model.bin) are refused unless allow_pickle = true")

// Weights is a read-only view of the tensors of a checkpoint directory:
// model.safetensors (or its sharded index), else pytorch_model.bin (or
// pytorch_model.bin.index.json), zip-format files written by torch.save
// (PyTorch ≥ 1.6) of a dict of tensors. The .bin files are read by a
// restricted unpickler that builds only dicts, tuples, lists, strings,
// numbers and tensors, and refuses every other pickle global, so no code
// from the file runs. Not safe for concurrent use. Close releases the files.
type Weights struct {
	st    *safetensors.Checkpoint
	bins  []*torchBin
	where map[string]*torchBin
	names []string
}

// OpenWeights opens the weights in dir, preferring safetensors. A directory
// with only pytorch_model.bin gives an error wrapping ErrPickleRefused
// unless allowPickle is true.
func OpenWeights(dir string, allowPickle bool) (*Weights, error) {
	has := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	if has("model.safetensors.index.json") || has("model.safetensors") {
		ck, err := safetensors.OpenCheckpoint(dir)
		if err != nil {
			return nil, err
		}
		return &Weights{st: ck, names: ck.Names()}, nil
	}
	var files []string
	var index map[string]string
	switch {
	case has("pytorch_model.bin"):
		files = []string{"pytorch_model.bin"}
	case has("pytorch_model.bin.index.json"):
		raw, err := os.ReadFile(filepath.Join(dir, "pytorch_model.bin.index.json"))
		if err != nil {
			return nil, err
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "pytorch_model.bin.index.json"), err)
		}
		index = idx.WeightMap
		for _, f := range index {
			if f == "" || filepath.Base(f) != f || f == "." || f == ".." {
				return nil, fmt.Errorf("%s: shard %q is not a plain file name", dir, f)
			}
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		sort.Strings(files)
	default:
		return nil, fmt.Errorf("%s: no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json", dir)
	}
	if !allowPickle {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, files[0]), ErrPickleRefused)
	}
	w := &Weights{where: map[string]*torchBin{}}
	for _, f := range files {
		b, err := openTorchBin(filepath.Join(dir, f))
		if err != nil {
			w.Close()
			return nil, err
		}
		w.bins = append(w.bins, b)
		for name := range b.tensors {
			if index != nil && index[name] != f {
				w.Close()
				return nil, fmt.Errorf("%s holds %q, which the index does not assign to it", b.path, name)
			}
			if w.where[name] != nil {
				w.Close()
				return nil, fmt.Errorf("%s: tensor %q is in two shards", dir, name)
			}
			w.where[name] = b
			w.names = append(w.names, name)
		}
	}
	for name, f := range index {
		if w.where[name] == nil {
			w.Close()
			return nil, fmt.Errorf("%s: tensor %q listed in the index is missing from %s", dir, name, f)
		}
	}
	sort.Strings(w.names)
	return w, nil
}

// Names returns the tensor names, sorted, in a new slice.
func (w *Weights) Names() []string { return slices.Clone(w.names) }

// Weight copies the named checkpoint tensor into a new contiguous CPU tensor
// of the checkpoint's dtype, owned by s.
func (s *Scope) Weight(w *Weights, name string) *Tensor {
	if s.err != nil {
		return nil
	}
	var t safetensors.Tensor
	var err error
	switch {
	case w == nil || (w.st == nil && w.where == nil):
		err = argError("Weight", "nil or closed weights")
	case w.st != nil:
		t, err = w.st.Tensor(name)
	case w.where[name] == nil:
		err = &Error{Op: "Weight", Code: CodeArg, Msg: fmt.Sprintf("no tensor %q in the checkpoint", name)}
	default:
		t, err = w.where[name].tensor(name)
	}
	if err != nil {
		return s.fail(err)
	}
	return s.FromSafetensors(t, CPU)
}

// Close releases the files. Idempotent.
func (w *Weights) Close() error {
	if w == nil {
		return nil
	}
	var first error
	if w.st != nil {
		first = w.st.Close()
		w.st = nil
	}
	for _, b := range w.bins {
		if err := b.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	w.bins, w.where = nil, nil
	return first
}

// ---- pytorch_model.bin: zip archive + restricted unpickler ---------------------------------

// torchBin is one torch.save zip archive: <root>/data.pkl (the pickled dict)
// and <root>/data/<key> (each storage's raw little-endian bytes).
type torchBin struct {
	path    string
	f       *os.File
	records map[string]*zip.File // by name below <root>/
	tensors map[string]binTensor
}

// binTensor is a tensor as _rebuild_tensor_v2 describes it: a view
// (offset, shape, stride, in elements) of a storage.
type binTensor struct {
	st            pkStorage
	offset        int64
	shape, stride []int64
}

type pkStorage struct {
	dtype safetensors.DType
	key   string
	numel int64
}

var storageDTypes = map[string]safetensors.DType{
	"FloatStorage": safetensors.F32, "DoubleStorage": safetensors.F64, "HalfStorage": safetensors.F16,
	"BFloat16Storage": safetensors.BF16, "LongStorage": safetensors.I64, "IntStorage": safetensors.I32,
	"ByteStorage": safetensors.U8, "BoolStorage": safetensors.BOOL,
}

func openTorchBin(path string) (_ *torchBin, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "PK\x03\x04" {
		return nil, fmt.Errorf("%s: not a zip-format torch.save file (the legacy pre-1.6 format is unsupported; re-save it or convert it to safetensors)", path)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root := ""
	for _, zf := range zr.File {
		if dir, ok := strings.CutSuffix(zf.Name, "/data.pkl"); ok && !strings.Contains(dir, "/") {
			if root != "" {
				return nil, fmt.Errorf("%s: more than one data.pkl", path)
			}
			root = dir + "/"
		}
	}
	if root == "" {
		return nil, fmt.Errorf("%s: no <archive>/data.pkl: not a torch.save file", path)
	}
	b := &torchBin{path: path, f: f, records: map[string]*zip.File{}}
	for _, zf := range zr.File {
		if name, ok := strings.CutPrefix(zf.Name, root); ok {
			b.records[name] = zf
		}
	}
	if bo, ok := b.records["byteorder"]; ok {
		data, err := b.read(bo, 0, int64(bo.UncompressedSize64))
		if err != nil {
			return nil, err
		}
		if string(data) != "little" {
			return nil, fmt.Errorf("%s: byteorder %q is unsupported", path, data)
		}
	}
	pk := b.records["data.pkl"]
	if pk.UncompressedSize64 > 1<<30 {
		return nil, fmt.Errorf("%s: data.pkl of %d bytes is too large", path, pk.UncompressedSize64)
	}
	data, err := b.read(pk, 0, int64(pk.UncompressedSize64))
	if err != nil {
		return nil, err
	}
	top, err := unpickle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: data.pkl: %w", path, err)
	}
	d, ok := top.(*pkDict)
	if !ok {
		return nil, fmt.Errorf("%s: the pickled object is %T, not a dict of tensors", path, top)
	}
	b.tensors = map[string]binTensor{}
	for i, k := range d.keys {
		name, ok := k.(string)
		t, isT := d.vals[i].(binTensor)
		if !ok || !isT {
			continue // not a named tensor (no weights file has such entries)
		}
		if _, dup := b.tensors[name]; dup {
			return nil, fmt.Errorf("%s: tensor %q appears twice", path, name)
		}
		b.tensors[name] = t
	}
	return b, nil
}

// read returns n bytes at offset off of a record.
func (b *torchBin) read(zf *zip.File, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || uint64(off+n) > zf.UncompressedSize64 {
		return nil, fmt.Errorf("%s: %s: bytes [%d, %d) outside its %d bytes", b.path, zf.Name, off, off+n, zf.UncompressedSize64)
	}
	buf := make([]byte, n)
	if zf.Method == zip.Store { // torch.save never compresses: read in place
		start, err := zf.DataOffset()
		if err == nil {
			_, err = b.f.ReadAt(buf, start+off)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", b.path, zf.Name, err)
		}
		return buf, nil
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.path, zf.Name, err)
	}
	defer rc.Close()
	if _, err = io.CopyN(io.Discard, rc, off); err == nil {
		_, err = io.ReadFull(rc, buf)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.path, zf.Name, err)
	}
	return buf, nil
}

// tensor reads the named tensor's elements, made contiguous.
func (b *torchBin) tensor(name string) (safetensors.Tensor, error) {
	t := b.tensors[name]
	es := int64(t.st.dtype.Size())
	rec, ok := b.records["data/"+t.st.key]
	if !ok {
		return safetensors.Tensor{}, fmt.Errorf("%s: tensor %q: no storage record data/%s", b.path, name, t.st.key)
	}
	out := safetensors.Tensor{Name: name, DType: t.st.dtype, Shape: slices.Clone(t.shape)}
	bad := func(why string) (safetensors.Tensor, error) {
		return out, fmt.Errorf("%s: tensor %q (shape %v, stride %v, offset %d): %s", b.path, name, t.shape, t.stride, t.offset, why)
	}
	numel := t.st.numel
	if numel > int64(rec.UncompressedSize64)/es {
		return bad(fmt.Sprintf("storage of %d elements in a record of %d bytes", numel, rec.UncompressedSize64))
	}
	// Every bound below is checked against numel, so nothing overflows. A
	// weight never has more elements than its storage: more would be an
	// expanded (stride 0) or overlapping view, which no weights file holds.
	n := int64(1)
	span := int64(1) // 1 + the largest element offset the view reaches
	for i, sz := range t.shape {
		st := t.stride[i]
		switch {
		case sz == 0:
			out.Data = []byte{}
			return out, nil
		case sz < 0 || st < 0:
			return bad("negative size or stride")
		case sz > numel || n > numel/sz:
			return bad(fmt.Sprintf("more elements than its storage's %d", numel))
		case st > 0 && sz-1 > numel/st:
			return bad(fmt.Sprintf("outside its storage of %d elements", numel))
		}
		n *= sz
		span += (sz - 1) * st
	}
	if t.offset < 0 || t.offset > numel || span > numel-t.offset {
		return bad(fmt.Sprintf("outside its storage of %d elements", numel))
	}
	raw, err := b.read(rec, t.offset*es, span*es)
	if err != nil {
		return out, err
	}
	if contiguous(t.shape, t.stride) {
		out.Data = raw[:n*es]
		return out, nil
	}
	// Gather a strided view (a transposed or sliced tensor) row-major.
	out.Data = make([]byte, 0, n*es)
	idx := make([]int64, len(t.shape))
	for range n {
		var at int64
		for i, j := range idx {
			at += j * t.stride[i]
		}
		out.Data = append(out.Data, raw[at*es:(at+1)*es]...)
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < t.shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

func contiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// The restricted unpickler's values: string, int64, float64, bool, nil,
// []byte, pkTuple, *pkList, *pkDict, pkGlobal, pkStorage, binTensor.
type (
	pkTuple  []any
	pkList   struct{ items []any }
	pkDict   struct{ keys, vals []any }
	pkGlobal struct{ module, name string }
	pkMark   struct{}
)

// allowedGlobal reports whether a pickle global may appear in a weights file.
func allowedGlobal(g pkGlobal) bool {
	switch g.module {
	case "collections":
		return g.name == "OrderedDict"
	case "torch._utils":
		return g.name == "_rebuild_tensor_v2" || g.name == "_rebuild_parameter" ||
			g.name == "_rebuild_parameter_with_state"
	case "torch":
		_, ok := storageDTypes[g.name]
		return ok
	}
	return false
}

// unpickle decodes the pickle opcodes torch.save emits (protocols 2–5) into
// the values above. It calls nothing: REDUCE and BINPERSID are interpreted
// only for the allowed globals.
func unpickle(data []byte) (any, error) {
	var (
		stack []any
		memo  = map[uint32]any{}
		pos   int
	)
	take := func(n int) ([]byte, error) {
		if n < 0 || pos+n > len(data) {
			return nil, fmt.Errorf("truncated at byte %d", pos)
		}
		b := data[pos : pos+n]
		pos += n
		return b, nil
	}
	pop := func() (any, error) {
		if len(stack) == 0 {
			return nil, fmt.Errorf("stack underflow at byte %d", pos)
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := v.(pkMark); ok {
			return nil, fmt.Errorf("unexpected mark at byte %d", pos)
		}
		return v, nil
	}
	popMark := func() ([]any, error) {
		for i := len(stack) - 1; i >= 0; i-- {
			if _, ok := stack[i].(pkMark); ok {
				items := slices.Clone(stack[i+1:])
				stack = stack[:i]
				return items, nil
			}
		}
		return nil, fmt.Errorf("no mark at byte %d", pos)
	}
	le := func(n int) (uint64, error) {
		b, err := take(n)
		if err != nil {
			return 0, err
		}
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v, nil
	}
	line := func() (string, error) {
		i := slices.Index(data[pos:], '\n')
		if i < 0 {
			return "", fmt.Errorf("unterminated line at byte %d", pos)
		}
		s := string(data[pos : pos+i])
		pos += i + 1
		return s, nil
	}
	str := func(lenBytes int) (string, error) {
		n, err := le(lenBytes)
		if err != nil {
			return "", err
		}
		if n > uint64(len(data)) {
			return "", fmt.Errorf("string of %d bytes at byte %d", n, pos)
		}
		b, err := take(int(n))
		return string(b), err
	}
	setItems := func(d any, items []any) error {
		dict, ok := d.(*pkDict)
		if !ok || len(items)%2 != 0 {
			return fmt.Errorf("SETITEMS on %T at byte %d", d, pos)
		}
		for i := 0; i < len(items); i += 2 {
			dict.keys = append(dict.keys, items[i])
			dict.vals = append(dict.vals, items[i+1])
		}
		return nil
	}
	for {
		if pos >= len(data) {
			return nil, errors.New("no STOP opcode")
		}
		op := data[pos]
		pos++
		var err error
		var v any
		push := true
		switch op {
		case 0x80: // PROTO
			_, err = take(1)
			push = false
		case 0x95: // FRAME
			_, err = take(8)
			push = false
		case '.': // STOP
			return pop()
		case '(':
			v = pkMark{}
		case ')':
			v = pkTuple{}
		case 't':
			var items []any
			items, err = popMark()
			v = pkTuple(items)
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(stack) < n {
				return nil, fmt.Errorf("stack underflow at byte %d", pos)
			}
			items := slices.Clone(stack[len(stack)-n:])
			stack = stack[:len(stack)-n]
			v = pkTuple(items)
		case '}':
			v = &pkDict{}
		case 'd':
			var items []any
			if items, err = popMark(); err == nil {
				d := &pkDict{}
				err = setItems(d, items)
				v = d
			}
		case ']':
			v = &pkList{}
		case 'l':
			var items []any
			items, err = popMark()
			v = &pkList{items: items}
		case 'a', 'e': // APPEND, APPENDS
			push = false
			var items []any
			if op == 'a' {
				var x any
				x, err = pop()
				items = []any{x}
			} else {
				items, err = popMark()
			}
			if err == nil {
				if len(stack) == 0 {
					return nil, fmt.Errorf("APPEND with an empty stack at byte %d", pos)
				}
				l, ok := stack[len(stack)-1].(*pkList)
				if !ok {
					return nil, fmt.Errorf("APPEND on %T at byte %d", stack[len(stack)-1], pos)
				}
				l.items = append(l.items, items...)
			}
		case 's', 'u': // SETITEM, SETITEMS
			push = false
			var items []any
			if op == 's' {
				var k, x any
				if x, err = pop(); err == nil {
					k, err = pop()
				}
				items = []any{k, x}
			} else {
				items, err = popMark()
			}
			if err == nil {
				if len(stack) == 0 {
					return nil, fmt.Errorf("SETITEMS with an empty stack at byte %d", pos)
				}
				err = setItems(stack[len(stack)-1], items)
			}
		case 'N':
			v = nil
		case 0x88:
			v = true
		case 0x89:
			v = false
		case 'K': // BININT1
			var u uint64
			u, err = le(1)
			v = int64(u)
		case 'M': // BININT2
			var u uint64
			u, err = le(2)
			v = int64(u)
		case 'J': // BININT
			var u uint64
			u, err = le(4)
			v = int64(int32(uint32(u)))
		case 0x8a: // LONG1
			var n uint64
			if n, err = le(1); err == nil {
				if n > 8 {
					return nil, fmt.Errorf("integer of %d bytes at byte %d", n, pos)
				}
				var u uint64
				if u, err = le(int(n)); err == nil && n > 0 {
					shift := 64 - 8*n
					v = int64(u<<shift) >> shift // sign-extend
				} else {
					v = int64(0)
				}
			}
		case 'G': // BINFLOAT, big-endian
			var b []byte
			if b, err = take(8); err == nil {
				v = math.Float64frombits(binary.BigEndian.Uint64(b))
			}
		case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
			n := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8, 'T': 4, 'U': 1}[op]
			v, err = str(n)
		case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
			n := map[byte]int{'B': 4, 'C': 1, 0x8e: 8}[op]
			var s string
			s, err = str(n)
			v = []byte(s)
		case 'c': // GLOBAL
			var mod, name string
			if mod, err = line(); err == nil {
				name, err = line()
			}
			v = pkGlobal{mod, name}
		case 0x93: // STACK_GLOBAL
			var mod, name any
			if name, err = pop(); err == nil {
				mod, err = pop()
			}
			ms, ok1 := mod.(string)
			ns, ok2 := name.(string)
			if err == nil && (!ok1 || !ok2) {
				err = fmt.Errorf("STACK_GLOBAL of non-strings at byte %d", pos)
			}
			v = pkGlobal{ms, ns}
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			push = false
			var id uint64
			switch op {
			case 'q':
				id, err = le(1)
			case 'r':
				id, err = le(4)
			default:
				id = uint64(len(memo))
			}
			if err == nil {
				if len(stack) == 0 {
					return nil, fmt.Errorf("PUT with an empty stack at byte %d", pos)
				}
				memo[uint32(id)] = stack[len(stack)-1]
			}
		case 'h', 'j': // BINGET, LONG_BINGET
			var id uint64
			if id, err = le(map[byte]int{'h': 1, 'j': 4}[op]); err == nil {
				var ok bool
				if v, ok = memo[uint32(id)]; !ok {
					err = fmt.Errorf("memo %d unset at byte %d", id, pos)
				}
			}
		case '0': // POP
			push = false
			_, err = pop()
		case 'R': // REDUCE
			var args, fn any
			if args, err = pop(); err == nil {
				if fn, err = pop(); err == nil {
					v, err = reduce(fn, args)
				}
			}
		case 'Q': // BINPERSID
			var pid any
			if pid, err = pop(); err == nil {
				v, err = persistentStorage(pid)
			}
		case 'b': // BUILD: state for the object below it (OrderedDict._metadata): ignored
			push = false
			_, err = pop()
		default:
			return nil, fmt.Errorf("unsupported pickle opcode 0x%02x at byte %d", op, pos-1)
		}
		if err != nil {
			return nil, err
		}
		if g, ok := v.(pkGlobal); ok && !allowedGlobal(g) {
			return nil, fmt.Errorf("refusing pickle global %s.%s (not a tensor or dict)", g.module, g.name)
		}
		if push {
			stack = append(stack, v)
		}
	}
}

// persistentStorage decodes torch.save's persistent id
// ('storage', torch.<T>Storage, key, location, numel).
func persistentStorage(pid any) (any, error) {
	t, ok := pid.(pkTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %v is not a storage", pid)
	}
	g, ok1 := t[1].(pkGlobal)
	key, ok2 := t[2].(string)
	n, ok3 := t[4].(int64)
	dt, ok4 := storageDTypes[g.name]
	if !ok1 || !ok2 || !ok3 || !ok4 || g.module != "torch" || n < 0 {
		return nil, fmt.Errorf("unsupported storage %v", pid)
	}
	return pkStorage{dtype: dt, key: key, numel: n}, nil
}

// reduce applies an allowed global to its arguments.
func reduce(fn, args any) (any, error) {
	g, ok := fn.(pkGlobal)
	a, ok2 := args.(pkTuple)
	if !ok || !ok2 {
		return nil, fmt.Errorf("REDUCE of %T with %T", fn, args)
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(a) != 0 {
			return nil, errors.New("OrderedDict with arguments")
		}
		return &pkDict{}, nil
	case "torch._utils._rebuild_tensor_v2": // (storage, offset, size, stride, requires_grad, hooks[, metadata])
		if len(a) < 4 {
			return nil, errors.New("_rebuild_tensor_v2 with too few arguments")
		}
		st, ok1 := a[0].(pkStorage)
		off, ok2 := a[1].(int64)
		shape, ok3 := ints(a[2])
		stride, ok4 := ints(a[3])
		if !ok1 || !ok2 || !ok3 || !ok4 || len(shape) != len(stride) {
			return nil, fmt.Errorf("_rebuild_tensor_v2%v: unexpected arguments", a)
		}
		return binTensor{st: st, offset: off, shape: shape, stride: stride}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(a) < 1 {
			return nil, errors.New("_rebuild_parameter without data")
		}
		if t, ok := a[0].(binTensor); ok {
			return t, nil
		}
		return nil, fmt.Errorf("_rebuild_parameter of %T", a[0])
	}
	return nil, fmt.Errorf("refusing to call %s.%s", g.module, g.name)
}

func ints(v any) ([]int64, bool) {
	t, ok := v.(pkTuple)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(t))
	for i, x := range t {
		if out[i], ok = x.(int64); !ok {
			return nil, false
		}
	}
	return out, true
}
