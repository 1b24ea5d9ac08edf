// Package trainer runs Nash-MD (Munos et al., "Nash Learning from Human
// Feedback"), as TRL's NashMDTrainer computes it, over libtorch models.
package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
)

// Example is one training prompt: its text as the policy sees it (chat
// template applied) and its token ids.
type Example struct {
	Row      int64 // row in the dataset, for messages
	Text     string
	IDs      []int64
	Messages []chat.Message // the conversation, for conversational datasets (else nil)
}

// Trainer holds the models, the optimizer and the position in training.
// It is not safe for concurrent use.
type Trainer struct {
	Config     Config
	Policy     *torch.Model // trained; owned by the caller
	Ref        *torch.Model // frozen; owned by the caller
	Judge      judges.Judge
	Tok        *tokenizer.Tokenizer
	Data       []Example
	EOS        []int64 // a completion ends after any of these
	PadID      int64
	Out        MetricsSink // where metrics go (nil: nowhere)
	Device     torch.Device
	params     []*torch.Tensor
	names      []string
	opt        *torch.AdamW
	gen        *torch.Generator
	State      State
	order      []int // the shuffled order of orderEpoch
	orderEpoch int
	dist       *torch.ProcessGroup // nil: this process trains alone
	// sampleFn replaces Sample when set: tests fix the completions with it.
	sampleFn func(ctx context.Context, s *torch.Scope, batch []Example) (*Rollout, error)
}

// State is where training stands; it is saved in trainer_state.json.
type State struct {
	GlobalStep  int     `json:"global_step"`
	MaxSteps    int     `json:"max_steps"`
	Epoch       float64 `json:"epoch"`
	DataEpoch   int     `json:"data_epoch"`  // epoch of the next prompt
	DataOffset  int     `json:"data_offset"` // its index in that epoch's order
	NonFinite   int     `json:"nonfinite_in_a_row"`
	SkippedStep int     `json:"skipped_steps"`
	WorldSize   int     `json:"world_size"` // processes that trained (0 in older checkpoints: 1)
}

// Stats are one optimizer step's metrics, with TRL's names where TRL has them.
type Stats map[string]float64

// New prepares a trainer: it makes every policy parameter trainable, the
// AdamW optimizer and the sampling generator (seeded with Config.Seed).
func New(cfg Config, policy, ref *torch.Model, judge judges.Judge, tok *tokenizer.Tokenizer, data []Example, eos []int64, pad int64) (*Trainer, error) {
	if len(data) == 0 {
		return nil, errors.New("trainer: no training prompts")
	}
	// Rollouts and losses live where the policy's weights are (config
	// "device"; the caller loads the models there).
	t := &Trainer{Config: cfg, Policy: policy, Ref: ref, Judge: judge, Tok: tok, Data: data, EOS: eos, PadID: pad, Device: policy.Device()}
	for _, p := range policy.Params() {
		if err := p.Tensor.SetRequiresGrad(true); err != nil {
			return nil, err
		}
		t.params = append(t.params, p.Tensor)
		t.names = append(t.names, p.Name)
	}
	var err error
	if t.opt, err = torch.NewAdamW(t.params, cfg.AdamBeta1, cfg.AdamBeta2, cfg.AdamEpsilon, cfg.WeightDecay); err != nil {
		return nil, err
	}
	if t.gen, err = torch.NewGenerator(uint64(cfg.Seed), t.Device); err != nil {
		t.opt.Close()
		return nil, err
	}
	t.State.MaxSteps = TotalSteps(cfg, int64(len(data)))
	return t, nil
}

// Close frees the optimizer state and the generator (not the models).
func (t *Trainer) Close() {
	t.opt.Close()
	t.gen.Close()
}

// genConfig is the sampling configuration, the same for both streams.
func (t *Trainer) genConfig() torch.GenConfig {
	c := t.Config
	g := torch.GenConfig{MaxNewTokens: c.MaxNewTokens, Temperature: c.Temperature, TopK: c.TopK, TopP: c.TopP,
		RepetitionPenalty: c.RepetitionPenalty, EOS: t.EOS, PadID: t.PadID}
	if c.MinP != nil {
		g.MinP = *c.MinP
	}
	return g
}

// epoch is the (fractional) epoch of the next prompt.
func (t *Trainer) epoch() float64 {
	return float64(t.State.DataEpoch) + float64(t.State.DataOffset)/float64(len(t.Data))
}

// nextBatch takes the next n prompts in the per-epoch shuffled order.
func (t *Trainer) nextBatch(n int) []Example {
	out := make([]Example, 0, n)
	for len(out) < n {
		if t.order == nil || t.orderEpoch != t.State.DataEpoch {
			t.order, t.orderEpoch = permutation(len(t.Data), uint64(t.Config.Seed), t.State.DataEpoch), t.State.DataEpoch
		}
		out = append(out, t.Data[t.order[t.State.DataOffset]])
		t.State.DataOffset++
		if t.State.DataOffset == len(t.Data) {
			t.State.DataEpoch++
			t.State.DataOffset = 0
		}
	}
	return out
}

