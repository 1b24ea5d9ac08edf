package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
	"github.com/pelletier/go-toml/v2"
)

// Evaluation: the policy's completions against the reference's, under a
// judge, with exact binomial intervals.

// EvalConfig says what Evaluate compares and how. The zero values of
// MaxNewTokens and BatchSize take the defaults noted.
type EvalConfig struct {
	Policy    *torch.Model // the checkpoint evaluated; not owned
	Reference *torch.Model // its opponent; not owned
	// Judge gives P(policy's completion ≻ reference's) per prompt.
	Judge judges.Judge
	// Swap asks the judge both ways (judges.Swap) to remove its position
	// bias. It is skipped for a judges.Scorer, whose probability is a
	// function of the two scores and so has no position bias (EvalReport.
	// Swapped says whether it was applied).
	Swap bool
	// Prompts are evaluated in order; Text is what the judge sees and IDs
	// what the models continue. Messages, when every prompt of a batch has
	// them, go to a judges.ConversationJudge.
	Prompts []Example
	// Answers maps a prompt text (as in Prompts) to its reference answers.
	// When not nil, each completion is marked correct as judges.ExactAnswer
	// with Contains decides (normalised reference found as whole words in
	// the normalised completion, EOS texts removed); prompts without an
	// entry are left out of the accuracies.
	Answers map[string][]string
	// Tok decodes completions (Tok.Decode(ids, false)) unless Decode is set.
	Tok    *tokenizer.Tokenizer
	Decode func(ids []int) string
	// Sampling, the same for both models: Temperature ≤ 0 is greedy
	// (argmax); TopP and TopK as in torch.GenConfig (0: off).
	MaxNewTokens int // default 64
	Temperature  float64
	TopP         float64
	TopK         int
	// Seed seeds one generator per model, both with the same seed, so that
	// identical models sample identical completions. Unused when greedy.
	Seed      uint64
	BatchSize int     // prompts per generation batch; default 16
	EOS       []int64 // a completion ends after any of these
	PadID     int64
	// PairsPath, when not empty, receives one JSON line per prompt (see
	// EvalPair); its directory is created and the file replaced.
	PairsPath string
	// Progress, when not nil, is called after each batch.
	Progress func(done, total int)
}

// Interval is a confidence interval [Lo, Hi].
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Proportion is k successes out of n, with its 95% Clopper–Pearson interval.
type Proportion struct {
	K    int      `json:"k"`
	N    int      `json:"n"`
	Rate float64  `json:"rate"` // K/N; 0 when N = 0
	CI   Interval `json:"ci95"`
}

func newProportion(k, n int) Proportion {
	p := Proportion{K: k, N: n}
	if n > 0 {
		p.Rate = float64(k) / float64(n)
	}
	p.CI.Lo, p.CI.Hi = ClopperPearson(k, n, 0.05)
	return p
}

// EvalPair is one prompt's outcome, as written to EvalConfig.PairsPath.
// Completions are shown without their trailing EOS text.
type EvalPair struct {
	Row              int64    `json:"row"`
	Prompt           string   `json:"prompt"`
	Policy           string   `json:"policy"`
	Reference        string   `json:"reference"`
	P                float64  `json:"p"`                      // P(policy ≻ reference)
	PolicyScore      *float64 `json:"policy_score,omitempty"` // a Scorer's scores, unswapped only
	ReferenceScore   *float64 `json:"reference_score,omitempty"`
	PolicyCorrect    *bool    `json:"policy_correct,omitempty"` // with answers for this prompt
	ReferenceCorrect *bool    `json:"reference_correct,omitempty"`
}

