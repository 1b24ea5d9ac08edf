// Command nashmd-train runs Nash-MD training from a TOML file:
//
//	nashmd-train run.toml [--output-dir DIR] [--set KEY=VALUE]...
//
// The file takes TRL's NashMDConfig names (see trainer.Config). Paths in
// it are relative to the file's directory. Exit status: 0 on success (also
// after SIGINT/SIGTERM, which checkpoint first), 2 for a bad configuration
// or input, 1 for a failure during training.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/internal/setup"
	"github.com/nashmd/nashmd/torch"
	"github.com/nashmd/nashmd/trainer"
)

// Data-parallel runs: started by torchrun (or srun, or anything that sets
// the same variables), every process runs this same command; see
// torch.DistEnvFrom for the variables and trainer.Distribute for what the
// processes share. Rank 0 alone prints progress and writes the output
// directory; every rank prints its own errors, prefixed with its rank.

// usageError marks bad input: exit status 2.
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "nashmd-train:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

type sets []string

func (s *sets) String() string     { return strings.Join(*s, ",") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

// run parses the command line and trains; log receives progress lines.
func run(ctx context.Context, args []string, log io.Writer) (err error) {
	fs := flag.NewFlagSet("nashmd-train", flag.ContinueOnError)
	fs.SetOutput(log)
	outDir := fs.String("output-dir", "", "output directory (overrides output_dir)")
	var overrides sets
	fs.Var(&overrides, "set", "KEY=VALUE: override a run.toml key (dotted path; repeatable)")
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
		return usageError{errors.New("usage: nashmd-train run.toml [--output-dir DIR] [--set KEY=VALUE ...]")}
	}
	cfg, err := loadConfig(file, *outDir, overrides)
	if err != nil {
		return usageError{err}
	}
	env, distributed, err := torch.DistEnvFromOS()
	if err != nil {
		return usageError{err}
	}
	if distributed {
		defer func() {
			if err != nil {
				err = fmt.Errorf("rank %d: %w", env.Rank, err)
			}
		}()
		if env.Rank != 0 {
			log = io.Discard
		}
	}
	// Nothing is written before the configuration, the models and the data
	// have been checked: a bad input leaves no output directory behind.
	job, err := prepare(cfg, filepath.Dir(file), log)
	if err != nil {
		return usageError{err}
	}
	defer job.close()
	if distributed {
		if err := job.distribute(env, log); err != nil {
			return err
		}
	}
	return job.train(ctx, log)
}

// distribute joins the process group of a data-parallel run.
func (j *job) distribute(env torch.DistEnv, log io.Writer) error {
	cfg := j.cfg
	timeout := time.Duration(cfg.DDPTimeout) * time.Second
	pg, err := torch.NewProcessGroup(env, torch.DistOptions{Backend: cfg.Backend(), Timeout: timeout})
	if err != nil {
		return err
	}
	j.pg = pg
	if err := j.tr.Distribute(pg); err != nil {
		return err
	}
	fmt.Fprintf(log, "data-parallel: %d processes (%s variables), %s, store %s:%d, ddp_timeout %s; "+
		"global batch %d = %d per device × %d accumulation steps × %d processes\n",
		env.WorldSize, env.Source, cfg.Backend(), env.MasterAddr, env.MasterPort, timeout,
		cfg.PerDeviceTrainBatchSize*cfg.GradientAccumulationSteps*env.WorldSize,
		cfg.PerDeviceTrainBatchSize, cfg.GradientAccumulationSteps, env.WorldSize)
	return nil
}

// loadConfig reads the file, makes its relative paths relative to the
// file's directory, then applies the command-line overrides (whose paths are
// relative to the working directory) and validates.
func loadConfig(file, outDir string, overrides []string) (trainer.Config, error) {
	cfg, err := trainer.Parse(file)
	if err != nil {
		return cfg, err
	}
	base := filepath.Dir(file)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	rel(&cfg.OutputDir)
	rel(&cfg.Model.Path)
	rel(&cfg.Reference.Path)
	rel(&cfg.Judge.Path)
	rel(&cfg.Dataset.Path)
	if cfg.EvalDataset != nil {
		rel(&cfg.EvalDataset.Path)
	}
	if cfg.ResumeFromCheckpoint != "" && cfg.ResumeFromCheckpoint != "latest" {
		rel(&cfg.ResumeFromCheckpoint)
	}
	if err := trainer.ApplyOverrides(&cfg, outDir, overrides); err != nil {
		return cfg, fmt.Errorf("%s: %w", file, err)
	}
	if cfg.EvalSteps > 0 {
		return cfg, fmt.Errorf("%s: eval_steps: evaluation during training is not supported yet; set eval_steps = 0 and evaluate checkpoints afterwards", file)
	}
	return cfg, nil
}

type job struct {
	cfg         trainer.Config
	policy, ref *torch.Model
	tr          *trainer.Trainer
	pg          *torch.ProcessGroup // data-parallel runs only
	closers     []func()
}

