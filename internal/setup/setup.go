// Package setup builds what the commands share from a TOML configuration:
// judges from a [judge] section and the prompts of a [dataset] section.
package setup

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/dataset"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
	"github.com/nashmd/nashmd/trainer"
)

// JudgeEnv is what building a judge needs from the rest of the run.
type JudgeEnv struct {
	Tok               *tokenizer.Tokenizer
	EOSTexts          []string
	Render            func(prompt any) (string, error) // a dataset prompt → the policy's prompt text
	OutDir            string
	Base              string   // the TOML file's directory: relative option paths start there
	MissingEOSPenalty *float64 // subtracted from a reward model's score of a completion without EOS
	Closers           []func() // what the built judges hold open; the caller runs them when done
}

// Judge builds a [judge] section (key names the place for errors):
//
//	reward_model  path: a ...ForSequenceClassification directory (num_labels = 1)
//	pairrm        path: a PairRM directory; options: temperature, source_max_length,
//	              candidate_max_length, allow_pickle, swap
//	http          options: base_url, model, api_key_env, template_file, timeout_s,
//	              max_retries, concurrency, rps, cache_dir (default output_dir/judge_cache),
//	              temperature, use_logprobs (default true), swap (default true)
//	exact_answer  options: answers (a jsonl of {"prompt": …, "answer": str or [str]}), contains
//	regex         options: pattern
//	length        options: prefer ("shorter" | "longer"), margin
//	lexicon       path: a VADER lexicon (vader_lexicon.txt); options: prefer, k
//	rule          options: prefer, word (the smoke-test rule judge)
//	weighted      options: members = [{kind, path, weight, options}, …]
func Judge(key string, c trainer.JudgeConfig, env *JudgeEnv) (judges.Judge, error) {
	o := opts{key: key + ".options", m: c.Options, base: env.Base}
	var jd judges.Judge
	var err error
	switch c.Kind {
	case "reward_model":
		jd, err = rewardJudge(key, c, env)
	case "pairrm":
		var p *judges.PairRM
		if p, err = judges.LoadPairRM(c.Path, o.bool("allow_pickle", false), env.EOSTexts); err == nil {
			env.Closers = append(env.Closers, p.Close)
			p.Temperature = o.float("temperature", 1)
			p.SourceMax = o.int("source_max_length", 1224)
			p.CandidateMax = o.int("candidate_max_length", 412)
			jd = p
		}
	case "http":
		cache := o.path("cache_dir", filepath.Join(env.OutDir, "judge_cache"))
		jd, err = judges.NewHTTP(judges.HTTPConfig{
			BaseURL: o.string("base_url", ""), Model: o.string("model", ""), APIKeyEnv: o.string("api_key_env", ""),
			TemplateFile: o.path("template_file", ""), Timeout: time.Duration(o.float("timeout_s", 30) * float64(time.Second)),
			MaxRetries: o.int("max_retries", 5), Concurrency: o.int("concurrency", 4), RPS: o.float("rps", 0),
			CacheDir: cache, Temperature: o.float("temperature", 0), UseLogprobs: o.bool("use_logprobs", true),
		})
		if err == nil && o.bool("swap", true) {
			jd = judges.Swap{Judge: jd}
		}
	case "exact_answer":
		var answers map[string][]string
		if answers, err = ReadAnswers(o.path("answers", ""), env.Render); err == nil {
			var e *judges.ExactAnswer
			if e, err = judges.NewExactAnswer(answers); err == nil {
				e.Contains = o.bool("contains", false)
				e.Strip = env.EOSTexts
				jd = e
			}
		}
	case "regex":
		jd, err = judges.NewRegex(o.string("pattern", ""), env.EOSTexts)
	case "length":
		jd, err = judges.NewLength(o.string("prefer", "shorter"), o.int("margin", 0), env.EOSTexts)
	case "lexicon":
		var v *judges.Vader
		if v, err = judges.LoadVader(c.Path); err == nil {
			var l *judges.Lexicon
			if l, err = judges.NewLexicon(v, o.string("prefer", "positive"), env.EOSTexts); err == nil {
				l.K = o.float("k", 10)
				jd = l
			}
		}
	case "rule":
		jd, err = judges.NewRule(o.string("prefer", ""), o.string("word", ""), env.EOSTexts)
	case "weighted":
		jd, err = weightedJudge(key, o, env)
	default:
		return nil, fmt.Errorf("%s.kind: unknown judge kind %q", key, c.Kind)
	}
	if err == nil {
		err = o.err
	}
	if err != nil {
		return nil, fmt.Errorf("%s (kind %q): %w", key, c.Kind, err)
	}
	if c.Kind == "pairrm" && o.bool("swap", false) {
		jd = judges.Swap{Judge: jd}
	}
	return jd, nil
}

func rewardJudge(key string, c trainer.JudgeConfig, env *JudgeEnv) (judges.Judge, error) {
	rm, err := torch.LoadLlama(c.Path, torch.Float32, torch.CPU)
	if err != nil {
		return nil, err
	}
	env.Closers = append(env.Closers, func() { rm.Close() })
	rtok, err := tokenizer.Load(c.Path)
	if err != nil {
		rtok = env.Tok // a reward model without its own tokenizer shares the policy's, as in TRL
	}
	rj, err := judges.NewRewardModel(rm, rtok, env.EOSTexts, env.MissingEOSPenalty)
	if err != nil {
		return nil, err
	}
	// The reward model's own chat template renders conversations.
	if t, err := chat.Load(c.Path); err == nil {
		rj.Template = t
	}
	return rj, nil
}