// EvalReport summarises an evaluation. A pair is a win when P > 0.5, a loss
// when P < 0.5 and a tie when P == 0.5.
type EvalReport struct {
	N      int `json:"n"`
	Wins   int `json:"wins"`
	Losses int `json:"losses"`
	Ties   int `json:"ties"`
	// WinRate is Wins / (Wins + Losses): ties are left out. With no
	// decisive pair it is 0.5 with the interval [0, 1].
	WinRate   float64  `json:"win_rate"`
	WinRateCI Interval `json:"win_rate_ci95"`
	MeanProb  float64  `json:"mean_prob"` // mean of P over all pairs
	// Accuracy (the policy's) and RefAccuracy count correct completions
	// over the prompts that have answers; nil without answers.
	Accuracy    *Proportion `json:"accuracy,omitempty"`
	RefAccuracy *Proportion `json:"ref_accuracy,omitempty"`
	// MeanPolicyScore and MeanRefScore are the judge's mean scores when it
	// is a Scorer and was not swapped.
	MeanPolicyScore *float64   `json:"mean_policy_score,omitempty"`
	MeanRefScore    *float64   `json:"mean_ref_score,omitempty"`
	Swapped         bool       `json:"swapped"`
	Pairs           []EvalPair `json:"-"`
}

// summarize counts outcomes; answers says whether accuracies are reported.
func summarize(pairs []EvalPair, answers bool) EvalReport {
	r := EvalReport{N: len(pairs), Pairs: pairs}
	var sumP, sumA, sumB float64
	var acc, refAcc, withRef, scored int
	for _, p := range pairs {
		switch {
		case p.P > 0.5:
			r.Wins++
		case p.P < 0.5:
			r.Losses++
		default:
			r.Ties++
		}
		sumP += p.P
		if p.PolicyCorrect != nil {
			withRef++
			if *p.PolicyCorrect {
				acc++
			}
			if *p.ReferenceCorrect {
				refAcc++
			}
		}
		if p.PolicyScore != nil {
			scored++
			sumA += *p.PolicyScore
			sumB += *p.ReferenceScore
		}
	}
	if r.N > 0 {
		r.MeanProb = sumP / float64(r.N)
	}
	w := newProportion(r.Wins, r.Wins+r.Losses)
	r.WinRate, r.WinRateCI = w.Rate, w.CI
	if w.N == 0 {
		r.WinRate = 0.5
	}
	if answers {
		a, b := newProportion(acc, withRef), newProportion(refAcc, withRef)
		r.Accuracy, r.RefAccuracy = &a, &b
	}
	if scored == r.N && r.N > 0 {
		a, b := sumA/float64(r.N), sumB/float64(r.N)
		r.MeanPolicyScore, r.MeanRefScore = &a, &b
	}
	return r
}

// Evaluate generates a completion from the policy and one from the
// reference for every prompt (separately, same settings, in batches of
// BatchSize), judges each pair with the policy's completion as a and the
// reference's as b (completions keep their EOS text, as in training), and
// summarises the outcomes. The judge is called as the trainer calls it: as
// a ConversationJudge when the batch's prompts are conversations, else as a
// Scorer or a plain Judge.
func Evaluate(ctx context.Context, c EvalConfig) (EvalReport, error) {
	if err := c.check(); err != nil {
		return EvalReport{}, err
	}
	e, err := newEvaluator(c)
	if err != nil {
		return EvalReport{}, err
	}
	defer e.close()
	var out *os.File
	var enc *json.Encoder
	if c.PairsPath != "" {
		if err := os.MkdirAll(filepath.Dir(c.PairsPath), 0o755); err != nil {
			return EvalReport{}, err
		}
		if out, err = os.Create(c.PairsPath); err != nil {
			return EvalReport{}, err
		}
		defer out.Close()
		enc = json.NewEncoder(out)
		enc.SetEscapeHTML(false)
	}
	pairs := make([]EvalPair, 0, len(c.Prompts))
	for start := 0; start < len(c.Prompts); start += c.BatchSize {
		if err := ctx.Err(); err != nil {
			return EvalReport{}, err
		}
		batch := c.Prompts[start:min(start+c.BatchSize, len(c.Prompts))]
		ps, err := e.batch(ctx, batch)
		if err != nil {
			return EvalReport{}, fmt.Errorf("eval: prompts %d–%d: %w", start, start+len(batch)-1, err)
		}
		for _, p := range ps {
			if enc != nil {
				if err := enc.Encode(p); err != nil {
					return EvalReport{}, err
				}
			}
		}
		pairs = append(pairs, ps...)
		if c.Progress != nil {
			c.Progress(len(pairs), len(c.Prompts))
		}
	}
	if out != nil {
		if err := out.Close(); err != nil {
			return EvalReport{}, err
		}
	}
	r := summarize(pairs, c.Answers != nil)
	r.Swapped = e.swap
	return r, nil
}