func (j *job) close() {
	if j.tr != nil {
		j.tr.Close()
	}
	j.pg.Close()
	for _, m := range []*torch.Model{j.policy, j.ref} {
		m.Close()
	}
	for _, c := range j.closers {
		c()
	}
}

// prepare loads models, tokenizer, judge and data.
func prepare(cfg trainer.Config, base string, log io.Writer) (*job, error) {
	if cfg.Threads > 0 {
		if err := torch.SetNumThreads(cfg.Threads); err != nil {
			return nil, err
		}
	}
	j := &job{cfg: cfg}
	ok := false
	defer func() {
		if !ok {
			j.close()
		}
	}()
	tok, err := tokenizer.Load(cfg.Model.Path)
	if err != nil {
		return nil, fmt.Errorf("model.path: %w", err)
	}
	dev, err := torch.ParseDevice(cfg.Device) // a CPU-only build says so for "cuda"
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	dt := dtypeOf(cfg.ModelDType())
	if j.policy, err = torch.LoadLlama(cfg.Model.Path, dt, dev); err != nil {
		return nil, fmt.Errorf("model.path: %w", err)
	}
	if err := j.policy.SetGradientCheckpointing(cfg.GradientCheckpointing); err != nil {
		return nil, err
	}
	refPath := cfg.Reference.Path
	if refPath == "" {
		refPath = cfg.Model.Path
	}
	if j.ref, err = torch.LoadLlama(refPath, dtypeOf(cfg.ReferenceDType()), dev); err != nil {
		return nil, fmt.Errorf("reference.path: %w", err)
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
	tmpl, _ := chat.Load(cfg.Model.Path) // nil: no chat template (standard prompts only)
	render := func(p any) (string, error) {
		switch v := p.(type) {
		case string:
			return v, nil
		case []chat.Message:
			if tmpl == nil {
				return "", fmt.Errorf("a conversational prompt needs a chat template, and %s has none", cfg.Model.Path)
			}
			return tmpl.Render(v, true)
		}
		return "", fmt.Errorf("unsupported prompt %T", p)
	}
	data, err := setup.LoadPrompts(cfg.Dataset, cfg.MaxLength-cfg.MaxNewTokens, tok, render, log)
	if err != nil {
		return nil, err
	}
	env := &setup.JudgeEnv{Tok: tok, EOSTexts: eosTexts, Render: render, OutDir: cfg.OutputDir, Base: base, MissingEOSPenalty: cfg.MissingEOSPenalty}
	judge, err := setup.Judge("judge", cfg.Judge, env)
	j.closers = append(j.closers, env.Closers...)
	if err != nil {
		return nil, err
	}
	if j.tr, err = trainer.New(cfg, j.policy, j.ref, judge, tok, data, eos, pad); err != nil {
		return nil, err
	}
	ok = true
	return j, nil
}

func dtypeOf(name string) torch.DType {
	if name == "bfloat16" {
		return torch.BFloat16
	}
	return torch.Float32
}

// train runs the loop, writing metrics and checkpoints under output_dir.
func (j *job) train(ctx context.Context, log io.Writer) error {
	cfg := j.cfg
	if cfg.ResumeFromCheckpoint != "" {
		dir := cfg.ResumeFromCheckpoint
		if dir == "latest" {
			var err error
			if dir, err = trainer.LatestCheckpoint(cfg.OutputDir); err != nil {
				return err
			}
		}
		if dir != "" {
			if err := j.tr.Resume(dir); err != nil {
				return err
			}
			fmt.Fprintf(log, "resumed from %s at step %d\n", dir, j.tr.State.GlobalStep)
		}
	}
	main := j.tr.Rank() == 0 // rank 0 alone writes output_dir
	if !main {
		return j.tr.Train(ctx, trainer.Hooks{Save: func(trainer.State) error { _, err := j.tr.SaveCheckpoint(cfg.Model.Path); return err }})
	}
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return err
	}
	mf, err := os.OpenFile(filepath.Join(cfg.OutputDir, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer mf.Close()
	sink := trainer.JSONL{W: mf}
	if err := sink.Header(cfg); err != nil {
		return err
	}
	j.tr.Out = sink
	start := time.Now()
	prog := newProgress(log, j.tr.State.MaxSteps)
	err = j.tr.Train(ctx, trainer.Hooks{
		Progress: func(st trainer.State, line trainer.Stats) { prog.update(st, line, time.Since(start)) },
		Save: func(st trainer.State) error {
			dir, err := j.tr.SaveCheckpoint(cfg.Model.Path)
			if err == nil {
				prog.message(fmt.Sprintf("saved %s", dir))
			}
			return err
		},
	})
	prog.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "done: %d steps in %s; metrics in %s\n", j.tr.State.GlobalStep, time.Since(start).Round(time.Millisecond), mf.Name())
	return nil
}