// Rollout is one micro-batch of Nash-MD samples: prompts, the policy's
// completions y and the mixture's y', and the judge's P(y ≻ y').
type Rollout struct {
	Prompts        []string
	Convs          [][]chat.Message // the conversations when every prompt has one
	IDs, Mask      *torch.Tensor    // (B, P) left-padded prompts
	Y, YMask       *torch.Tensor    // (B, T) policy completions, pad after EOS; 1 through EOS
	YMix, YMixMask *torch.Tensor    // (B, T) mixture completions
	Prob           []float64        // (B)
	ScoreA, ScoreB []float64        // the judge's scores when it is a Scorer, else nil
	Completions    [2][]string      // decoded y and y' (EOS text kept)
	sampleS        float64          // seconds spent sampling both streams
	judgeS         float64          // seconds spent judging
}

// Step runs one optimizer step: GradientAccumulationSteps micro-batches of
// sample → sampleMixture → judge → logprobs → loss → backward, then clip and
// AdamW. It returns the step's stats.
func (t *Trainer) Step(ctx context.Context) (Stats, error) {
	k := t.Config.GradientAccumulationSteps
	var parts []Stats
	for range k {
		s := torch.NewScope()
		batch := t.nextShard(t.Config.PerDeviceTrainBatchSize)
		t0 := time.Now()
		sample := t.Sample
		if t.sampleFn != nil {
			sample = t.sampleFn
		}
		r, err := sample(ctx, s, batch)
		if err != nil {
			s.Close()
			return nil, err
		}
		st, err := t.Learn(s, r, 1/float64(k))
		s.Close()
		if err != nil {
			return nil, err
		}
		st["time/step_s"] = time.Since(t0).Seconds()
		parts = append(parts, st)
	}
	st := meanStats(parts)
	if t.dist != nil {
		var err error
		if st, err = t.reduceStats(st); err != nil {
			return nil, err
		}
	}
	if err := t.optimizerStep(st); err != nil {
		return nil, err
	}
	return st, nil
}

// Sample draws both streams for a batch and asks the judge.
func (t *Trainer) Sample(ctx context.Context, s *torch.Scope, batch []Example) (*Rollout, error) {
	r := &Rollout{}
	ids, mask, P := leftPad(batch, t.PadID)
	B := int64(len(batch))
	r.IDs, r.Mask = s.To(s.FromInt64(ids, B, P), torch.Int64, t.Device), s.To(s.FromInt64(mask, B, P), torch.Int64, t.Device)
	conv := true
	for _, e := range batch {
		r.Prompts = append(r.Prompts, e.Text)
		r.Convs = append(r.Convs, e.Messages)
		conv = conv && e.Messages != nil
	}
	if !conv {
		r.Convs = nil
	}
	coef := t.Config.MixtureCoef.At(t.State.DataEpoch)
	t0 := time.Now()
	err := torch.NoGrad(func() error {
		r.Y, r.YMask, r.YMix, r.YMixMask = s.GenerateMixture(t.Policy, t.Ref, coef, r.IDs, r.Mask, t.genConfig(), t.gen)
		return s.Err()
	})
	if err != nil {
		return nil, err
	}
	sampleTime := time.Since(t0)
	for i, pair := range [][2]*torch.Tensor{{r.Y, r.YMask}, {r.YMix, r.YMixMask}} {
		if r.Completions[i], err = t.decode(pair[0], pair[1]); err != nil {
			return nil, err
		}
	}
	t1 := time.Now()
	if cj, ok := t.Judge.(judges.ConversationJudge); ok && r.Convs != nil {
		r.Prob, r.ScoreA, r.ScoreB, err = cj.PreferConversations(ctx, r.Prompts, r.Convs, r.Completions[0], r.Completions[1])
	} else if sc, ok := t.Judge.(judges.Scorer); ok {
		r.Prob, r.ScoreA, r.ScoreB, err = sc.PreferScores(ctx, r.Prompts, r.Completions[0], r.Completions[1])
	} else {
		r.Prob, err = t.Judge.Prefer(ctx, r.Prompts, r.Completions[0], r.Completions[1])
	}
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	if len(r.Prob) != len(batch) {
		return nil, fmt.Errorf("judge returned %d probabilities for %d pairs", len(r.Prob), len(batch))
	}
	for i, p := range r.Prob {
		if !(p >= 0 && p <= 1) {
			return nil, &judges.ItemError{Index: i, Err: fmt.Errorf("probability %v outside [0, 1]", p)}
		}
	}
	r.timings(sampleTime, time.Since(t1))
	return r, nil
}

