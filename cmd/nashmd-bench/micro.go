package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nashmd/nashmd/internal/tiny"
	"github.com/nashmd/nashmd/torch"
)

// The two model shapes of the benchmark. Both use SmolLM2's tokenizer and
// chat template (vocabulary 49,152) and random weights from a fixed seed.
var shapes = []struct {
	name  string
	shape tiny.Shape
}{
	{"tiny-qwen2", tiny.Shape{ModelType: "qwen2", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHeads: 2, TieWordEmbedding: true}},
	{"smollm2-135m", tiny.Shape{ModelType: "llama", Hidden: 576, Intermediate: 1536, Layers: 30, Heads: 9, KVHeads: 3, TieWordEmbedding: true}},
}

var workDir string

// modelDir writes a shape's policy, reward model and prompts once per run
// (tiny.WriteShape) and returns the directory.
func modelDir(name string) (string, error) {
	if workDir == "" {
		d, err := os.MkdirTemp("", "nashmd-bench-")
		if err != nil {
			return "", err
		}
		workDir = d
	}
	dir := filepath.Join(workDir, name)
	if _, err := os.Stat(filepath.Join(dir, "prompts.jsonl")); err == nil {
		return dir, nil
	}
	for _, s := range shapes {
		if s.name == name {
			return dir, tiny.WriteShape(dir, s.shape)
		}
	}
	return "", fmt.Errorf("no model shape %q", name)
}

// microResult is one model shape's micro-benchmarks.
type microResult struct {
	Model       string        `json:"model"`
	Params      int64         `json:"params"`
	PrefillTPS  float64       `json:"prefill_tok_s"` // batch 8, prompt 64
	Decode      []decodePoint `json:"decode"`
	LogprobFwd  float64       `json:"logprob_fwd_tok_s"` // batch 8, length 128, fp32, no grad
	FwdBwd      []fwdBwd      `json:"fwd_bwd"`
	PromptLen   int64         `json:"prompt_len"`
	DecodeSteps int           `json:"decode_steps"`
}

// decodePoint: decode tokens/s (prefill excluded) at one batch size.
type decodePoint struct {
	Batch int64 `json:"batch"`
	// PolicyTPS: policy-only sampling, B tokens per step.
	PolicyTPS float64 `json:"policy_tok_s"`
	// BothTPS: the trainer's fused call, policy stream and mixture stream
	// (2B tokens per step: the policy on 2B rows, the reference on B).
	BothTPS float64 `json:"both_streams_tok_s"`
	// MixtureCost: the mixture stream's marginal time per token over the
	// policy-only stream's time per token: (t_both − t_policy) / t_policy.
	MixtureCost float64 `json:"mixture_cost_ratio"`
	// FusedCost: t_both / t_policy (both streams against one).
	FusedCost float64 `json:"fused_cost_ratio"`
}

type fwdBwd struct {
	DType string  `json:"dtype"`
	TPS   float64 `json:"tok_s"`
	TFLOP float64 `json:"tflop_per_s"`
	MFU   float64 `json:"mfu"` // of the same run's matmul ceiling for this dtype
}

