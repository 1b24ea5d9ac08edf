package torch

/*
#include <stdlib.h>
#include "nashmd.h"
*/
import "C"

import (
	"fmt"
	"sort"
	"strings"
	"unsafe"

	"github.com/nashmd/nashmd/hf/config"
	"github.com/nashmd/nashmd/hf/safetensors"
)

// Model is a Llama-family decoder (Llama, SmolLM2, Qwen2, Mistral; causal LM
// or sequence classifier) living in libtorch. Its parameters are named by
// their checkpoint names. Close frees it; the Param tensors belong to it.
type Model struct {
	h      *C.nm_model
	Config *config.Llama
	params []Param
}

// Param is one named parameter. Tensor shares the model's storage: setting
// requires_grad on it makes it trainable. The model owns it.
type Param struct {
	Name   string
	Tensor *Tensor
}

// NewLlama builds a model with zero weights of dtype dt on device d.
func NewLlama(c *config.Llama, dt DType, d Device) (*Model, error) {
	if err := checkDevice("NewLlama", d); err != nil {
		return nil, err
	}
	cc := C.nm_llama_config{
		vocab_size:              C.int64_t(c.VocabSize),
		hidden_size:             C.int64_t(c.HiddenSize),
		intermediate_size:       C.int64_t(c.IntermediateSize),
		num_hidden_layers:       C.int64_t(c.NumHiddenLayers),
		num_attention_heads:     C.int64_t(c.NumAttentionHeads),
		num_key_value_heads:     C.int64_t(c.NumKeyValueHeads),
		head_dim:                C.int64_t(c.HeadDim),
		max_position_embeddings: C.int64_t(c.MaxPositionEmbeddings),
		rms_norm_eps:            C.double(c.RMSNormEps),
		rope_theta:              C.double(c.RopeTheta),
		attention_bias:          cbool(c.AttentionBias),
		tie_word_embeddings:     cbool(c.TieWordEmbeddings),
		num_labels:              C.int64_t(c.NumLabels),
	}
	if rs := c.RopeScaling; rs != nil {
		cc.rope_scaling = C.NM_ROPE_LLAMA3
		cc.rope_factor = C.double(rs.Factor)
		cc.rope_low_freq_factor = C.double(rs.LowFreqFactor)
		cc.rope_high_freq_factor = C.double(rs.HighFreqFactor)
		cc.rope_original_max_position_embeddings = C.int64_t(rs.OriginalMaxPositionEmbeddings)
	}
	var h *C.nm_model
	if err := check("NewLlama", C.nm_model_llama_new(&cc, C.int32_t(dt), d.c(), &h)); err != nil {
		return nil, err
	}
	m := &Model{h: h, Config: c}
	var err error
	m.params, err = readParams("NewLlama",
		func(n *C.int64_t) *C.nm_error { return C.nm_model_num_params(h, n) },
		func(i C.int64_t, name **C.char, t **C.nm_tensor) *C.nm_error { return C.nm_model_param(h, i, name, t) })
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// readParams lists a native model's parameters through its count and
// i-th-parameter calls. On error the handles read so far are closed.
func readParams(op string, count func(*C.int64_t) *C.nm_error,
	get func(C.int64_t, **C.char, **C.nm_tensor) *C.nm_error) ([]Param, error) {
	var n C.int64_t
	if err := check(op, count(&n)); err != nil {
		return nil, err
	}
	var ps []Param
	for i := range n {
		var name *C.char
		var t *C.nm_tensor
		if err := check(op, get(i, &name, &t)); err != nil {
			for _, p := range ps {
				p.Tensor.Close()
			}
			return nil, err
		}
		ps = append(ps, Param{Name: C.GoString(name), Tensor: &Tensor{h: t}})
	}
	return ps, nil
}

// LoadLlama reads config.json and the safetensors weights (single file or
// shards) from dir into a new model of dtype dt on device d.
func LoadLlama(dir string, dt DType, d Device) (*Model, error) {
	c, err := config.Load(dir)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	m, err := NewLlama(c, dt, d)
	if err != nil {
		return nil, err
	}
	if err := m.LoadWeights(ck); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

// SetGradientCheckpointing turns gradient checkpointing on or off: with
// grad enabled, each decoder layer keeps only its input and is re-run during
// backward (transformers' gradient_checkpointing): activation memory of one
// layer instead of all, for about one more forward pass.
func (m *Model) SetGradientCheckpointing(on bool) error {
	if m == nil || m.h == nil {
		return argError("SetGradientCheckpointing", "nil or closed model")
	}
	return check("SetGradientCheckpointing", C.nm_model_set_gradient_checkpointing(m.h, cbool(on)))
}

// Params lists the parameters in checkpoint order. The slice is shared; do
// not modify it.
func (m *Model) Params() []Param { return m.params }

// Device is where the model's weights live (CPU for a model without any).
func (m *Model) Device() Device {
	if m == nil || len(m.params) == 0 {
		return CPU
	}
	return m.params[0].Tensor.Device()
}

// SetParam copies t (same shape, any dtype or device) into the named parameter.
func (m *Model) SetParam(name string, t *Tensor) error {
	h, err := t.handle("SetParam")
	if err != nil {
		return err
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return check("SetParam", C.nm_model_set_param(m.h, cs, h))
}

// LoadWeights copies every parameter from ck. A parameter missing from ck,
// or a tensor in ck that the model does not have, is an error naming them
// (lm_head.weight is ignored for tied embeddings, as transformers does).
func (m *Model) LoadWeights(ck *safetensors.Checkpoint) error {
	want := map[string]bool{}
	for _, p := range m.params {
		want[p.Name] = true
	}
	var unexpected []string
	for _, name := range ck.Names() {
		if !want[name] {
			if !(name == "lm_head.weight" && m.Config.TieWordEmbeddings) {
				unexpected = append(unexpected, name)
			}
			continue
		}
		st, err := ck.Tensor(name)
		if err != nil {
			return err
		}
		s := NewScope()
		t := s.FromSafetensors(st, CPU)
		err = s.Err()
		if err == nil {
			err = m.SetParam(name, t)
		}
		s.Close()
		if err != nil {
			return err
		}
		delete(want, name)
	}
	var missing []string
	for name := range want {
		missing = append(missing, name)
	}
	if len(missing)+len(unexpected) == 0 {
		return nil
	}
	sort.Strings(missing)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing weights: %s", len(missing), list(missing)))
	}
	if len(unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected weights: %s", len(unexpected), list(unexpected)))
	}
	return fmt.Errorf("checkpoint does not fit the %s config: %s", m.Config.Architecture, strings.Join(parts, "; "))
}

func list(names []string) string {
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + fmt.Sprintf(", … (%d more)", len(names)-8)
	}
	return strings.Join(names, ", ")
}

// Close frees the model and its parameter handles. Idempotent and nil-safe.
func (m *Model) Close() error {
	if m == nil || m.h == nil {
		return nil
	}
	for _, p := range m.params {
		p.Tensor.Close()
	}
	m.params = nil
	err := check("Model.Close", C.nm_model_free(m.h))
	m.h = nil
	return err
}

func (s *Scope) forward(op string, m *Model, ids, mask *Tensor, what C.int32_t) *Tensor {
	if m == nil || m.h == nil {
		return s.fail(argError(op, "nil or closed model"))
	}
	ins := []*Tensor{ids}
	var mh *C.nm_tensor
	if mask != nil {
		ins = append(ins, mask)
		mh = mask.h
	}
	return s.run(op, func(o **C.nm_tensor) *C.nm_error { return C.nm_model_forward(m.h, ids.h, mh, what, o) }, ins...)
}

// Logits runs the causal LM: ids (B, L) int64, mask (B, L) with LEFT padding
// (nil: no padding) → logits (B, L, V) in the model's dtype. Position ids
// come from the mask (cumsum − 1), as transformers' generate computes them.
func (s *Scope) Logits(m *Model, ids, mask *Tensor) *Tensor {
	return s.forward("Logits", m, ids, mask, C.NM_OUT_LOGITS)
}

// Hidden returns the final hidden states (B, L, H), after the last norm.
func (s *Scope) Hidden(m *Model, ids, mask *Tensor) *Tensor {
	return s.forward("Hidden", m, ids, mask, C.NM_OUT_HIDDEN)
}

// Score runs a sequence classifier: (B, num_labels) at each row's last real token.
func (s *Scope) Score(m *Model, ids, mask *Tensor) *Tensor {
	return s.forward("Score", m, ids, mask, C.NM_OUT_SCORE)
}

// TokenLogprobs returns log softmax(logits[b, start+t] / temperature)[targets[b, t]]
// as float32 (B, L−start), without materialising the (B, L, V) logits
// (chunkRows rows at a time; ≤ 0 picks about 16 MiB of float32 per chunk). For the
// log-probs of completion tokens ids[:, P:] pass start = P−1 and targets =
// ids[:, P:]. Differentiable.
func (s *Scope) TokenLogprobs(m *Model, ids, mask, targets *Tensor, start int64, temperature float64, chunkRows int64) *Tensor {
	if m == nil || m.h == nil {
		return s.fail(argError("TokenLogprobs", "nil or closed model"))
	}
	ins := []*Tensor{ids, targets}
	var mh *C.nm_tensor
	if mask != nil {
		ins = append(ins, mask)
		mh = mask.h
	}
	return s.run("TokenLogprobs", func(o **C.nm_tensor) *C.nm_error {
		return C.nm_model_token_logprobs(m.h, ids.h, mh, targets.h, C.int64_t(start), C.double(temperature), C.int64_t(chunkRows), o)
	}, ins...)
}