// timings are kept on the rollout for the stats.
func (r *Rollout) timings(sample, judge time.Duration) {
	r.sampleS, r.judgeS = sample.Seconds(), judge.Seconds()
}

// decode turns completions into text up to and including EOS.
func (t *Trainer) decode(y, mask *torch.Tensor) ([]string, error) {
	ids, err := y.Int64s()
	if err != nil {
		return nil, err
	}
	m, err := mask.Int64s()
	if err != nil {
		return nil, err
	}
	shape := y.Shape()
	B, T := int(shape[0]), int(shape[1])
	out := make([]string, B)
	for b := range B {
		var row []int
		for j := range T {
			if m[b*T+j] == 1 {
				row = append(row, int(ids[b*T+j]))
			}
		}
		if t.Tok == nil { // tests without a tokenizer: one "x" per token
			out[b] = strings.Repeat("x", len(row))
			continue
		}
		out[b] = t.Tok.Decode(row, false)
	}
	return out, nil
}

// Learn computes the log-probs of the policy's samples under the policy
// (with gradient) and the reference, the Nash-MD loss, and backpropagates
// loss·scale (scale = 1/accumulation steps).
func (t *Trainer) Learn(s *torch.Scope, r *Rollout, scale float64) (Stats, error) {
	t0 := time.Now()
	P := r.IDs.Shape()[1]
	// The last completion token predicts nothing: run the models on the
	// sequence without it, scoring positions P-1 … L-2 (those predicting y).
	T := r.Y.Shape()[1]
	full := s.Narrow(s.Cat(1, r.IDs, r.Y), 1, 0, P+T-1)
	fullMask := s.Narrow(s.Cat(1, r.Mask, r.YMask), 1, 0, P+T-1)
	ym := s.To(r.YMask, torch.Float32, t.Device)
	logp := s.Mul(s.TokenLogprobs(t.Policy, full, fullMask, r.Y, P-1, 1, 0), ym) // (B, T)
	var refLogp *torch.Tensor
	if err := torch.NoGrad(func() error {
		refLogp = s.Mul(s.TokenLogprobs(t.Ref, full, fullMask, r.Y, P-1, 1, 0), ym)
		return s.Err()
	}); err != nil {
		return nil, err
	}
	prob := s.To(s.FromFloat32(toF32(r.Prob)), torch.Float32, t.Device)
	beta := t.Config.Beta.At(t.State.DataEpoch)
	loss, score, kl := nashMDLoss(s, logp, refLogp, prob, beta, t.Config.KLEstimator == "reward_to_go")
	if err := s.Err(); err != nil {
		return nil, err
	}
	logpTime := time.Since(t0)
	t1 := time.Now()
	lossV, err := loss.Item()
	if err != nil {
		return nil, err
	}
	if !math.IsNaN(lossV) && !math.IsInf(lossV, 0) {
		if err := s.MulScalar(loss, scale).Backward(nil); err != nil {
			return nil, err
		}
	}
	st := t.stats(s, r, logp, refLogp, score, kl, beta)
	st["loss"] = lossV
	st["time/sample_s"] = r.sampleS
	st["time/judge_s"] = r.judgeS
	st["time/logprobs_s"] = logpTime.Seconds()
	st["time/backward_s"] = time.Since(t1).Seconds()
	return st, s.Err()
}

// stats are TRL's _log_statistics for one micro-batch.
func (t *Trainer) stats(s *torch.Scope, r *Rollout, logp, refLogp, score, kl *torch.Tensor, beta float64) Stats {
	mean := func(x *torch.Tensor) float64 {
		v, err := s.Mean(s.To(x, torch.Float64, torch.CPU)).Item()
		if err != nil {
			return math.NaN()
		}
		return v
	}
	lp := s.SumDim(s.Detach(logp), 1, false)
	rp := s.SumDim(refLogp, 1, false)
	margin := s.Sub(lp, rp)
	st := Stats{
		"loss/score":                  mean(s.Detach(score)),
		"loss/kl":                     mean(kl),
		"logps/chosen":                mean(lp),
		"logps/rejected":              mean(rp),
		"objective/entropy":           -mean(lp),
		"rewards/margins":             mean(margin),
		"rewards/accuracies":          mean(s.GtScalar(margin, 0)),
		"rewards/probabilities":       meanF(r.Prob),
		"val/model_contain_eos_token": t.eosRate(r.Y),
		"val/ref_contain_eos_token":   t.eosRate(r.YMix),
		"beta":                        beta,
		"mixture_coef":                t.Config.MixtureCoef.At(t.State.DataEpoch),
	}
	if r.ScoreA != nil {
		st["rewards/chosen"] = meanF(r.ScoreA)
		st["rewards/rejected"] = meanF(r.ScoreB)
	}
	ym, _ := r.YMask.Int64s()
	yx, _ := r.YMixMask.Int64s()
	st["tokens/generated"] = float64(sumI(ym) + sumI(yx))
	st["prompts"] = float64(len(r.Prompts))
	return st
}

