package torch

/*
#include <stdlib.h>
#include "nashmd.h"
*/
import "C"

import (
	"unsafe"
)

// GenConfig controls sampling. The zero value of TopP and TopK means "off".
type GenConfig struct {
	MaxNewTokens      int
	Temperature       float64 // ≤ 0 or Greedy: argmax
	TopK              int     // ≤ 0: off
	TopP              float64 // 0 or 1: off; else (0, 1)
	Greedy            bool
	EOS               []int64 // a row stops after producing any of these
	PadID             int64   // written after a row's EOS
	NoCache           bool    // recompute the whole prefix each step (tests, benchmarks)
	MinP              float64 // ≤ 0: off; else drop tokens below MinP × the top probability
	RepetitionPenalty float64 // 0 or 1: off; seen tokens' logits ×p if < 0, ÷p otherwise
}

// withC calls f with c as a C struct whose EOS list lives in C memory for
// the duration of the call (cgo forbids Go pointers inside Go memory passed to C).
func (c GenConfig) withC(f func(*C.nm_gen_config) *C.nm_error) *C.nm_error {
	topP := c.TopP
	if topP == 0 {
		topP = 1
	}
	cc := C.nm_gen_config{
		max_new_tokens:     C.int64_t(c.MaxNewTokens),
		temperature:        C.double(c.Temperature),
		top_k:              C.int64_t(c.TopK),
		top_p:              C.double(topP),
		greedy:             cbool(c.Greedy),
		n_eos:              C.int32_t(len(c.EOS)),
		pad_id:             C.int64_t(c.PadID),
		use_cache:          cbool(!c.NoCache),
		min_p:              C.double(c.MinP),
		repetition_penalty: C.double(max(c.RepetitionPenalty, 0)),
	}
	if cc.repetition_penalty == 0 {
		cc.repetition_penalty = 1
	}
	if len(c.EOS) > 0 {
		p := C.malloc(C.size_t(len(c.EOS)) * 8)
		defer C.free(p)
		copy(unsafe.Slice((*int64)(p), len(c.EOS)), c.EOS)
		cc.eos_ids = (*C.int64_t)(p)
	}
	return f(&cc)
}

// Generate samples up to c.MaxNewTokens after the left-padded prompts ids
// (B, P) with mask (nil: no padding). It returns tokens (B, T) int64, T ≤
// MaxNewTokens (generation stops once every row has ended), and the
// completion mask (B, T) int64: 1 up to and including each row's EOS.
// The whole decode loop runs in one C call, with a KV cache. g may be nil.
func (s *Scope) Generate(m *Model, ids, mask *Tensor, c GenConfig, g *Generator) (tokens, completionMask *Tensor) {
	if s.err != nil {
		return nil, nil
	}
	if m == nil || m.h == nil {
		return s.fail(argError("Generate", "nil or closed model")), nil
	}
	ins := []*Tensor{ids}
	var mh *C.nm_tensor
	if mask != nil {
		ins = append(ins, mask)
		mh = mask.h
	}
	var cm *C.nm_tensor
	tokens = s.run("Generate", func(o **C.nm_tensor) *C.nm_error {
		return c.withC(func(cc *C.nm_gen_config) *C.nm_error {
			return C.nm_generate(m.h, ids.h, mh, cc, g.c(), o, &cm)
		})
	}, ins...)
	if tokens == nil {
		return nil, nil
	}
	return tokens, s.adopt(cm)
}

// GenerateMixture samples Nash-MD's two streams from one prefill: y from the
// policy and y' from the geometric mixture softmax(((1−coef)·l_policy +
// coef·l_ref) / temperature). Shapes as Generate; both streams have the
// same T (the longer one's).
func (s *Scope) GenerateMixture(policy, ref *Model, coef float64, ids, mask *Tensor, c GenConfig, g *Generator) (y, yMask, yMix, yMixMask *Tensor) {
	if s.err != nil {
		return nil, nil, nil, nil
	}
	if policy == nil || policy.h == nil || ref == nil || ref.h == nil {
		s.fail(argError("GenerateMixture", "nil or closed model"))
		return nil, nil, nil, nil
	}
	ins := []*Tensor{ids}
	var mh *C.nm_tensor
	if mask != nil {
		ins = append(ins, mask)
		mh = mask.h
	}
	var ym, x, xm *C.nm_tensor
	y = s.run("GenerateMixture", func(o **C.nm_tensor) *C.nm_error {
		return c.withC(func(cc *C.nm_gen_config) *C.nm_error {
			return C.nm_generate_mixture(policy.h, ref.h, C.double(coef), ids.h, mh, cc, g.c(), o, &ym, &x, &xm)
		})
	}, ins...)
	if y == nil {
		return nil, nil, nil, nil
	}
	return y, s.adopt(ym), s.adopt(x), s.adopt(xm)
}

// adopt makes a handle returned through an extra out-parameter s's own.
func (s *Scope) adopt(h *C.nm_tensor) *Tensor {
	t := &Tensor{h: h}
	s.ts = append(s.ts, t)
	return t
}
