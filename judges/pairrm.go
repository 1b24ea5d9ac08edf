package judges

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/torch"
)

// PairRM is llm-blender's pairwise ranker (llm-blender/PairRM, a
// DeBERTa-v3-large encoder with a pair-ranker head) as TRL's old PairRMJudge
// used it.
//
// Input, as PairRM-hf's tokenize_pair builds it for (x, c1, c2):
//
//	[CLS] <|source|> x [SEP]   truncated to SourceMax tokens
//	[CLS] <|candidate1|> c1 [SEP] and [CLS] <|candidate2|> c2 [SEP], each
//	truncated to (SourceMax + 2·CandidateMax − len(source)) / 2 tokens
//
// Head, as DebertaV2PairRM: with h the last hidden states at the
// <|source|>, <|candidate1|>, <|candidate2|> tokens,
//
//	f(x, c1, c2) = mean_tasks( g([h_src; h_c1]) − g([h_src; h_c2]) ),
//	g(z) = W4·tanh(W1·z + b1) + b4          (head_layer.1 and head_layer.4)
//
// Probability, as TRL: llm-blender scores two candidates by the row means
// of C − Cᵀ with C[i][j] = f(x, c_i, c_j), and TRL softmaxes the scores with
// a temperature, so P(a ≻ b) = σ((f(x, a, b) − f(x, b, a)) / Temperature).
// Both orders run in one batch. Completions lose their EOS texts (Strip)
// first, as TRL judges decoded text without special tokens.
type PairRM struct {
	Encoder      *torch.Deberta
	Tokenizer    *tokenizer.Tokenizer
	SourceMax    int     // 1224, PairRM's source_max_length
	CandidateMax int     // 412, PairRM's candidate_max_length
	Temperature  float64 // 1, TRL's default
	Strip        []string
	BatchSize    int // pairs per forward (0: all)

	head                             map[string]*torch.Tensor // head_layer.{1,4}.{weight,bias}
	srcID, c1ID, c2ID, cls, sep, pad int64
}

// PairRMFiles lists what LoadPairRM reads from a PairRM directory.
const PairRMFiles = "config.json (DeBERTa-v2 keys plus source_prefix_id, cand1_prefix_id, cand2_prefix_id), " +
	"tokenizer.json or spm.model (with the <|source|>, <|candidate1|>, <|candidate2|> added tokens), " +
	"model.safetensors (or sharded, or pytorch_model.bin with allow_pickle): pretrained_model.* and head_layer.{1,4}.{weight,bias}"