// check validates c and fills in its defaults.
func (c *EvalConfig) check() error {
	var errs []error
	if c.Policy == nil || c.Reference == nil {
		errs = append(errs, errors.New("eval: policy and reference models are required"))
	}
	if c.Judge == nil {
		errs = append(errs, errors.New("eval: a judge is required"))
	}
	if len(c.Prompts) == 0 {
		errs = append(errs, errors.New("eval: no prompts"))
	}
	if c.Tok == nil && c.Decode == nil {
		errs = append(errs, errors.New("eval: a tokenizer or a Decode function is required"))
	}
	if c.MaxNewTokens == 0 {
		c.MaxNewTokens = 64
	}
	if c.BatchSize == 0 {
		c.BatchSize = 16
	}
	if c.MaxNewTokens < 0 || c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("eval: max_new_tokens %d and batch_size %d must be > 0", c.MaxNewTokens, c.BatchSize))
	}
	if !(c.TopP >= 0 && c.TopP <= 1) {
		errs = append(errs, fmt.Errorf("eval: top_p %v must be in [0, 1]", c.TopP))
	}
	for i, p := range c.Prompts {
		if len(p.IDs) == 0 {
			errs = append(errs, fmt.Errorf("eval: prompt %d (row %d) has no tokens", i, p.Row))
			break
		}
	}
	if c.Answers != nil {
		n := 0
		for _, p := range c.Prompts {
			if len(c.Answers[p.Text]) > 0 {
				n++
			}
		}
		if n == 0 {
			errs = append(errs, fmt.Errorf("eval: none of the %d prompts has a reference answer (answers are keyed by the prompt as the policy sees it, chat template applied)", len(c.Prompts)))
		}
	}
	return errors.Join(errs...)
}

// evaluator holds what every batch uses.
type evaluator struct {
	c        EvalConfig
	gen      torch.GenConfig
	gens     [2]*torch.Generator // policy's, reference's; nil when greedy
	decode   func([]int) string
	eosTexts []string
	answers  *judges.ExactAnswer
	swap     bool
}

func newEvaluator(c EvalConfig) (*evaluator, error) {
	e := &evaluator{c: c, decode: c.Decode}
	if e.decode == nil {
		e.decode = func(ids []int) string { return c.Tok.Decode(ids, false) }
	}
	for _, id := range c.EOS {
		if t := e.decode([]int{int(id)}); t != "" {
			e.eosTexts = append(e.eosTexts, t)
		}
	}
	e.gen = torch.GenConfig{MaxNewTokens: c.MaxNewTokens, Temperature: c.Temperature, TopK: c.TopK, TopP: c.TopP,
		Greedy: c.Temperature <= 0, EOS: c.EOS, PadID: c.PadID}
	if !e.gen.Greedy {
		for i := range e.gens {
			g, err := torch.NewGenerator(c.Seed, c.Policy.Device())
			if err != nil {
				e.close()
				return nil, err
			}
			e.gens[i] = g
		}
	}
	if c.Answers != nil {
		ea, err := judges.NewExactAnswer(c.Answers)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("eval: answers: %w", err)
		}
		ea.Contains, ea.Strip = true, e.eosTexts
		e.answers = ea
	}
	_, scorer := c.Judge.(judges.Scorer)
	e.swap = c.Swap && !scorer
	return e, nil
}

func (e *evaluator) close() {
	for _, g := range e.gens {
		g.Close()
	}
}

