// Command nashmd-eval measures a checkpoint against a reference model under
// a judge:
//
//	nashmd-eval eval.toml [--set KEY=VALUE]...
//
// Both models complete every prompt of the dataset (greedy by default); the
// judge compares each pair; the command prints a markdown table of the win
// rate (ties left out) with its 95% Clopper–Pearson interval, the ties, n,
// and, with answers, each model's accuracy with its interval. The keys of
// eval.toml are those of trainer.EvalFile:
//
//	model = "DIR"                 the checkpoint (required)
//	reference = "DIR"             the model it is compared with (required)
//	answers = "answers.jsonl"     {prompt, answer} lines, for accuracies (optional)
//	max_new_tokens = 64           max_length = 512
//	temperature = 0.0             0: greedy; top_p = 1.0, top_k = 0, seed = 42 when sampling
//	batch_size = 16               max_prompts = 0 (all)
//	swap = true                   judge both orders (skipped for score-based judges)
//	missing_eos_penalty           as in run.toml (unset)
//	threads = 0                   libtorch CPU threads (0: one per CPU)
//	output = "pairs.jsonl"        the pairs, one JSON object per line ("" for none)
//	report = "report.json"        the report as JSON (optional)
//	[judge]                       as in run.toml (kind, path, [judge.options])
//	[dataset]                     as in run.toml (path, split, column, too_long)
//
// Paths in the file are relative to its directory; those given with --set,
// to the working directory. Exit status: 0 on success, 2 for a bad
// configuration or input (one line naming the place), 1 for a failure
// during evaluation.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/internal/setup"
	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
	"github.com/nashmd/nashmd/trainer"
)

// usageError marks bad input: exit status 2.
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "nashmd-eval:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

type sets []string

func (s *sets) String() string     { return strings.Join(*s, ",") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

// run parses the command line and evaluates; the table goes to stdout,
// progress lines to log.
func run(ctx context.Context, args []string, stdout, log io.Writer) error {
	fs := flag.NewFlagSet("nashmd-eval", flag.ContinueOnError)
	fs.SetOutput(log)
	var overrides sets
	fs.Var(&overrides, "set", "KEY=VALUE: override an eval.toml key (dotted path; repeatable)")
	metrics := fs.String("metrics", "", "a training run's metrics.jsonl: append this evaluation (at the checkpoint's step) and draw the PNG plots beside it")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || fs.NArg() > 1 {
		return usageError{errors.New("usage: nashmd-eval eval.toml [--set KEY=VALUE ...]")}
	}
	cfg, err := loadConfig(file, overrides)
	if err != nil {
		return usageError{err}
	}
	j, err := prepare(cfg, filepath.Dir(file), log)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", file, err)}
	}
	defer j.close()
	t0 := time.Now()
	j.ec.Progress = func(done, total int) {
		fmt.Fprintf(log, "eval: %d/%d prompts, %.1f s\n", done, total, time.Since(t0).Seconds())
	}
	r, err := trainer.Evaluate(ctx, j.ec)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, table(r))
	if cfg.Output != "" {
		fmt.Fprintf(log, "pairs in %s\n", cfg.Output)
	}
	if cfg.Report != "" {
		if err := writeReport(cfg, r); err != nil {
			return err
		}
		fmt.Fprintf(log, "report in %s\n", cfg.Report)
	}
	if *metrics != "" {
		if err := trainer.AppendEvalLine(*metrics, checkpointStep(cfg.Model), r); err != nil {
			return err
		}
		pngs, err := trainer.PlotMetrics(*metrics, filepath.Dir(*metrics))
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "plots: %s\n", strings.Join(pngs, " "))
	}
	return nil
}

// checkpointStep is global_step from the checkpoint's trainer_state.json
// (0 when the model is not a training checkpoint).
func checkpointStep(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		return 0
	}
	var st trainer.State
	if json.Unmarshal(b, &st) != nil {
		return 0
	}
	return st.GlobalStep
}

// loadConfig reads the file, makes its relative paths relative to the
// file's directory, applies the overrides (paths relative to the working
// directory) and validates. Errors name the file or the override.
func loadConfig(file string, overrides []string) (trainer.EvalFile, error) {
	cfg, err := trainer.ParseEvalFile(file)
	if err != nil {
		return cfg, err
	}
	base := filepath.Dir(file)
	for _, p := range []*string{&cfg.Model, &cfg.Reference, &cfg.Judge.Path, &cfg.Dataset.Path, &cfg.Answers, &cfg.Output, &cfg.Report} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	var errs []error
	for _, s := range overrides {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			errs = append(errs, &trainer.ParseError{File: "--set " + s, Msg: "want KEY=VALUE"})
			continue
		}
		if err := cfg.Set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, prefixErrors(file, err)
	}
	return cfg, nil
}

// prefixErrors prefixes every error joined in err with file.
func prefixErrors(file string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for i, e := range errs {
		errs[i] = fmt.Errorf("%s: %w", file, e)
	}
	return errors.Join(errs...)
}

// job holds what an evaluation loads.
type job struct {
	ec          trainer.EvalConfig
	policy, ref *torch.Model
	closers     []func()
}

func (j *job) close() {
	for _, m := range []*torch.Model{j.policy, j.ref} {
		m.Close()
	}
	for _, c := range j.closers {
		c()
	}
}