// LoadPairRM loads a PairRM directory (see PairRMFiles) in float32 on CPU.
// Close frees it.
func LoadPairRM(dir string, allowPickle bool, strip []string) (*PairRM, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("pairrm: %w", err)
	}
	enc, other, err := torch.LoadDeberta(dir, "pretrained_model.", torch.Float32, torch.CPU, allowPickle)
	if err != nil {
		return nil, fmt.Errorf("pairrm: %w", err)
	}
	p := &PairRM{Encoder: enc, Tokenizer: tok, SourceMax: 1224, CandidateMax: 412, Temperature: 1, Strip: strip,
		head: map[string]*torch.Tensor{}}
	if err := p.load(dir, allowPickle, other); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *PairRM) load(dir string, allowPickle bool, other []string) error {
	var cfg struct {
		Src *int64 `json:"source_prefix_id"`
		C1  *int64 `json:"cand1_prefix_id"`
		C2  *int64 `json:"cand2_prefix_id"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return fmt.Errorf("pairrm: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("pairrm: %s: %w", filepath.Join(dir, "config.json"), err)
	}
	id := func(key string, fromCfg *int64, token string) (int64, error) {
		if fromCfg != nil {
			return *fromCfg, nil
		}
		if v, ok := p.Tokenizer.TokenToID(token); ok {
			return int64(v), nil
		}
		return 0, fmt.Errorf("pairrm: %s: no %s and the tokenizer has no %s token", dir, key, token)
	}
	if p.srcID, err = id("source_prefix_id", cfg.Src, "<|source|>"); err != nil {
		return err
	}
	if p.c1ID, err = id("cand1_prefix_id", cfg.C1, "<|candidate1|>"); err != nil {
		return err
	}
	if p.c2ID, err = id("cand2_prefix_id", cfg.C2, "<|candidate2|>"); err != nil {
		return err
	}
	for name, dst := range map[string]*int64{"[CLS]": &p.cls, "[SEP]": &p.sep, "[PAD]": &p.pad} {
		v, ok := p.Tokenizer.TokenToID(name)
		if !ok {
			return fmt.Errorf("pairrm: %s: the tokenizer has no %s token", dir, name)
		}
		*dst = int64(v)
	}
	names := []string{"head_layer.1.weight", "head_layer.1.bias", "head_layer.4.weight", "head_layer.4.bias"}
	for _, n := range names {
		if !slices.Contains(other, n) {
			return fmt.Errorf("pairrm: %s: missing weight %s", dir, n)
		}
	}
	w, err := torch.OpenWeights(dir, allowPickle)
	if err != nil {
		return fmt.Errorf("pairrm: %w", err)
	}
	defer w.Close()
	s := torch.NewScope()
	defer s.Close()
	for _, n := range names {
		p.head[n] = s.Keep(s.To(s.Weight(w, n), torch.Float32, torch.CPU))
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("pairrm: %w", err)
	}
	if w1 := p.head["head_layer.1.weight"].Shape(); len(w1) != 2 || w1[1] != 2*int64(p.Encoder.Config.HiddenSize) {
		return fmt.Errorf("pairrm: head_layer.1.weight has shape %v, want (H, 2H) with H = %d", w1, p.Encoder.Config.HiddenSize)
	}
	return nil
}

// Close frees the encoder and the head. Idempotent.
func (p *PairRM) Close() {
	for k, t := range p.head {
		t.Close()
		delete(p.head, k)
	}
	p.Encoder.Close()
}

// encode is tokenizer.encode(prefix + text, max_length=max, truncation=True)
// of a DeBERTa tokenizer: [CLS] ids [SEP], the ids cut to max − 2.
func (p *PairRM) encode(prefix, text string, limit int) []int64 {
	ids := p.Tokenizer.Encode(prefix+text, false)
	if n := limit - 2; len(ids) > n {
		ids = ids[:max(n, 0)]
	}
	out := make([]int64, 0, len(ids)+2)
	out = append(out, p.cls)
	for _, id := range ids {
		out = append(out, int64(id))
	}
	return append(out, p.sep)
}

// pair builds the ids of (x, c1, c2).
func (p *PairRM) pair(x, c1, c2 string) []int64 {
	src := p.encode("<|source|>", x, p.SourceMax)
	cmax := (p.SourceMax + 2*p.CandidateMax - len(src)) / 2
	ids := append(src, p.encode("<|candidate1|>", c1, cmax)...)
	return append(ids, p.encode("<|candidate2|>", c2, cmax)...)
}

// Prefer implements Judge.
func (p *PairRM) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	n := len(a)
	bs := p.BatchSize
	if bs <= 0 {
		bs = max(n, 1)
	}
	out := make([]float64, 0, n)
	for start := 0; start < n; start += bs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+bs, n)
		var rows [][]int64
		for i := start; i < end; i++ {
			ca, cb := p.strip(a[i]), p.strip(b[i])
			rows = append(rows, p.pair(prompts[i], ca, cb))
		}
		for i := start; i < end; i++ {
			ca, cb := p.strip(a[i]), p.strip(b[i])
			rows = append(rows, p.pair(prompts[i], cb, ca))
		}
		f, err := p.logits(rows)
		if err != nil {
			return nil, err
		}
		m := end - start
		for i := range m {
			d := (f[i] - f[m+i]) / p.Temperature
			if math.IsNaN(d) {
				return nil, &ItemError{Index: start + i, Err: fmt.Errorf("pairrm logit is NaN")}
			}
			out = append(out, 1/(1+math.Exp(-d)))
		}
	}
	return out, nil
}

func (p *PairRM) strip(s string) string {
	for _, e := range p.Strip {
		s = strings.ReplaceAll(s, e, "")
	}
	return s
}

// Logits returns f(x, c1, c2) for each row of ids built by pair.
func (p *PairRM) logits(rows [][]int64) ([]float64, error) {
	L := 0
	for _, r := range rows {
		L = max(L, len(r))
	}
	N := len(rows)
	ids := make([]int64, N*L)
	mask := make([]int64, N*L)
	var at [3][]int64 // flat positions of the three prefix tokens per row
	for i, r := range rows {
		for j := range L {
			if j < len(r) {
				ids[i*L+j], mask[i*L+j] = r[j], 1
			} else {
				ids[i*L+j] = p.pad
			}
		}
		for k, tid := range []int64{p.srcID, p.c1ID, p.c2ID} {
			j := slices.Index(r, tid)
			if j < 0 {
				return nil, &ItemError{Index: i % max(N/2, 1), Err: fmt.Errorf("pairrm: prefix token %d lost to truncation", tid)}
			}
			at[k] = append(at[k], int64(i*L+j))
		}
	}
	s := torch.NewScope()
	defer s.Close()
	var v []float32
	err := torch.NoGrad(func() error {
		h := s.DebertaHidden(p.Encoder, s.FromInt64(ids, int64(N), int64(L)), s.FromInt64(mask, int64(N), int64(L)))
		flat := s.Reshape(h, int64(N*L), -1) // (N·L, H)
		pick := func(k int) *torch.Tensor { return s.IndexSelect(flat, 0, s.FromInt64(at[k])) }
		src, c1, c2 := pick(0), pick(1), pick(2) // (N, H) each
		left, right := p.headOf(s, s.Cat(1, src, c1)), p.headOf(s, s.Cat(1, src, c2))
		f := s.MeanDim(s.Sub(left, right), -1, false) // (N)
		if err := s.Err(); err != nil {
			return err
		}
		var err error
		v, err = f.Float32s()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pairrm: %w", err)
	}
	out := make([]float64, N)
	for i, x := range v {
		out[i] = float64(x)
	}
	return out, nil
}

// headOf is W4·tanh(W1·z + b1) + b4 on z (N, 2H); tanh(x) = 2σ(2x) − 1.
func (p *PairRM) headOf(s *torch.Scope, z *torch.Tensor) *torch.Tensor {
	lin := func(x *torch.Tensor, w, b string) *torch.Tensor {
		return s.Add(s.Matmul(x, s.Transpose(p.head[w], 0, 1)), p.head[b])
	}
	u := lin(z, "head_layer.1.weight", "head_layer.1.bias")
	t := s.SubScalar(s.MulScalar(s.Sigmoid(s.MulScalar(u, 2)), 2), 1)
	return lin(t, "head_layer.4.weight", "head_layer.4.bias") // (N, tasks)
}