// batch generates, decodes, judges and grades one batch.
func (e *evaluator) batch(ctx context.Context, batch []Example) ([]EvalPair, error) {
	var comps [2][]string // policy's, reference's; EOS text kept
	s := torch.NewScope()
	defer s.Close()
	ids, mask, P := leftPad(batch, e.c.PadID)
	B := int64(len(batch))
	d := e.c.Policy.Device()
	idsT, maskT := s.To(s.FromInt64(ids, B, P), torch.Int64, d), s.To(s.FromInt64(mask, B, P), torch.Int64, d)
	for i, m := range []*torch.Model{e.c.Policy, e.c.Reference} {
		var y, ym *torch.Tensor
		if err := torch.NoGrad(func() error {
			y, ym = s.Generate(m, idsT, maskT, e.gen, e.gens[i])
			return s.Err()
		}); err != nil {
			return nil, fmt.Errorf("generate (%s): %w", [2]string{"policy", "reference"}[i], err)
		}
		var err error
		if comps[i], err = decodeRows(y, ym, e.decode); err != nil {
			return nil, err
		}
	}
	prompts := make([]string, len(batch))
	convs := make([][]chat.Message, len(batch))
	for i, x := range batch {
		prompts[i], convs[i] = x.Text, x.Messages
	}
	if slices.ContainsFunc(convs, func(m []chat.Message) bool { return m == nil }) {
		convs = nil
	}
	prob, sa, sb, err := e.judge(ctx, prompts, convs, comps[0], comps[1])
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	out := make([]EvalPair, len(batch))
	for i, x := range batch {
		out[i] = EvalPair{Row: x.Row, Prompt: x.Text, Policy: trimEOS(comps[0][i], e.eosTexts),
			Reference: trimEOS(comps[1][i], e.eosTexts), P: prob[i]}
		if sa != nil {
			out[i].PolicyScore, out[i].ReferenceScore = &sa[i], &sb[i]
		}
		if e.answers != nil && len(e.c.Answers[x.Text]) > 0 {
			a, err := e.correct(ctx, x.Text, comps[0][i])
			if err != nil {
				return nil, err
			}
			b, err := e.correct(ctx, x.Text, comps[1][i])
			if err != nil {
				return nil, err
			}
			out[i].PolicyCorrect, out[i].ReferenceCorrect = &a, &b
		}
	}
	return out, nil
}

// correct reports whether completion answers prompt. It asks the
// ExactAnswer judge to compare the completion with the empty one, which is
// never correct (references are not empty after normalisation), so
// P = 1 exactly when the completion is correct and 0.5 otherwise.
func (e *evaluator) correct(ctx context.Context, prompt, completion string) (bool, error) {
	p, err := e.answers.Prefer(ctx, []string{prompt}, []string{completion}, []string{""})
	if err != nil {
		return false, fmt.Errorf("answers: %w", err)
	}
	return p[0] == 1, nil
}

// judge returns P(a ≻ b) per pair and, for an unswapped Scorer, the scores.
func (e *evaluator) judge(ctx context.Context, prompts []string, convs [][]chat.Message, a, b []string) (prob, sa, sb []float64, err error) {
	bj := boundJudge{j: e.c.Judge, convs: convs}
	if e.swap {
		prob, err = judges.Swap{Judge: bj}.Prefer(ctx, prompts, a, b)
	} else {
		prob, sa, sb, err = bj.scores(ctx, prompts, a, b)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if len(prob) != len(a) || sa != nil && (len(sa) != len(a) || len(sb) != len(a)) {
		return nil, nil, nil, fmt.Errorf("returned %d probabilities for %d pairs", len(prob), len(a))
	}
	for i, p := range prob {
		if !(p >= 0 && p <= 1) {
			return nil, nil, nil, &judges.ItemError{Index: i, Err: fmt.Errorf("probability %v outside [0, 1]", p)}
		}
	}
	return prob, sa, sb, nil
}

// boundJudge is a judge with the batch's conversations bound to it, so that
// judges.Swap can call a ConversationJudge through the plain interface.
type boundJudge struct {
	j     judges.Judge
	convs [][]chat.Message // nil: not conversations
}

func (b boundJudge) scores(ctx context.Context, prompts, x, y []string) (prob, sx, sy []float64, err error) {
	if cj, ok := b.j.(judges.ConversationJudge); ok && b.convs != nil {
		return cj.PreferConversations(ctx, prompts, b.convs, x, y)
	}
	if sc, ok := b.j.(judges.Scorer); ok {
		return sc.PreferScores(ctx, prompts, x, y)
	}
	prob, err = b.j.Prefer(ctx, prompts, x, y)
	return prob, nil, nil, err
}

// Prefer implements judges.Judge.
func (b boundJudge) Prefer(ctx context.Context, prompts, x, y []string) ([]float64, error) {
	p, _, _, err := b.scores(ctx, prompts, x, y)
	return p, err
}

// decodeRows decodes each row of y (B, T) over the positions where mask is
// 1 (through EOS).
func decodeRows(y, mask *torch.Tensor, decode func([]int) string) ([]string, error) {
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
		row := []int{}
		for j := range T {
			if m[b*T+j] == 1 {
				row = append(row, int(ids[b*T+j]))
			}
		}
		out[b] = decode(row)
	}
	return out, nil
}