func microAll(c *ceiling, o options) ([]microResult, error) {
	var out []microResult
	for _, sh := range shapes {
		if !slices.Contains(o.models, sh.name) {
			continue
		}
		dir, err := modelDir(sh.name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "micro: %s\n", sh.name)
		r, err := micro(sh.name, dir, c, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sh.name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func micro(name, dir string, c *ceiling, o options) (microResult, error) {
	r := microResult{Model: name, PromptLen: 64, DecodeSteps: 32}
	batches, reps := []int64{1, 8, 32}, 3
	if name == "tiny-qwen2" {
		// A tiny model's decode step is a millisecond: more tokens and
		// repetitions, so that the difference of two timings is not noise.
		reps, r.DecodeSteps = 9, 64
	}
	if o.quick {
		batches, reps, r.DecodeSteps = []int64{1, 8}, 2, 16
	}
	pol, err := torch.LoadLlama(filepath.Join(dir, "policy"), torch.Float32, torch.CPU)
	if err != nil {
		return r, err
	}
	defer pol.Close()
	ref, err := torch.LoadLlama(filepath.Join(dir, "policy"), torch.Float32, torch.CPU)
	if err != nil {
		return r, err
	}
	defer ref.Close()
	for _, p := range pol.Params() {
		r.Params += numel(p.Tensor.Shape())
	}
	P, T := r.PromptLen, r.DecodeSteps
	pre, err := best(reps, func() error { return generate(pol, nil, 8, P, 1) })
	if err != nil {
		return r, err
	}
	r.PrefillTPS = float64(8*P) / pre.Seconds()
	for _, B := range batches {
		// Policy T=1, policy T, both T=1, both T: the best of reps rounds
		// (after a warm-up round), the four interleaved in each round so that
		// a slow spell of a shared machine hits all of them alike.
		t := [4]time.Duration{1 << 62, 1 << 62, 1 << 62, 1 << 62}
		runs := []struct {
			ref *torch.Model
			T   int
		}{{nil, 1}, {nil, T}, {ref, 1}, {ref, T}}
		for round := range reps + 1 {
			for i, run := range runs {
				t0 := time.Now()
				if err := generate(pol, run.ref, B, P, run.T); err != nil {
					return r, err
				}
				if round > 0 {
					t[i] = min(t[i], time.Since(t0))
				}
			}
		}
		tp, tb := (t[1] - t[0]).Seconds(), (t[3] - t[2]).Seconds()
		steps := float64(B) * float64(T-1)
		r.Decode = append(r.Decode, decodePoint{
			Batch: B, PolicyTPS: steps / tp, BothTPS: 2 * steps / tb,
			MixtureCost: (tb - tp) / tp, FusedCost: tb / tp,
		})
	}
	const Bl, L = 8, 128
	fwd, err := best(reps, func() error { return logprobs(pol, Bl, L, false) })
	if err != nil {
		return r, err
	}
	r.LogprobFwd = float64(Bl*L) / fwd.Seconds()
	flops := trainFLOPs(pol, Bl, L)
	for _, dt := range []torch.DType{torch.Float32, torch.BFloat16} {
		m := pol
		if dt != torch.Float32 {
			if m, err = torch.LoadLlama(filepath.Join(dir, "policy"), dt, torch.CPU); err != nil {
				return r, err
			}
			defer m.Close()
		}
		for _, p := range m.Params() {
			if err := p.Tensor.SetRequiresGrad(true); err != nil {
				return r, err
			}
		}
		d, err := best(reps, func() error { return logprobs(m, Bl, L, true) })
		if err != nil {
			return r, err
		}
		fb := fwdBwd{DType: dt.String(), TPS: float64(Bl*L) / d.Seconds(), TFLOP: flops / d.Seconds() / 1e12}
		fb.MFU = fb.TFLOP * 1e3 / c.of(dt)
		r.FwdBwd = append(r.FwdBwd, fb)
	}
	return r, nil
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// trainFLOPs is the useful work of one forward+backward over B×L tokens:
// 6 FLOPs per matmul weight per token (the embedding lookup is not a matmul;
// the LM head is), plus causal attention's QKᵀ and AV, 3 × 4·layers·heads·hd
// per token and attended position (L(L+1)/2 pairs per row).
func trainFLOPs(m *torch.Model, B, L int64) float64 {
	c := m.Config
	H, hd := c.HiddenSize, c.HeadDim
	if hd == 0 {
		hd = H / c.NumAttentionHeads
	}
	perLayer := H*c.NumAttentionHeads*hd + 2*H*c.NumKeyValueHeads*hd + c.NumAttentionHeads*hd*H + 3*H*c.IntermediateSize
	weights := c.NumHiddenLayers*perLayer + H*c.VocabSize
	pairs := float64(B) * float64(L*(L+1)/2)
	return 6*float64(weights)*float64(B*L) + 3*4*float64(c.NumHiddenLayers*c.NumAttentionHeads*hd)*pairs
}

// best is the fastest of n runs after one warm-up run.
func best(n int, f func() error) (time.Duration, error) {
	if err := f(); err != nil {
		return 0, err
	}
	b := time.Duration(1 << 62)
	for range n {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		b = min(b, time.Since(t0))
	}
	return b, nil
}

// generate samples T tokens for a B×P prompt at temperature 0.9 with no EOS
// (every row runs to T): the policy alone, or both Nash-MD streams when ref
// is given (mixture_coef 0.5).
func generate(pol, ref *torch.Model, B, P int64, T int) error {
	s := torch.NewScope()
	defer s.Close()
	g, err := torch.NewGenerator(1, torch.CPU)
	if err != nil {
		return err
	}
	defer g.Close()
	ids := s.FromInt64(seqIDs(B*P), B, P)
	cfg := torch.GenConfig{MaxNewTokens: T, Temperature: 0.9}
	err = torch.NoGrad(func() error {
		if ref == nil {
			s.Generate(pol, ids, nil, cfg, g)
		} else {
			s.GenerateMixture(pol, ref, 0.5, ids, nil, cfg, g)
		}
		return s.Err()
	})
	return err
}

// logprobs runs the trainer's log-prob pass over B×L tokens (targets: the
// next ids), with backward through the sum when train is set.
func logprobs(m *torch.Model, B, L int64, train bool) error {
	s := torch.NewScope()
	defer s.Close()
	ids := s.FromInt64(seqIDs(B*(L+1)), B, L+1)
	x := s.Narrow(ids, 1, 0, L)
	y := s.Narrow(ids, 1, 1, L)
	if !train {
		return torch.NoGrad(func() error {
			s.TokenLogprobs(m, x, nil, y, 0, 1, 0)
			return s.Err()
		})
	}
	lp := s.TokenLogprobs(m, x, nil, y, 0, 1, 0)
	if err := s.Err(); err != nil {
		return err
	}
	if err := s.Sum(lp).Backward(nil); err != nil {
		return err
	}
	var ps []*torch.Tensor
	for _, p := range m.Params() {
		ps = append(ps, p.Tensor)
	}
	return torch.ZeroGrads(ps)
}

// seqIDs is 0, 1, … n-1 modulo 40,000 (ids in every vocabulary here).
func seqIDs(n int64) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i) % 40000
	}
	return ids
}

// peakRSS is this process's VmHWM, for printing.
func peakRSS() string {
	if mb := vmHWM("/proc/self/status"); mb > 0 {
		return fmt.Sprintf("%.0f MiB", mb)
	}
	return "unknown"
}

func dtypeOf(name string) torch.DType {
	if name == torch.BFloat16.String() {
		return torch.BFloat16
	}
	return torch.Float32
}