func weightedJudge(key string, o opts, env *JudgeEnv) (judges.Judge, error) {
	raw, ok := o.m["members"].([]any)
	if !ok || len(raw) == 0 {
		return nil, fmt.Errorf("%s.members: want a non-empty list of {kind, path, weight, options}", o.key)
	}
	var js []judges.Judge
	var ws []float64
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s.members[%d]: want a table", o.key, i)
		}
		mo := opts{key: fmt.Sprintf("%s.members[%d]", o.key, i), m: m, base: o.base}
		sub := trainer.JudgeConfig{Kind: mo.string("kind", ""), Path: mo.path("path", "")}
		if op, ok := m["options"].(map[string]any); ok {
			sub.Options = op
		}
		w := mo.float("weight", 1)
		if mo.err != nil {
			return nil, mo.err
		}
		jd, err := Judge(mo.key, sub, env)
		if err != nil {
			return nil, err
		}
		js, ws = append(js, jd), append(ws, w)
	}
	return judges.NewWeighted(js, ws)
}

// ReadAnswers reads {"prompt": string or [{role, content}], "answer": string
// or [string]} lines and keys them by the prompt as the policy sees it.
func ReadAnswers(path string, render func(any) (string, error)) (map[string][]string, error) {
	if path == "" {
		return nil, fmt.Errorf("options.answers: a jsonl file of {prompt, answer} is required")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("options.answers: %w", err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var row struct {
			Prompt json.RawMessage `json:"prompt"`
			Answer json.RawMessage `json:"answer"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		var p any
		var text string
		var msgs []chat.Message
		if json.Unmarshal(row.Prompt, &text) == nil {
			p = text
		} else if json.Unmarshal(row.Prompt, &msgs) == nil {
			p = msgs
		} else {
			return nil, fmt.Errorf("%s:%d: prompt: want a string or a list of {role, content}", path, line)
		}
		var ans []string
		var one string
		if json.Unmarshal(row.Answer, &one) == nil {
			ans = []string{one}
		} else if json.Unmarshal(row.Answer, &ans) != nil || len(ans) == 0 {
			return nil, fmt.Errorf("%s:%d: answer: want a string or a list of strings", path, line)
		}
		key, err := render(p)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out[key] = append(out[key], ans...)
	}
	return out, sc.Err()
}

// opts reads typed judge options, recording the first type error.
type opts struct {
	key  string
	m    map[string]any
	base string
	err  error
}

// path is a string option naming a file, relative to the run.toml's directory.
func (o *opts) path(name, def string) string {
	p := o.string(name, def)
	if p != "" && p != def && !filepath.IsAbs(p) && o.base != "" {
		p = filepath.Join(o.base, p)
	}
	return p
}

func (o *opts) fail(name, want string, v any) {
	if o.err == nil {
		o.err = fmt.Errorf("%s.%s: want %s, got %T", o.key, name, want, v)
	}
}

func (o *opts) string(name, def string) string {
	v, ok := o.m[name]
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		o.fail(name, "a string", v)
	}
	return s
}

func (o *opts) float(name string, def float64) float64 {
	switch v := o.m[name].(type) {
	case nil:
		return def
	case float64:
		return v
	case int64:
		return float64(v)
	default:
		o.fail(name, "a number", v)
		return def
	}
}

func (o *opts) int(name string, def int) int {
	switch v := o.m[name].(type) {
	case nil:
		return def
	case int64:
		return int(v)
	default:
		o.fail(name, "an integer", v)
		return def
	}
}

func (o *opts) bool(name string, def bool) bool {
	switch v := o.m[name].(type) {
	case nil:
		return def
	case bool:
		return v
	default:
		o.fail(name, "true or false", v)
		return def
	}
}

// LoadPrompts reads the prompts, applies the chat template to conversational
// ones, tokenizes, and reports (skips or rejects) empty and too-long rows
// (longer than budget tokens).
func LoadPrompts(ds trainer.DatasetConfig, budget int, tok *tokenizer.Tokenizer, renderAny func(any) (string, error), log io.Writer) ([]trainer.Example, error) {
	d, err := dataset.Open(ds.Path, dataset.Options{Split: ds.Split, Column: ds.Column})
	if err != nil {
		return nil, fmt.Errorf("dataset.path: %w", err)
	}
	defer d.Close()
	texts := map[int64]string{}
	render := func(p dataset.Prompt) (string, error) {
		if d.Format() != dataset.Conversational {
			return renderAny(p.Text)
		}
		msgs := make([]chat.Message, len(p.Messages))
		for i, m := range p.Messages {
			msgs[i] = chat.Message{Role: m.Role, Content: m.Content}
		}
		return renderAny(msgs)
	}
	policy := dataset.Skip
	if ds.TooLong == "reject" {
		policy = dataset.Reject
	}
	report, err := d.Filter(func(p dataset.Prompt) (bool, string) {
		text, err := render(p)
		if err != nil {
			return false, "chat template error: " + err.Error()
		}
		if n := len(tok.Encode(text, false)); n > budget {
			return false, fmt.Sprintf("longer than max_length - max_new_tokens = %d tokens", budget)
		}
		texts[p.Row] = text
		return true, ""
	}, policy)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if report != nil && report.String() != "" {
		fmt.Fprintf(log, "dataset: %s\n", report)
	}
	var out []trainer.Example
	it := d.All()
	for it.Next() {
		p := it.Prompt()
		text, ok := texts[p.Row]
		if !ok {
			continue
		}
		ids := tok.Encode(text, false)
		e := trainer.Example{Row: p.Row, Text: text, IDs: make([]int64, len(ids))}
		for _, m := range p.Messages {
			e.Messages = append(e.Messages, chat.Message{Role: m.Role, Content: m.Content})
		}
		for i, id := range ids {
			e.IDs[i] = int64(id)
		}
		out = append(out, e)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dataset.path: %s has no usable prompts", ds.Path)
	}
	return out, nil
}