// trimEOS removes any of the EOS texts from the end of s, repeatedly.
func trimEOS(s string, eos []string) string {
	for {
		n := len(s)
		for _, e := range eos {
			s = strings.TrimSuffix(s, e)
		}
		if len(s) == n {
			return s
		}
	}
}

// ---- eval.toml ----

// EvalFile is the configuration nashmd-eval reads from eval.toml. Paths are
// taken as written; nashmd-eval makes those of the file relative to the
// file's directory.
type EvalFile struct {
	// Model is the checkpoint evaluated (a Hugging Face model directory; its
	// tokenizer and chat template are used for both models). Required.
	Model string `toml:"model"`
	// Reference is the model it is compared with. Required.
	Reference string `toml:"reference"`
	// Judge is as in run.toml ([judge]).
	Judge JudgeConfig `toml:"judge"`
	// Dataset is as in run.toml ([dataset]; split defaults to "train").
	Dataset DatasetConfig `toml:"dataset"`
	// Answers is a JSON Lines file of {"prompt", "answer"} (as the
	// exact_answer judge reads them) for accuracies; "" (default): none.
	Answers string `toml:"answers"`
	// MaxNewTokens is the most tokens generated per completion. Default 64.
	MaxNewTokens int `toml:"max_new_tokens"`
	// MaxLength bounds prompt plus completion; longer prompts are handled
	// by dataset.too_long. Default 512; must exceed MaxNewTokens.
	MaxLength int `toml:"max_length"`
	// Temperature is 0 (default) for greedy decoding, else > 0 for sampling.
	Temperature float64 `toml:"temperature"`
	// TopP is the nucleus mass when sampling. Default 1 (off); in (0, 1].
	TopP float64 `toml:"top_p"`
	// TopK keeps the K most likely tokens when sampling. Default 0 (off).
	TopK int `toml:"top_k"`
	// Seed seeds sampling (both models alike). Default 42.
	Seed int64 `toml:"seed"`
	// BatchSize is the number of prompts generated together. Default 16.
	BatchSize int `toml:"batch_size"`
	// Swap asks the judge both ways (see EvalConfig.Swap). Default true.
	Swap bool `toml:"swap"`
	// MaxPrompts evaluates only the first MaxPrompts prompts. Default 0 (all).
	MaxPrompts int `toml:"max_prompts"`
	// MissingEOSPenalty is as in run.toml (reward-model judges). Default unset.
	MissingEOSPenalty *float64 `toml:"missing_eos_penalty"`
	// Threads is the number of CPU threads libtorch uses. Default 0 (one per CPU).
	Threads int `toml:"threads"`
	// Output receives the pairs as JSON Lines (see EvalPair). Default
	// "pairs.jsonl"; "" writes none.
	Output string `toml:"output"`
	// Report receives the EvalReport as JSON. Default "" (none).
	Report string `toml:"report"`
}

