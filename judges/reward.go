package judges

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/torch"
)

// RewardModel judges with a sequence-classification reward model r:
// P(a ≻ b) = σ(r(prompt+a) − r(prompt+b)), as TRL's Nash-MD trainer does,
// with MissingEOSPenalty (when set) subtracted from the score of a
// completion that does not end with one of EOSTexts, before the sigmoid.
//
// With a Template (the reward model's own chat template), conversations are
// judged as TRL's Online DPO does with a separate reward tokenizer: the
// conversation plus {"role": "assistant", "content": completion without its
// EOS text} is rendered with the reward model's template and scored.
type RewardModel struct {
	Model             *torch.Model // a classifier with one label; shared, not owned
	Tokenizer         *tokenizer.Tokenizer
	Template          *chat.Template // the reward model's chat template (nil: none)
	EOSTexts          []string
	MissingEOSPenalty *float64
	PadID             int64
	BatchSize         int // rows per forward (0: all)
}

// NewRewardModel checks that m is a one-label classifier.
func NewRewardModel(m *torch.Model, tok *tokenizer.Tokenizer, eosTexts []string, penalty *float64) (*RewardModel, error) {
	if !m.Config.IsClassifier() || m.Config.NumLabels != 1 {
		return nil, fmt.Errorf("judge: reward model must be a ForSequenceClassification model with num_labels = 1, got %s with %d labels", m.Config.Architecture, m.Config.NumLabels)
	}
	var pad int64
	if m.Config.PadTokenID != nil {
		pad = *m.Config.PadTokenID
	}
	return &RewardModel{Model: m, Tokenizer: tok, EOSTexts: eosTexts, MissingEOSPenalty: penalty, PadID: pad}, nil
}

// Prefer implements Judge.
func (r *RewardModel) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	p, _, _, err := r.PreferScores(ctx, prompts, a, b)
	return p, err
}

// PreferScores implements Scorer.
func (r *RewardModel) PreferScores(ctx context.Context, prompts, a, b []string) (prob, scoreA, scoreB []float64, err error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, nil, nil, err
	}
	texts := make([]string, 0, 2*len(a))
	for i := range a {
		texts = append(texts, prompts[i]+a[i])
	}
	for i := range b {
		texts = append(texts, prompts[i]+b[i])
	}
	scores, err := r.Scores(ctx, texts)
	if err != nil {
		return nil, nil, nil, err
	}
	return r.finish(scores, a, b)
}

// finish applies the missing-EOS penalty and the sigmoid to scores of a then b.
func (r *RewardModel) finish(scores []float64, a, b []string) (prob, scoreA, scoreB []float64, err error) {
	n := len(a)
	scoreA, scoreB = scores[:n], scores[n:]
	if r.MissingEOSPenalty != nil {
		for i := range n {
			if !r.hasEOS(a[i]) {
				scoreA[i] -= *r.MissingEOSPenalty
			}
			if !r.hasEOS(b[i]) {
				scoreB[i] -= *r.MissingEOSPenalty
			}
		}
	}
	prob = make([]float64, n)
	for i := range n {
		prob[i] = 1 / (1 + math.Exp(-(scoreA[i] - scoreB[i])))
	}
	return prob, scoreA, scoreB, nil
}

// PreferConversations implements ConversationJudge. Without a Template it
// scores the policy-rendered prompts, as PreferScores does.
func (r *RewardModel) PreferConversations(ctx context.Context, prompts []string, convs [][]chat.Message, a, b []string) (prob, scoreA, scoreB []float64, err error) {
	if r.Template == nil {
		return r.PreferScores(ctx, prompts, a, b)
	}
	if len(convs) != len(a) || len(a) != len(b) {
		return nil, nil, nil, fmt.Errorf("judge: %d conversations, %d and %d completions: lengths must match", len(convs), len(a), len(b))
	}
	texts := make([]string, 0, 2*len(a))
	for _, side := range [][]string{a, b} {
		for i, c := range side {
			msgs := append(append([]chat.Message{}, convs[i]...), chat.Message{Role: "assistant", Content: r.stripEOS(c)})
			t, err := r.Template.Render(msgs, false)
			if err != nil {
				return nil, nil, nil, &ItemError{Index: i, Err: err}
			}
			texts = append(texts, t)
		}
	}
	scores, err := r.Scores(ctx, texts)
	if err != nil {
		return nil, nil, nil, err
	}
	return r.finish(scores, a, b)
}

func (r *RewardModel) stripEOS(s string) string {
	for _, e := range r.EOSTexts {
		if t, ok := strings.CutSuffix(s, e); ok {
			return t
		}
	}
	return s
}

func (r *RewardModel) hasEOS(s string) bool {
	for _, e := range r.EOSTexts {
		if strings.HasSuffix(s, e) {
			return true
		}
	}
	return false
}

// Scores returns r(text) for each text, left-padded in batches.
func (r *RewardModel) Scores(ctx context.Context, texts []string) ([]float64, error) {
	bs := r.BatchSize
	if bs <= 0 {
		bs = len(texts)
	}
	out := make([]float64, 0, len(texts))
	for start := 0; start < len(texts); start += bs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+bs, len(texts))
		ids, mask, L := leftPad(r.Tokenizer, texts[start:end], r.PadID)
		s := torch.NewScope()
		var v []float32
		err := torch.NoGrad(func() error {
			n := int64(end - start)
			sc := s.Score(r.Model, s.FromInt64(ids, n, L), s.FromInt64(mask, n, L))
			if err := s.Err(); err != nil {
				return err
			}
			var err error
			v, err = s.To(sc, torch.Float32, torch.CPU).Float32s()
			return err
		})
		s.Close()
		if err != nil {
			return nil, fmt.Errorf("judge: reward model: %w", err)
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, &ItemError{Index: len(out), Err: fmt.Errorf("reward model score is %v", x)}
			}
			out = append(out, float64(x))
		}
	}
	return out, nil
}

// leftPad tokenizes texts (no special tokens added: they come from the chat
// template) and left-pads them to the longest: ids and mask (n, L) row-major.
func leftPad(tok *tokenizer.Tokenizer, texts []string, pad int64) (ids, mask []int64, L int64) {
	enc := make([][]int, len(texts))
	for i, t := range texts {
		enc[i] = tok.Encode(t, false)
		L = max(L, int64(len(enc[i])))
	}
	L = max(L, 1)
	ids = make([]int64, int64(len(texts))*L)
	mask = make([]int64, len(ids))
	for i, e := range enc {
		off := int64(i)*L + L - int64(len(e))
		for j := range off - int64(i)*L {
			ids[int64(i)*L+j] = pad
		}
		for j, id := range e {
			ids[off+int64(j)] = int64(id)
			mask[off+int64(j)] = 1
		}
	}
	return ids, mask, L
}
