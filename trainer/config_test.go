package trainer

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// Paths that exist relative to the package directory.
const (
	testDir     = "testdata/config"
	testPrompts = "testdata/config/prompts.jsonl"
)

// minimal is the smallest valid run.toml: the required keys only.
const minimal = `
output_dir = "runs/x"
[model]
path = "testdata/config"
[judge]
kind = "rule"
[dataset]
path = "testdata/config/prompts.jsonl"
`

func writeTOML(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "run.toml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// valid returns a configuration that passes Validate.
func valid() Config {
	c := Default()
	c.OutputDir = "runs/x"
	c.Model.Path = testDir
	c.Judge.Kind = "rule"
	c.Dataset.Path = testPrompts
	return c
}

func ptr(f float64) *float64 { return &f }

// TestDefault checks Default against TRL's NashMDConfig / transformers'
// TrainingArguments defaults, typed here from their documentation.
func TestDefault(t *testing.T) {
	want := Config{
		Beta: Schedule{0.1}, MixtureCoef: Schedule{0.5},
		MaxNewTokens: 64, MaxLength: 512, Temperature: 0.9, TopK: 0, TopP: 1.0,
		RepetitionPenalty: 1.0, LearningRate: 5e-7, LRSchedulerType: "linear",
		AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEpsilon: 1e-8, MaxGradNorm: 1.0,
		NumTrainEpochs: 3, MaxSteps: -1, PerDeviceTrainBatchSize: 8,
		GradientAccumulationSteps: 1, Seed: 42, LoggingSteps: 10, SaveSteps: 500,
		DDPTimeout: 1800, Device: "cpu", KLEstimator: "trl", MaxNonFiniteSteps: 3,
		Dataset: DatasetConfig{Split: "train", Column: "prompt", TooLong: "skip"},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
	}
	if got := Default().Backend(); got != "gloo" {
		t.Errorf("Backend() = %q, want gloo", got)
	}
	if c := (Config{Device: "cuda:1"}); c.Backend() != "nccl" {
		t.Errorf("Backend() on cuda:1 = %q, want nccl", c.Backend())
	}
	if got := Default().ModelDType(); got != "float32" {
		t.Errorf("ModelDType() = %q, want float32", got)
	}
}

func TestLoadMinimal(t *testing.T) {
	c, err := Load(writeTOML(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if want := valid(); !reflect.DeepEqual(c, want) {
		t.Errorf("Load(minimal) =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadEveryKey(t *testing.T) {
	c, err := Load(filepath.Join(testDir, "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		OutputDir: "runs/full", Beta: Schedule{0.2, 0.1, 0.05}, MixtureCoef: Schedule{0.25},
		MaxNewTokens: 32, MaxLength: 256, Temperature: 0.7, TopK: 50, TopP: 0.95,
		MinP: ptr(0.05), RepetitionPenalty: 1.1, MissingEOSPenalty: ptr(1.0),
		LearningRate: 1e-6, LRSchedulerType: "cosine", WarmupRatio: 0.1, WarmupSteps: 5,
		WeightDecay: 0.01, AdamBeta1: 0.8, AdamBeta2: 0.95, AdamEpsilon: 1e-6,
		MaxGradNorm: 0.5, NumTrainEpochs: 2.5, MaxSteps: 100,
		PerDeviceTrainBatchSize: 4, GradientAccumulationSteps: 2, Seed: 1234,
		LoggingSteps: 1, SaveSteps: 50, SaveTotalLimit: 2, EvalSteps: 25, BF16: true,
		ResumeFromCheckpoint: testDir, DDPTimeout: 60, GradientCheckpointing: true, DDPBackend: "nccl", Device: "cuda:1", Threads: 4,
		KLEstimator: "reward_to_go", MaxNonFiniteSteps: 5,
		Model:     ModelConfig{Path: testDir, DType: "bfloat16"},
		Reference: ModelConfig{Path: testDir, DType: "float32"},
		Judge: JudgeConfig{Kind: "reward_model", Path: testDir, Options: map[string]any{
			"threshold": 0.5, "labels": []any{"a", "b"}, "nested": map[string]any{"depth": int64(2)},
		}},
		Dataset:     DatasetConfig{Path: testPrompts, Split: "validation", Column: "messages", TooLong: "reject"},
		EvalDataset: &DatasetConfig{Path: testPrompts, Split: "eval", Column: "question", TooLong: "reject"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(full.toml) =\n%+v\nwant\n%+v", c, want)
	}
	if c.ModelDType() != "bfloat16" || c.ReferenceDType() != "float32" {
		t.Errorf("dtypes = %q, %q", c.ModelDType(), c.ReferenceDType())
	}

	// full.toml must name every key of Config, so that a field added
	// without a test shows up here.
	data, err := os.ReadFile(filepath.Join(testDir, "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range tomlKeys(reflect.TypeFor[Config](), "") {
		if !hasKey(doc, key) {
			t.Errorf("full.toml lacks key %s", key)
		}
	}
}

// tomlKeys lists the dotted toml keys of the struct type t.
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, tomlKeys(ft, prefix+name+".")...)
		} else {
			keys = append(keys, prefix+name)
		}
	}
	return keys
}

func hasKey(doc map[string]any, key string) bool {
	var v any = doc
	for part := range strings.SplitSeq(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestEvalDatasetDefaults(t *testing.T) {
	c, err := Load(writeTOML(t, minimal+"[eval_dataset]\npath = \"testdata/config/prompts.jsonl\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DatasetConfig{Path: testPrompts, Split: "test", Column: "prompt", TooLong: "skip"}
	if c.EvalDataset == nil || *c.EvalDataset != want {
		t.Errorf("EvalDataset = %+v, want %+v", c.EvalDataset, want)
	}
}

func TestScheduleDecode(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  Schedule
	}{
		{"0.2", Schedule{0.2}},
		{"1", Schedule{1}},
		{"[0.1, 0.05]", Schedule{0.1, 0.05}},
		{"[1, 0.5, 0]", Schedule{1, 0.5, 0}},
		{"[\n  0.3,\n  0.2,\n]", Schedule{0.3, 0.2}},
	} {
		c, err := Load(writeTOML(t, "beta = "+tc.value+"\nmixture_coef = "+tc.value+"\n"+minimal))
		if err != nil {
			t.Errorf("beta = %s: %v", tc.value, err)
			continue
		}
		if !reflect.DeepEqual(c.Beta, tc.want) || !reflect.DeepEqual(c.MixtureCoef, tc.want) {
			t.Errorf("beta = %s: got %v, %v, want %v", tc.value, c.Beta, c.MixtureCoef, tc.want)
		}
	}
}

func TestScheduleAt(t *testing.T) {
	s := Schedule{0.3, 0.2, 0.1}
	for epoch, want := range []float64{0.3, 0.2, 0.1, 0.1, 0.1} {
		if got := s.At(epoch); got != want {
			t.Errorf("At(%d) = %v, want %v", epoch, got, want)
		}
	}
	if got := (Schedule{0.7}).At(5); got != 0.7 {
		t.Errorf("one-value At(5) = %v", got)
	}
	if got := (Schedule{}).At(0); got == got {
		t.Errorf("empty At(0) = %v, want NaN", got)
	}
}

func TestMarshalScheduleForm(t *testing.T) {
	c := valid()
	c.Beta = Schedule{0.25}
	c.MixtureCoef = Schedule{0.5, 1, 1e-7}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{"beta = 0.25", "mixture_coef = [0.5, 1.0, 1e-07]"} {
		if !slices.Contains(lines, want) {
			t.Errorf("Marshal lacks line %q:\n%s", want, b)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	full, err := Load(filepath.Join(testDir, "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	odd := valid()
	odd.Beta = Schedule{0.1, 0.05}
	odd.LearningRate = 3.0000000000000004e-7
	odd.AdamEpsilon = 1e-300
	odd.NumTrainEpochs = 1.0 / 3
	odd.Seed = -7
	odd.Judge.Options = map[string]any{"s": "quote\" and \\ and\nnewline", "i": int64(-3)}
	odd.OutputDir = "runs/with 'quotes' and \"double\""
	for name, c := range map[string]Config{"minimal": valid(), "full": full, "odd": odd} {
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Load(writeTOML(t, string(b)))
		if err != nil {
			t.Fatalf("%s: Load(Marshal(c)): %v\n%s", name, err, b)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: Load(Marshal(c)) =\n%+v\nwant\n%+v\ndocument:\n%s", name, got, c, b)
		}
	}
}

// TestDecodeErrors checks that unknown keys, wrong types and syntax errors
// are reported as FILE:LINE:COL: key: message.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string // one line per error, after the file name
	}{
		{"unknown top-level key", "seed = 1\nlearning_rat = 1e-6\n",
			[]string{":2:1: learning_rat: unknown key"}},
		{"unknown nested key", "[judge]\nkind = \"rule\"\nkidn = \"x\"\n",
			[]string{":3:1: judge.kidn: unknown key"}},
		{"every unknown key", "[model]\npth = \"x\"\n[dataset]\ncolum = \"p\"\n[extra]\na = 1\n[judge.options]\nanything = 1\n",
			[]string{":2:1: model.pth: unknown key", ":4:1: dataset.colum: unknown key", ":5:2: extra: unknown table"}},
		{"unknown key in eval_dataset", "[eval_dataset]\npath = \"p\"\nsplits = \"x\"\n",
			[]string{":3:1: eval_dataset.splits: unknown key"}},
		{"dotted unknown key", "judge.knd = \"rule\"\n",
			[]string{":1:1: judge.knd: unknown key"}},
		{"int for float is fine but float for int is not", "learning_rate = 1\nmax_steps = 3.0\n",
			[]string{":2:13: max_steps: wrong type: want integer, got float"}},
		{"string for int", "\n\nseed = \"42\"\n",
			[]string{":3:8: seed: wrong type: want integer, got string"}},
		{"int for bool", "bf16 = 1\n",
			[]string{":1:8: bf16: wrong type: want boolean, got integer"}},
		{"int for string", "[model]\npath = 3\n",
			[]string{":2:8: model.path: wrong type: want string, got integer"}},
		{"string for optional float", "min_p = \"0.1\"\n",
			[]string{":1:9: min_p: wrong type: want float, got string"}},
		{"scalar for table", "judge = \"rule\"\n",
			[]string{":1:9: judge: wrong type: want table, got string"}},
		{"string schedule", "seed = 1\nbeta = \"0.1\"\n",
			[]string{":2:8: beta: wrong type: want float or array of floats"}},
		{"inline table schedule", "mixture_coef = { a = 1 }\n",
			[]string{":1:16: mixture_coef: wrong type: want float or array of floats"}},
		{"table schedule", "seed = 1\n[beta]\nx = 1\n",
			[]string{":2:2: beta: wrong type: want float or array of floats"}},
		{"syntax error", "seed = 1\ntemperature = \n",
			[]string{":2:15: unexpected character U+000A at start of value"}},
		{"unterminated string", "[model]\npath = \"abc\n",
			[]string{":2:12: basic strings cannot have new lines"}},
		{"duplicate key", "seed = 1\nseed = 2\n",
			[]string{":2:1: seed: key seed is already defined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTOML(t, tc.doc)
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, p+w)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
		})
	}
}

// TestValidate changes one key of a valid configuration and checks that
// Validate reports exactly that key.
func TestValidate(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		key, msg string // msg: a substring of the message
		edit     func(c *Config)
	}{
		{"output_dir", "required", func(c *Config) { c.OutputDir = "" }},
		{"beta", "value -0.1 at index 1 must be >= 0", func(c *Config) { c.Beta = Schedule{0.1, -0.1} }},
		{"beta", "value -1 must be >= 0", func(c *Config) { c.Beta = Schedule{-1} }},
		{"beta", "needs at least one value", func(c *Config) { c.Beta = Schedule{} }},
		{"beta", "must be finite", func(c *Config) { c.Beta = Schedule{math.Inf(1)} }},
		{"mixture_coef", "value 1.5 must be <= 1", func(c *Config) { c.MixtureCoef = Schedule{1.5} }},
		{"mixture_coef", "value -0.5 at index 0 must be >= 0", func(c *Config) { c.MixtureCoef = Schedule{-0.5, 0.5} }},
		{"max_new_tokens", "must be > 0", func(c *Config) { c.MaxNewTokens = 0 }},
		{"max_length", "must be > 0", func(c *Config) { c.MaxLength = -1; c.MaxNewTokens = 1 }},
		{"max_new_tokens", "value 512 must be < max_length (512)", func(c *Config) { c.MaxNewTokens = 512 }},
		{"temperature", "must be finite and > 0", func(c *Config) { c.Temperature = 0 }},
		{"top_k", "must be >= 0", func(c *Config) { c.TopK = -1 }},
		{"top_p", "must be in (0, 1]", func(c *Config) { c.TopP = 0 }},
		{"top_p", "must be in (0, 1]", func(c *Config) { c.TopP = 1.01 }},
		{"min_p", "must be in [0, 1]", func(c *Config) { c.MinP = ptr(-0.1) }},
		{"repetition_penalty", "must be finite and > 0", func(c *Config) { c.RepetitionPenalty = 0 }},
		{"missing_eos_penalty", "must be finite and >= 0", func(c *Config) { c.MissingEOSPenalty = ptr(-1) }},
		{"learning_rate", "must be finite and >= 0", func(c *Config) { c.LearningRate = -1e-6 }},
		{"lr_scheduler_type", `"polynomial" must be one of "linear", "cosine", "constant", "constant_with_warmup"`,
			func(c *Config) { c.LRSchedulerType = "polynomial" }},
		{"warmup_ratio", "must be in [0, 1)", func(c *Config) { c.WarmupRatio = 1 }},
		{"warmup_ratio", "must be in [0, 1)", func(c *Config) { c.WarmupRatio = -0.1 }},
		{"warmup_steps", "must be >= 0", func(c *Config) { c.WarmupSteps = -1 }},
		{"weight_decay", "must be finite and >= 0", func(c *Config) { c.WeightDecay = -0.1 }},
		{"adam_beta1", "must be in [0, 1)", func(c *Config) { c.AdamBeta1 = 1 }},
		{"adam_beta2", "must be in [0, 1)", func(c *Config) { c.AdamBeta2 = -0.1 }},
		{"adam_epsilon", "must be finite and >= 0", func(c *Config) { c.AdamEpsilon = -1 }},
		{"max_grad_norm", "must be finite and >= 0", func(c *Config) { c.MaxGradNorm = -1 }},
		{"num_train_epochs", "must be finite and > 0", func(c *Config) { c.NumTrainEpochs = 0 }},
		{"max_steps", "must be -1 (use num_train_epochs) or > 0", func(c *Config) { c.MaxSteps = 0 }},
		{"max_steps", "must be -1 (use num_train_epochs) or > 0", func(c *Config) { c.MaxSteps = -2 }},
		{"per_device_train_batch_size", "must be > 0", func(c *Config) { c.PerDeviceTrainBatchSize = 0 }},
		{"gradient_accumulation_steps", "must be > 0", func(c *Config) { c.GradientAccumulationSteps = 0 }},
		{"logging_steps", "must be > 0", func(c *Config) { c.LoggingSteps = 0 }},
		{"save_steps", "must be >= 0", func(c *Config) { c.SaveSteps = -1 }},
		{"save_total_limit", "must be >= 0", func(c *Config) { c.SaveTotalLimit = -1 }},
		{"eval_steps", "must be >= 0", func(c *Config) { c.EvalSteps = -1 }},
		{"eval_steps", "needs an [eval_dataset]", func(c *Config) { c.EvalSteps = 10 }},
		{"resume_from_checkpoint", "no such file", func(c *Config) { c.ResumeFromCheckpoint = missing }},
		{"ddp_timeout", "must be > 0", func(c *Config) { c.DDPTimeout = 0 }},
		{"ddp_backend", `"mpi" must be one of "gloo", "nccl"`, func(c *Config) { c.DDPBackend = "mpi" }},
		{"ddp_backend", `"nccl" needs a CUDA device, and device is "cpu"`, func(c *Config) { c.DDPBackend = "nccl" }},
		{"device", `"gpu" must be "cpu", "cuda" or "cuda:N"`, func(c *Config) { c.Device = "gpu" }},
		{"device", `"cuda:x"`, func(c *Config) { c.Device = "cuda:x" }},
		{"threads", "must be >= 0", func(c *Config) { c.Threads = -1 }},
		{"kl_estimator", `"paper" must be one of "trl", "reward_to_go"`, func(c *Config) { c.KLEstimator = "paper" }},
		{"max_nonfinite_steps", "must be > 0", func(c *Config) { c.MaxNonFiniteSteps = 0 }},
		{"model.path", "required", func(c *Config) { c.Model.Path = "" }},
		{"model.path", "no such file", func(c *Config) { c.Model.Path = missing }},
		{"model.dtype", `"float16" must be one of "float32", "bfloat16"`, func(c *Config) { c.Model.DType = "float16" }},
		{"reference.path", "no such file", func(c *Config) { c.Reference.Path = missing }},
		{"reference.dtype", "must be one of", func(c *Config) { c.Reference.DType = "fp32" }},
		{"judge.kind", `required; one of "exact_answer", "http", "length", "lexicon", "pairrm", "regex", "reward_model", "rule", "weighted"`, func(c *Config) { c.Judge.Kind = "" }},
		{"judge.kind", `"oracle" must be one of`, func(c *Config) { c.Judge.Kind = "oracle" }},
		{"judge.path", "required", func(c *Config) { c.Judge.Kind = "reward_model" }},
		{"judge.path", "no such file", func(c *Config) { c.Judge.Path = missing }},
		{"dataset.path", "required", func(c *Config) { c.Dataset.Path = "" }},
		{"dataset.path", "no such file", func(c *Config) { c.Dataset.Path = missing }},
		{"dataset.split", "must not be empty", func(c *Config) { c.Dataset.Split = "" }},
		{"dataset.column", "must not be empty", func(c *Config) { c.Dataset.Column = "" }},
		{"dataset.too_long", `"truncate" must be one of "skip", "reject"`, func(c *Config) { c.Dataset.TooLong = "truncate" }},
		{"eval_dataset.path", "no such file", func(c *Config) {
			c.EvalDataset = &DatasetConfig{Path: missing, Split: "test", Column: "prompt", TooLong: "skip"}
		}},
		{"eval_dataset.too_long", "must be one of", func(c *Config) {
			c.EvalDataset = &DatasetConfig{Path: testPrompts, Split: "test", Column: "prompt", TooLong: "x"}
		}},
	} {
		c := valid()
		tc.edit(&c)
		err := c.Validate()
		errs := flatten(err)
		if err == nil || len(errs) != 1 {
			t.Errorf("%s (%s): got %d errors: %v", tc.key, tc.msg, len(errs), err)
			continue
		}
		var fe *FieldError
		if !errors.As(errs[0], &fe) || fe.Key != tc.key || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("got %q, want key %s with %q", err, tc.key, tc.msg)
		}
		if !strings.HasPrefix(err.Error(), tc.key+": ") {
			t.Errorf("message %q does not start with %q", err, tc.key+": ")
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	for name, edit := range map[string]func(c *Config){
		"judge.kind registered later": func(c *Config) { c.Judge.Kind = "test_judge" },
		"boundaries": func(c *Config) {
			c.TopP = 1
			c.MixtureCoef = Schedule{0, 1}
			c.Beta = Schedule{0}
			c.MinP = ptr(0)
			c.MissingEOSPenalty = ptr(0)
		},
		"max_steps without epochs": func(c *Config) { c.MaxSteps = 10; c.NumTrainEpochs = 0 },
		"resume latest":            func(c *Config) { c.ResumeFromCheckpoint = "latest" },
		"cuda":                     func(c *Config) { c.Device = "cuda" },
		"cuda:12":                  func(c *Config) { c.Device = "cuda:12" },
		"no clipping":              func(c *Config) { c.MaxGradNorm = 0 },
	} {
		JudgeKinds["test_judge"] = true
		c := valid()
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		delete(JudgeKinds, "test_judge")
	}
}

// TestLoadValidation checks that Load reports every problem, each prefixed
// with the file name.
func TestLoadValidation(t *testing.T) {
	p := writeTOML(t, "beta = [0.1, -0.1]\ntop_p = 0\nlr_scheduler_type = \"step\"\n[dataset]\ntoo_long = \"cut\"\n")
	_, err := Load(p)
	want := []string{
		p + ": output_dir: required",
		p + ": beta: value -0.1 at index 1 must be >= 0",
		p + ": top_p: value 0 must be in (0, 1]",
		p + `: lr_scheduler_type: "step" must be one of "linear", "cosine", "constant", "constant_with_warmup"`,
		p + ": model.path: required",
		p + `: judge.kind: required; one of "exact_answer", "http", "length", "lexicon", "pairrm", "regex", "reward_model", "rule", "weighted"`,
		p + ": dataset.path: required",
		p + `: dataset.too_long: "cut" must be one of "skip", "reject"`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "output_dir" {
		t.Errorf("errors.As(*FieldError) = %v", fe)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want os.ErrNotExist", err)
	}
}

func TestSet(t *testing.T) {
	c := valid()
	for _, kv := range [][2]string{
		{"beta", "0.2"},
		{"mixture_coef", "[0.5, 0.25]"},
		{"judge.kind", "reward_model"},
		{"judge.path", "testdata/config"},
		{"model.path", "/x"},
		{"model.dtype", `"bfloat16"`},
		{"seed", "7"},
		{"learning_rate", "1e-5"},
		{"bf16", "true"},
		{"device", "cuda:1"},
		{"min_p", "0.05"},
		{"judge.options.threshold", "0.5"},
		{"judge.options.name", "x y"},
		{"eval_dataset.path", testPrompts},
		{"output_dir", "runs/with space"},
	} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Errorf("Set(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	want := valid()
	want.Beta = Schedule{0.2}
	want.MixtureCoef = Schedule{0.5, 0.25}
	want.Judge = JudgeConfig{Kind: "reward_model", Path: testDir, Options: map[string]any{"threshold": 0.5, "name": "x y"}}
	want.Model = ModelConfig{Path: "/x", DType: "bfloat16"}
	want.Seed = 7
	want.LearningRate = 1e-5
	want.BF16 = true
	want.Device = "cuda:1"
	want.MinP = ptr(0.05)
	want.EvalDataset = &DatasetConfig{Path: testPrompts, Split: "test", Column: "prompt", TooLong: "skip"}
	want.OutputDir = "runs/with space"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("after Set:\n%+v\nwant\n%+v", c, want)
	}
}

func TestSetErrors(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"beta", "abc", "--set beta=abc: beta: wrong type: want float or array of floats"},
		{"beta", `["a"]`, `--set beta=["a"]: beta: wrong type: want float or array of floats`},
		{"seed", "abc", "--set seed=abc: seed: wrong type: want integer, got string"},
		{"seed", "1.5", "--set seed=1.5: seed: wrong type: want integer, got float"},
		{"bf16", "yes", "--set bf16=yes: bf16: wrong type: want boolean, got string"},
		{"min_p", "low", "--set min_p=low: min_p: wrong type: want float, got string"},
		{"output_dir", "123", "--set output_dir=123: output_dir: wrong type: want string, got integer"},
		{"sed", "1", "--set sed=1: sed: unknown key"},
		{"judge.knd", "rule", "--set judge.knd=rule: judge.knd: unknown key"},
		{"a b", "1", "--set a b=1: expected '=' after key"},
		{"", "1", "--set =1: empty key"},
		{"seed", "1\nbeta = 2", "--set seed=1\nbeta = 2: key and value must be on one line"},
	} {
		c := valid()
		c.MinP = ptr(0.1)
		c.Judge.Options = map[string]any{"a": map[string]any{"b": int64(1)}}
		before := c.clone()
		err := c.Set(tc.key, tc.value)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Set(%q, %q) = %v, want %s", tc.key, tc.value, err, tc.want)
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Set(%q, %q): %T is not a *ParseError", tc.key, tc.value, err)
		}
		if !reflect.DeepEqual(c, before) {
			t.Errorf("Set(%q, %q) changed c on error", tc.key, tc.value)
		}
	}

	// A failing Set leaves shared memory alone too.
	c := valid()
	c.MinP = ptr(0.1)
	c.Judge.Options = map[string]any{"a": map[string]any{"b": int64(1)}}
	minP, inner := c.MinP, c.Judge.Options["a"].(map[string]any)
	// The unknown key is reported after the map has been decoded into.
	if err := c.Set("judge", "{ options = { a = { c = 2 } }, kidn = 1 }"); err == nil {
		t.Error("unknown key accepted")
	}
	if err := c.Set("min_p", "0.2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("judge.options.a.c", "2"); err != nil {
		t.Fatal(err)
	}
	if *minP != 0.1 || len(inner) != 1 {
		t.Errorf("Set wrote through shared memory: min_p %v, options.a %v", *minP, inner)
	}
	if a, _ := c.Judge.Options["a"].(map[string]any); *c.MinP != 0.2 || a["c"] != int64(2) {
		t.Errorf("after Set: min_p %v, options %v", *c.MinP, c.Judge.Options)
	}
}

func TestApplyOverrides(t *testing.T) {
	c, err := Parse(writeTOML(t, strings.Replace(minimal, `output_dir = "runs/x"`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyOverrides(&c, "runs/cli", []string{"beta=[0.1,0.05]", "judge.kind = rule", "max_steps=20"}); err != nil {
		t.Fatal(err)
	}
	if c.OutputDir != "runs/cli" || !reflect.DeepEqual(c.Beta, Schedule{0.1, 0.05}) || c.Judge.Kind != "rule" || c.MaxSteps != 20 {
		t.Errorf("after ApplyOverrides: %+v", c)
	}

	c = valid()
	err = ApplyOverrides(&c, "", []string{"seed", "top_p=2", "sed=1"})
	want := "--set seed: want KEY=VALUE\n--set sed=1: sed: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("ApplyOverrides errors = %v, want\n%s", err, want)
	}

	c = valid()
	err = ApplyOverrides(&c, "", []string{"top_p=2"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "top_p" {
		t.Errorf("ApplyOverrides did not validate: %v", err)
	}
}