// DefaultEvalFile returns the eval.toml defaults; model, reference,
// judge.kind and dataset.path are empty.
func DefaultEvalFile() EvalFile {
	return EvalFile{MaxNewTokens: 64, MaxLength: 512, TopP: 1, Seed: 42, BatchSize: 16, Swap: true,
		Output: "pairs.jsonl", Dataset: defaultDataset("train")}
}

// ParseEvalFile returns the defaults overlaid with the TOML file at path,
// decoded strictly as Parse decodes run.toml (errors are *ParseError values,
// "eval.toml:LINE:COL: key: message"). It does not validate.
func ParseEvalFile(path string) (EvalFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return EvalFile{}, err
	}
	e := DefaultEvalFile()
	if err := e.decode(path, data); err != nil {
		return EvalFile{}, err
	}
	return e, nil
}

// Set applies one "--set key=value" override with the rules of Config.Set;
// on error e is unchanged.
func (e *EvalFile) Set(key, value string) error {
	d, err := override(e.clone, (*EvalFile).decode, key, value)
	if err == nil {
		*e = d
	}
	return err
}

func (e EvalFile) clone() EvalFile {
	d := e
	d.MissingEOSPenalty = clonePtr(e.MissingEOSPenalty)
	if e.Judge.Options != nil {
		d.Judge.Options = cloneValue(e.Judge.Options).(map[string]any)
	}
	return d
}

// decode decodes doc over e strictly, with errors as in Config.decode.
func (e *EvalFile) decode(file string, doc []byte) error {
	err := toml.NewDecoder(bytes.NewReader(doc)).DisallowUnknownFields().Decode(e)
	if len(e.Judge.Options) == 0 {
		e.Judge.Options = nil
	}
	if err == nil {
		return nil
	}
	var de *toml.DecodeError
	var se *toml.StrictMissingError
	switch {
	case errors.As(err, &se):
		errs := make([]error, len(se.Errors))
		for i := range se.Errors {
			errs[i] = fromDecodeError(file, &se.Errors[i])
		}
		return errors.Join(errs...)
	case errors.As(err, &de):
		return fromDecodeError(file, de)
	}
	return &ParseError{File: file, Msg: err.Error()}
}

// Validate reports every problem of e as *FieldError values, joined; nil if
// there are none. Paths it names must exist.
func (e EvalFile) Validate() error {
	v := &validator{}
	v.required("model", e.Model)
	v.required("reference", e.Reference)
	if e.Judge.Kind == "" {
		v.add("judge.kind", "required; one of %s", quoteList(slices.Sorted(maps.Keys(JudgeKinds))))
	} else if !JudgeKinds[e.Judge.Kind] {
		v.add("judge.kind", "%q must be one of %s", e.Judge.Kind, quoteList(slices.Sorted(maps.Keys(JudgeKinds))))
	}
	if e.Judge.Kind == "reward_model" {
		v.required("judge.path", e.Judge.Path)
	} else if e.Judge.Path != "" {
		v.exists("judge.path", e.Judge.Path)
	}
	v.dataset("dataset", e.Dataset)
	if e.Answers != "" {
		v.exists("answers", e.Answers)
	}
	v.positive("max_new_tokens", e.MaxNewTokens)
	v.positive("max_length", e.MaxLength)
	if e.MaxNewTokens > 0 && e.MaxLength > 0 && e.MaxNewTokens >= e.MaxLength {
		v.add("max_new_tokens", "value %d must be < max_length (%d)", e.MaxNewTokens, e.MaxLength)
	}
	v.floatAtLeast("temperature", e.Temperature, 0)
	if !(e.TopP > 0 && e.TopP <= 1) {
		v.add("top_p", "value %v must be in (0, 1]", e.TopP)
	}
	v.nonNegative("top_k", e.TopK)
	v.positive("batch_size", e.BatchSize)
	v.nonNegative("max_prompts", e.MaxPrompts)
	if e.MissingEOSPenalty != nil {
		v.floatAtLeast("missing_eos_penalty", *e.MissingEOSPenalty, 0)
	}
	v.nonNegative("threads", e.Threads)
	return errors.Join(v.errs...)
}