// eosRate is the share of rows of y that contain an EOS token.
func (t *Trainer) eosRate(y *torch.Tensor) float64 {
	ids, err := y.Int64s()
	if err != nil {
		return math.NaN()
	}
	shape := y.Shape()
	B, T := int(shape[0]), int(shape[1])
	n := 0
	for b := range B {
		if slices.ContainsFunc(ids[b*T:(b+1)*T], func(id int64) bool { return slices.Contains(t.EOS, id) }) {
			n++
		}
	}
	return float64(n) / float64(B)
}

// optimizerStep averages the gradients over the processes (when there are
// several), clips, skips non-finite updates, steps AdamW and advances.
func (t *Trainer) optimizerStep(st Stats) error {
	if t.dist != nil {
		t0 := time.Now()
		transfer, err := t.dist.AllReduceGrads(t.params)
		if err != nil {
			return err
		}
		st["time/allreduce_s"] = time.Since(t0).Seconds()
		st["allreduce/transfer_s"] = transfer.Seconds()
	}
	t0 := time.Now()
	// The activations are gone; give their pages back before AdamW (whose
	// state is allocated on the first step) and the next step's sampling.
	if err := torch.ReleaseMemory(); err != nil {
		return err
	}
	norm, err := torch.ClipGradNorm(t.params, t.Config.MaxGradNorm)
	if err != nil {
		return err
	}
	lr := LR(t.Config, t.State.GlobalStep, t.State.MaxSteps)
	finite := !math.IsNaN(norm) && !math.IsInf(norm, 0) && !math.IsNaN(st["loss"]) && !math.IsInf(st["loss"], 0)
	if finite {
		if err := t.opt.Step(lr); err != nil {
			return err
		}
		t.State.NonFinite = 0
	} else {
		t.State.NonFinite++
		t.State.SkippedStep++
	}
	if err := torch.ZeroGrads(t.params); err != nil {
		return err
	}
	// And the gradients' pages, so that sampling does not hold them.
	if err := torch.ReleaseMemory(); err != nil {
		return err
	}
	t.State.GlobalStep++
	t.State.Epoch = t.epoch()
	st["grad_norm"] = norm
	st["learning_rate"] = lr
	st["epoch"] = t.State.Epoch
	st["nonfinite_skipped"] = float64(t.State.SkippedStep)
	st["time/optimizer_s"] = time.Since(t0).Seconds()
	if t.State.NonFinite >= t.Config.MaxNonFiniteSteps && t.Config.MaxNonFiniteSteps > 0 {
		return fmt.Errorf("trainer: %d steps in a row with a non-finite loss or gradient norm (last: loss %v, grad_norm %v)", t.State.NonFinite, st["loss"], norm)
	}
	return nil
}

// leftPad pads prompt ids on the left: ids, mask (B, P) row-major.
func leftPad(batch []Example, pad int64) (ids, mask []int64, P int64) {
	for _, e := range batch {
		P = max(P, int64(len(e.IDs)))
	}
	ids = make([]int64, int64(len(batch))*P)
	mask = make([]int64, len(ids))
	for b, e := range batch {
		off := int64(b)*P + P - int64(len(e.IDs))
		for j := int64(b) * P; j < off; j++ {
			ids[j] = pad
		}
		copy(ids[off:], e.IDs)
		for j := range e.IDs {
			mask[off+int64(j)] = 1
		}
	}
	return ids, mask, P
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func meanF(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func sumI(x []int64) int64 {
	var s int64
	for _, v := range x {
		s += v
	}
	return s
}

// meanStats averages micro-batch stats key by key (sums for counts and times).
func meanStats(parts []Stats) Stats {
	out := Stats{}
	for _, p := range parts {
		for k, v := range p {
			out[k] += v
		}
	}
	for k := range out {
		if k == "prompts" || k == "tokens/generated" || len(k) > 5 && k[:5] == "time/" {
			continue
		}
		out[k] /= float64(len(parts))
	}
	return out
}

// permutation is epoch's order of n rows: a Fisher–Yates shuffle driven by
// splitmix64 seeded from (seed, epoch), the same on every machine.
func permutation(n int, seed uint64, epoch int) []int {
	x := seed ^ (uint64(epoch)+1)*0x9E3779B97F4A7C15
	next := func() uint64 {
		x += 0x9E3779B97F4A7C15
		z := x
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return z ^ (z >> 31)
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(next() % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