// prepare loads the models, the tokenizer, the prompts, the answers and
// the judge. base is the eval.toml's directory (for judge option paths).
func prepare(cfg trainer.EvalFile, base string, log io.Writer) (*job, error) {
	if cfg.Threads > 0 {
		if err := torch.SetNumThreads(cfg.Threads); err != nil {
			return nil, err
		}
	}
	j := &job{}
	ok := false
	defer func() {
		if !ok {
			j.close()
		}
	}()
	tok, err := tokenizer.Load(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if j.policy, err = torch.LoadLlama(cfg.Model, torch.Float32, torch.CPU); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if j.ref, err = torch.LoadLlama(cfg.Reference, torch.Float32, torch.CPU); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	eos, pad := j.policy.Config.EOSTokenIDs, int64(0)
	if p := j.policy.Config.PadTokenID; p != nil {
		pad = *p
	} else if len(eos) > 0 {
		pad = eos[0]
	}
	var eosTexts []string
	for _, id := range eos {
		eosTexts = append(eosTexts, tok.Decode([]int{int(id)}, false))
	}
	tmpl, _ := chat.Load(cfg.Model) // nil: no chat template (standard prompts only)
	render := func(p any) (string, error) {
		switch v := p.(type) {
		case string:
			return v, nil
		case []chat.Message:
			if tmpl == nil {
				return "", fmt.Errorf("a conversational prompt needs a chat template, and %s has none", cfg.Model)
			}
			return tmpl.Render(v, true)
		}
		return "", fmt.Errorf("unsupported prompt %T", p)
	}
	data, err := setup.LoadPrompts(cfg.Dataset, cfg.MaxLength-cfg.MaxNewTokens, tok, render, log)
	if err != nil {
		return nil, err
	}
	if cfg.MaxPrompts > 0 && len(data) > cfg.MaxPrompts {
		data = data[:cfg.MaxPrompts]
	}
	var answers map[string][]string
	if cfg.Answers != "" {
		if answers, err = setup.ReadAnswers(cfg.Answers, render); err != nil {
			return nil, fmt.Errorf("answers: %w", err)
		}
		if !slices.ContainsFunc(data, func(e trainer.Example) bool { return len(answers[e.Text]) > 0 }) {
			return nil, fmt.Errorf("answers: none of the %d prompts of %s has a reference answer in %s", len(data), cfg.Dataset.Path, cfg.Answers)
		}
	}
	outDir := filepath.Dir(cfg.Output)
	if cfg.Output == "" {
		outDir = base
	}
	env := &setup.JudgeEnv{Tok: tok, EOSTexts: eosTexts, Render: render, OutDir: outDir, Base: base, MissingEOSPenalty: cfg.MissingEOSPenalty}
	judge, err := setup.Judge("judge", cfg.Judge, env)
	j.closers = append(j.closers, env.Closers...)
	if err != nil {
		return nil, err
	}
	// The judge's own swap option and eval.toml's swap do the same thing:
	// ask once both ways, not four times.
	if sw, isSwap := judge.(judges.Swap); isSwap && cfg.Swap {
		judge = sw.Judge
	}
	j.ec = trainer.EvalConfig{
		Policy: j.policy, Reference: j.ref, Judge: judge, Swap: cfg.Swap, Prompts: data, Answers: answers, Tok: tok,
		MaxNewTokens: cfg.MaxNewTokens, Temperature: cfg.Temperature, TopP: cfg.TopP, TopK: cfg.TopK, Seed: uint64(cfg.Seed),
		BatchSize: cfg.BatchSize, EOS: eos, PadID: pad, PairsPath: cfg.Output,
	}
	ok = true
	return j, nil
}

// table renders the report as a markdown table.
func table(r trainer.EvalReport) string {
	var b strings.Builder
	ci := func(p trainer.Interval) string { return fmt.Sprintf("[%.3f, %.3f]", p.Lo, p.Hi) }
	b.WriteString("| | value | 95% CI |\n|---|---|---|\n")
	if r.Accuracy != nil {
		for _, row := range []struct {
			name string
			p    *trainer.Proportion
		}{{"accuracy, reference", r.RefAccuracy}, {"accuracy, policy", r.Accuracy}} {
			fmt.Fprintf(&b, "| %s | %.3f (%d/%d) | %s |\n", row.name, row.p.Rate, row.p.K, row.p.N, ci(row.p.CI))
		}
	}
	fmt.Fprintf(&b, "| win rate, policy vs reference (ties left out) | %.3f (%d wins, %d losses) | %s |\n", r.WinRate, r.Wins, r.Losses, ci(r.WinRateCI))
	fmt.Fprintf(&b, "| ties | %d | |\n", r.Ties)
	fmt.Fprintf(&b, "| mean P(policy beats reference) | %.3f | |\n", r.MeanProb)
	if r.MeanPolicyScore != nil {
		fmt.Fprintf(&b, "| mean judge score, reference / policy | %.4g / %.4g | |\n", *r.MeanRefScore, *r.MeanPolicyScore)
	}
	fmt.Fprintf(&b, "| n | %d | |\n", r.N)
	return b.String()
}

// report is what report.json holds: the evaluation's inputs and the
// trainer.EvalReport's fields.
type report struct {
	Model        string  `json:"model"`
	Reference    string  `json:"reference"`
	Judge        string  `json:"judge"`
	Dataset      string  `json:"dataset"`
	MaxNewTokens int     `json:"max_new_tokens"`
	Temperature  float64 `json:"temperature"`
	trainer.EvalReport
}

func writeReport(cfg trainer.EvalFile, r trainer.EvalReport) error {
	b, err := json.MarshalIndent(report{Model: cfg.Model, Reference: cfg.Reference, Judge: cfg.Judge.Kind, Dataset: cfg.Dataset.Path,
		MaxNewTokens: cfg.MaxNewTokens, Temperature: cfg.Temperature, EvalReport: r}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Report), 0o755); err != nil {
		return err
	}
	return os.WriteFile(cfg.Report, append(b, '\n'), 0o644)
}
