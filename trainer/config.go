package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Config is the Nash-MD run configuration read from run.toml.
//
// Keys and defaults follow TRL's NashMDConfig (and the transformers
// TrainingArguments it extends), so a TRL configuration moves over field by
// field; the keys under "ours" have no TRL counterpart. Default returns every
// default; Load reads a file over them and validates the result.
type Config struct {
	// ---- TRL / transformers TrainingArguments ----

	// OutputDir is the directory receiving checkpoints and the metrics log.
	// Required.
	OutputDir string `toml:"output_dir"`
	// Beta is the KL coefficient β (the paper's τ). Default 0.1. A float, or
	// an array of floats giving one value per epoch, the last one repeating
	// (TRL's list form). Every value must be >= 0.
	Beta Schedule `toml:"beta"`
	// MixtureCoef is the weight β of the reference in the geometric mixture
	// π_θ^(1-β)·π_ref^β that samples the opponent's completion. Default 0.5.
	// Float or per-epoch array like Beta; every value in [0, 1].
	MixtureCoef Schedule `toml:"mixture_coef"`
	// MaxNewTokens is the most tokens generated per completion. Default 64.
	MaxNewTokens int `toml:"max_new_tokens"`
	// MaxLength bounds prompt plus completion, in tokens. Default 512.
	// Prompts longer than MaxLength-MaxNewTokens tokens are "too long" and
	// handled by the dataset's too_long policy. Must exceed MaxNewTokens.
	MaxLength int `toml:"max_length"`
	// Temperature divides the logits when sampling both completions.
	// Default 0.9; must be > 0.
	Temperature float64 `toml:"temperature"`
	// TopK keeps the K most likely tokens when sampling. Default 0 (off).
	TopK int `toml:"top_k"`
	// TopP is the nucleus-sampling mass. Default 1.0 (off); in (0, 1].
	TopP float64 `toml:"top_p"`
	// MinP drops tokens less likely than MinP times the most likely one.
	// Default unset (off); in [0, 1] when set.
	MinP *float64 `toml:"min_p"`
	// RepetitionPenalty is the CTRL repetition penalty applied when sampling.
	// Default 1.0 (off); must be > 0.
	RepetitionPenalty float64 `toml:"repetition_penalty"`
	// MissingEOSPenalty is subtracted from the judge's score of a completion
	// that ends without EOS. Default unset (no penalty); >= 0 when set.
	MissingEOSPenalty *float64 `toml:"missing_eos_penalty"`
	// LearningRate is AdamW's peak learning rate. Default 5e-7; >= 0.
	LearningRate float64 `toml:"learning_rate"`
	// LRSchedulerType names the transformers schedule applied to
	// LearningRate: "linear" (default), "cosine", "constant" or
	// "constant_with_warmup". See LR.
	LRSchedulerType string `toml:"lr_scheduler_type"`
	// WarmupRatio is the fraction of the total optimizer steps spent in
	// linear warmup, rounded up. Default 0; in [0, 1).
	WarmupRatio float64 `toml:"warmup_ratio"`
	// WarmupSteps is the number of warmup optimizer steps; when > 0 it
	// overrides WarmupRatio, as in transformers. Default 0; >= 0.
	WarmupSteps int `toml:"warmup_steps"`
	// WeightDecay is AdamW's decoupled weight decay. Default 0; >= 0.
	WeightDecay float64 `toml:"weight_decay"`
	// AdamBeta1 is AdamW's first-moment decay. Default 0.9; in [0, 1).
	AdamBeta1 float64 `toml:"adam_beta1"`
	// AdamBeta2 is AdamW's second-moment decay. Default 0.999; in [0, 1).
	AdamBeta2 float64 `toml:"adam_beta2"`
	// AdamEpsilon is AdamW's denominator term. Default 1e-8; >= 0.
	AdamEpsilon float64 `toml:"adam_epsilon"`
	// MaxGradNorm is the global L2 norm gradients are clipped to before each
	// optimizer step. Default 1.0; 0 disables clipping.
	MaxGradNorm float64 `toml:"max_grad_norm"`
	// NumTrainEpochs is the number of passes over the dataset, possibly
	// fractional. Default 3; must be > 0 unless MaxSteps is set.
	NumTrainEpochs float64 `toml:"num_train_epochs"`
	// MaxSteps is the number of optimizer steps. Default -1: derived from
	// NumTrainEpochs (see TotalSteps); a value > 0 overrides it.
	MaxSteps int `toml:"max_steps"`
	// PerDeviceTrainBatchSize is the number of prompts per micro-batch on
	// each process. Default 8; > 0.
	PerDeviceTrainBatchSize int `toml:"per_device_train_batch_size"`
	// GradientAccumulationSteps is the number of micro-batches per optimizer
	// step. Default 1; > 0.
	GradientAccumulationSteps int `toml:"gradient_accumulation_steps"`
	// Seed seeds data shuffling, sampling and initialisation. Default 42.
	Seed int64 `toml:"seed"`
	// LoggingSteps is the number of optimizer steps between metric log
	// lines. Default 10 (TRL's Online DPO default); > 0.
	LoggingSteps int `toml:"logging_steps"`
	// SaveSteps is the number of optimizer steps between checkpoints.
	// Default 500; 0 saves only at the end; >= 0.
	SaveSteps int `toml:"save_steps"`
	// SaveTotalLimit is the most checkpoints kept in OutputDir, oldest
	// deleted first. Default 0 (keep all); >= 0.
	SaveTotalLimit int `toml:"save_total_limit"`
	// EvalSteps is the number of optimizer steps between evaluations on
	// EvalDataset. Default 0 (no periodic evaluation); > 0 requires
	// [eval_dataset].
	EvalSteps int `toml:"eval_steps"`
	// GradientCheckpointing keeps only each decoder layer's input during the
	// policy's log-prob pass and re-runs the layer in backward: activation
	// memory of one layer instead of all, for one more forward. Default false.
	GradientCheckpointing bool `toml:"gradient_checkpointing"`
	// BF16 trains in bfloat16 (weights and activations). Default false.
	// It also sets the default [model] dtype.
	BF16 bool `toml:"bf16"`
	// ResumeFromCheckpoint is "" (start afresh, default), "latest" (the
	// newest checkpoint in OutputDir, if any) or a checkpoint directory,
	// which must exist.
	ResumeFromCheckpoint string `toml:"resume_from_checkpoint"`
	// DDPTimeout is how many seconds a data-parallel run waits for the other
	// processes (at the rendezvous and in every collective) before it fails
	// with an error naming the rank that was lost. Default 1800; > 0. Unused
	// by a single process.
	DDPTimeout int `toml:"ddp_timeout"`
	// DDPBackend is the c10d backend of a data-parallel run: "gloo" or
	// "nccl". Default "" (gloo on CPU, nccl on CUDA); "nccl" needs a CUDA
	// device.
	DDPBackend string `toml:"ddp_backend"`

	// ---- ours ----

	// Device is "cpu" (default), "cuda" or "cuda:N".
	Device string `toml:"device"`
	// Threads is the number of CPU threads libtorch uses. Default 0 (one
	// per CPU); >= 0.
	Threads int `toml:"threads"`
	// KLEstimator selects the KL term of the loss: "trl" (default; TRL's
	// per-sequence Σ_t (logp−logp_ref)_t·logp_t) or "reward_to_go" (the
	// paper's App. F form: token t weighted by the KL estimates at indices
	// >= t).
	KLEstimator string `toml:"kl_estimator"`
	// MaxNonFiniteSteps stops training after this many consecutive optimizer
	// steps with a NaN or Inf loss or gradient norm (such steps are
	// skipped). Default 3; >= 1.
	MaxNonFiniteSteps int `toml:"max_nonfinite_steps"`
	// Model is the policy being trained ([model]).
	Model ModelConfig `toml:"model"`
	// Reference is the frozen reference policy ([reference]). An empty path
	// (the default) means a frozen copy of Model's initial weights.
	Reference ModelConfig `toml:"reference"`
	// Judge compares the two completions of a prompt ([judge]).
	Judge JudgeConfig `toml:"judge"`
	// Dataset holds the training prompts ([dataset]).
	Dataset DatasetConfig `toml:"dataset"`
	// EvalDataset holds evaluation prompts ([eval_dataset]); nil means none.
	// Keys it leaves out take DatasetConfig's defaults, except split, which
	// defaults to "test" (TRL's dataset_test_split).
	EvalDataset *DatasetConfig `toml:"eval_dataset"`
}

// ModelConfig locates a model ([model], [reference]).
type ModelConfig struct {
	// Path is a Hugging Face model directory (config.json, safetensors,
	// tokenizer). Required for [model]; it must exist.
	Path string `toml:"path"`
	// DType is "float32", "bfloat16" or "" (default): for [model], bfloat16
	// when bf16 is true and float32 otherwise; for [reference], the model's
	// dtype. See Config.ModelDType and Config.ReferenceDType.
	DType string `toml:"dtype"`
}

// JudgeConfig selects the judge ([judge]).
type JudgeConfig struct {
	// Kind names the judge: one of the keys of JudgeKinds. Required.
	Kind string `toml:"kind"`
	// Path is the judge's model directory; required for "reward_model",
	// and it must exist when set.
	Path string `toml:"path"`
	// Options holds kind-specific keys ([judge.options]), decoded as TOML
	// values (int64, float64, string, bool, []any, map[string]any, ...).
	// Empty means nil.
	Options map[string]any `toml:"options,omitempty"`
}

// DatasetConfig locates a prompt dataset ([dataset], [eval_dataset]).
type DatasetConfig struct {
	// Path is a parquet file, a directory of parquet shards, or a JSON
	// Lines file. Required; it must exist.
	Path string `toml:"path"`
	// Split selects the shards of a directory (e.g. "train-*.parquet").
	// Default "train" ("test" for [eval_dataset]).
	Split string `toml:"split"`
	// Column is the column holding the prompt: a string or a list of chat
	// messages. Default "prompt".
	Column string `toml:"column"`
	// TooLong is what happens to a prompt longer than
	// max_length - max_new_tokens tokens: "skip" (default; drop the row and
	// count it) or "reject" (fail).
	TooLong string `toml:"too_long"`
}

// JudgeKinds lists the accepted values of judge.kind. Packages providing
// judges add their names to it before a configuration is validated.
var JudgeKinds = map[string]bool{
	"reward_model": true, "pairrm": true, "http": true, "exact_answer": true, "regex": true,
	"length": true, "lexicon": true, "rule": true, "weighted": true,
}

// Default returns the configuration with every default filled in; the
// required keys (output_dir, model.path, judge.kind, dataset.path) are empty.
func Default() Config {
	return Config{
		Beta:                      Schedule{0.1},
		MixtureCoef:               Schedule{0.5},
		MaxNewTokens:              64,
		MaxLength:                 512,
		Temperature:               0.9,
		TopP:                      1.0,
		RepetitionPenalty:         1.0,
		LearningRate:              5e-7,
		LRSchedulerType:           "linear",
		AdamBeta1:                 0.9,
		AdamBeta2:                 0.999,
		AdamEpsilon:               1e-8,
		MaxGradNorm:               1.0,
		NumTrainEpochs:            3,
		MaxSteps:                  -1,
		PerDeviceTrainBatchSize:   8,
		GradientAccumulationSteps: 1,
		Seed:                      42,
		LoggingSteps:              10,
		SaveSteps:                 500,
		DDPTimeout:                1800,
		Device:                    "cpu",
		KLEstimator:               "trl",
		MaxNonFiniteSteps:         3,
		Dataset:                   defaultDataset("train"),
	}
}

func defaultDataset(split string) DatasetConfig {
	return DatasetConfig{Split: split, Column: "prompt", TooLong: "skip"}
}

// ModelDType returns the resolved dtype of the policy: model.dtype, or
// "bfloat16" when bf16 is set and "float32" otherwise.
func (c Config) ModelDType() string {
	if c.Model.DType != "" {
		return c.Model.DType
	}
	if c.BF16 {
		return "bfloat16"
	}
	return "float32"
}

// Backend returns the resolved ddp_backend: ddp_backend, or "nccl" for a
// CUDA device and "gloo" otherwise.
func (c Config) Backend() string {
	if c.DDPBackend != "" {
		return c.DDPBackend
	}
	if strings.HasPrefix(c.Device, "cuda") {
		return "nccl"
	}
	return "gloo"
}

// ReferenceDType returns the resolved dtype of the reference: reference.dtype,
// or the policy's.
func (c Config) ReferenceDType() string {
	if c.Reference.DType != "" {
		return c.Reference.DType
	}
	return c.ModelDType()
}

// Load returns the defaults overlaid with the TOML file at path, validated.
// Decoding is strict: an unknown key, a value of the wrong type or a syntax
// error is a *ParseError ("run.toml:LINE:COL: key: message"), one per unknown
// key, joined. Validation problems are *FieldError values, each prefixed with
// path and joined. Relative paths inside the file are relative to the
// working directory.
func Load(path string) (Config, error) {
	c, err := Parse(path)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, prefixErrors(path, err)
	}
	return c, nil
}

// Parse is Load without validation, for callers that apply overrides (see
// ApplyOverrides) before validating.
func Parse(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c := Default()
	if err := c.decode(path, data); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Marshal returns c as a TOML document that Load decodes back to c. A
// one-value Schedule is written as a float; unset optional keys are left out.
func (c Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf).EnableMarshalerInterface()
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("trainer: marshal config: %w", err)
	}
	return buf.Bytes(), nil
}

// Set applies one override: key is a dotted TOML key ("beta", "judge.kind",
// "judge.options.threshold") and value a TOML value ("0.2", "[0.1, 0.05]",
// "true", "\"x\""), decoded strictly with the same rules as the file. A value
// that is not valid TOML is taken as a string, so "judge.kind=rule" and
// "model.path=/x" need no quotes. On error c is unchanged and the error is a
// *ParseError naming "--set key=value". Set does not validate.
func (c *Config) Set(key, value string) error {
	d, err := override(c.clone, (*Config).decode, key, value)
	if err == nil {
		*c = d
	}
	return err
}

// override decodes "key = value" strictly into a fresh deep copy of the
// current value, taking a value that is not valid TOML as a string. It is
// the --set of both Config and EvalFile.
func override[T any](fresh func() T, decode func(*T, string, []byte) error, key, value string) (T, error) {
	var zero T
	arg := "--set " + key + "=" + value
	if strings.ContainsAny(key+value, "\r\n") {
		return zero, &ParseError{File: arg, Msg: "key and value must be on one line"}
	}
	if strings.TrimSpace(key) == "" {
		return zero, &ParseError{File: arg, Msg: "empty key"}
	}
	try := func(v string) (T, error) {
		d := fresh() // each attempt decodes into its own copy
		err := decode(&d, arg, []byte(key+" = "+v+"\n"))
		return d, err
	}
	d, err := try(value)
	if err != nil && isSyntaxError(err) {
		if d2, err2 := try(quoteString(value)); err2 == nil {
			d, err = d2, nil
		} else if !isSyntaxError(err2) {
			err = err2
		}
	}
	if err != nil {
		// Positions in the one-line document add nothing to "--set k=v".
		for _, e := range flatten(err) {
			if pe, ok := e.(*ParseError); ok {
				pe.Line, pe.Column = 0, 0
			}
		}
		return zero, err
	}
	return d, nil
}

// ApplyOverrides applies each "KEY=VALUE" of sets with Config.Set, then,
// when outputDir is not empty, sets OutputDir to it, then validates c. It
// returns every failed override, joined, or else the validation error.
func ApplyOverrides(c *Config, outputDir string, sets []string) error {
	var errs []error
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			errs = append(errs, &ParseError{File: "--set " + s, Msg: "want KEY=VALUE"})
			continue
		}
		if err := c.Set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if outputDir != "" {
		c.OutputDir = outputDir
	}
	return c.Validate()
}

// ---- decoding and errors ----

// ParseError reports a key that is unknown, a value of the wrong type or a
// syntax error in a TOML document.
type ParseError struct {
	File   string // file name, or "--set KEY=VALUE" for an override
	Line   int    // 1-based line; 0 when there is no position
	Column int    // 1-based column
	Key    string // dotted key, "" when the error has none
	Msg    string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldError reports a value that Validate rejects.
type FieldError struct {
	Key string // dotted TOML key, e.g. "beta" or "model.path"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// decode decodes doc over c strictly and converts go-toml's errors into
// *ParseError values named after file.
func (c *Config) decode(file string, doc []byte) error {
	d := toml.NewDecoder(bytes.NewReader(doc)).DisallowUnknownFields().EnableUnmarshalerInterface()
	err := d.Decode(c)
	if c.EvalDataset != nil {
		fillDataset(c.EvalDataset, defaultDataset("test"))
	}
	if len(c.Judge.Options) == 0 {
		c.Judge.Options = nil
	}
	if err == nil {
		return nil
	}
	var de *toml.DecodeError
	var se *toml.StrictMissingError
	var sch *scheduleError
	switch {
	case errors.As(err, &se):
		errs := make([]error, len(se.Errors))
		for i := range se.Errors {
			errs[i] = fromDecodeError(file, &se.Errors[i])
		}
		return errors.Join(errs...)
	case errors.As(err, &de):
		return fromDecodeError(file, de)
	case errors.As(err, &sch):
		pe := &ParseError{File: file, Msg: sch.msg}
		pe.Key, pe.Line, pe.Column = locateSchedule(doc)
		return pe
	default:
		return &ParseError{File: file, Msg: err.Error()}
	}
}

// fillDataset sets the empty fields of d to those of def.
func fillDataset(d *DatasetConfig, def DatasetConfig) {
	if d.Split == "" {
		d.Split = def.Split
	}
	if d.Column == "" {
		d.Column = def.Column
	}
	if d.TooLong == "" {
		d.TooLong = def.TooLong
	}
}

var typeErrorRE = regexp.MustCompile(`^cannot decode TOML (\w+(?: \w+)?) into .* of type (.+)$`)

func fromDecodeError(file string, de *toml.DecodeError) *ParseError {
	line, col := de.Position()
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	switch msg {
	case "unknown field":
		msg = "unknown key"
	case "missing table":
		msg = "unknown table"
	}
	if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("wrong type: want %s, got %s", tomlTypeName(m[2]), m[1])
	}
	return &ParseError{File: file, Line: line, Column: col, Key: strings.Join(de.Key(), "."), Msg: msg}
}

// tomlTypeName names, in TOML's words, what a Go type accepts.
func tomlTypeName(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "integer"
	case strings.HasPrefix(goType, "float"):
		return "float"
	case goType == "string":
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "trainer."):
		return "table"
	}
	return goType
}

// isSyntaxError reports whether err is a TOML syntax error: those carry no
// key, while decoding errors name the key they hit.
func isSyntaxError(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe) && pe.Key == ""
}

// quoteString returns s as a TOML basic string.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// flatten returns the errors joined in err, or err alone.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// prefixErrors prefixes every error joined in err with file.
func prefixErrors(file string, err error) error {
	errs := flatten(err)
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s: %w", file, e)
	}
	return errors.Join(out...)
}

// clone returns a copy of c sharing no memory with it.
func (c Config) clone() Config {
	d := c
	d.Beta = slices.Clone(c.Beta)
	d.MixtureCoef = slices.Clone(c.MixtureCoef)
	d.MinP = clonePtr(c.MinP)
	d.MissingEOSPenalty = clonePtr(c.MissingEOSPenalty)
	d.EvalDataset = clonePtr(c.EvalDataset)
	if c.Judge.Options != nil {
		d.Judge.Options = cloneValue(c.Judge.Options).(map[string]any)
	}
	return d
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := maps.Clone(v)
		for k, x := range m {
			m[k] = cloneValue(x)
		}
		return m
	case []any:
		s := slices.Clone(v)
		for i, x := range s {
			s[i] = cloneValue(x)
		}
		return s
	}
	return v
}

// ---- Schedule ----

// Schedule is a value that may change per epoch: a TOML float (or integer),
// or an array of them giving one value per epoch with the last one
// repeating, as TRL's list-valued beta and mixture_coef.
type Schedule []float64

// At returns the value for the 0-based epoch; epochs past the end take the
// last value. At returns NaN for an empty Schedule (which Validate rejects).
func (s Schedule) At(epoch int) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return s[max(0, min(epoch, len(s)-1))]
}

type scheduleError struct{ msg string }

func (e *scheduleError) Error() string { return e.msg }

// UnmarshalTOML decodes a float, an integer or an array of them.
// It implements go-toml's unstable.Unmarshaler.
func (s *Schedule) UnmarshalTOML(data []byte) error {
	v, ok := parseSchedule(data)
	if !ok {
		return &scheduleError{"wrong type: want float or array of floats"}
	}
	*s = v
	return nil
}

func parseSchedule(data []byte) (Schedule, bool) {
	var doc struct{ V any }
	if toml.Unmarshal(append([]byte("V = "), data...), &doc) != nil {
		return nil, false
	}
	num := func(x any) (float64, bool) {
		switch x := x.(type) {
		case float64:
			return x, true
		case int64:
			return float64(x), true
		}
		return 0, false
	}
	if f, ok := num(doc.V); ok {
		return Schedule{f}, true
	}
	arr, ok := doc.V.([]any)
	if !ok {
		return nil, false
	}
	s := make(Schedule, len(arr))
	for i, x := range arr {
		if s[i], ok = num(x); !ok {
			return nil, false
		}
	}
	return s, true
}

// MarshalTOML writes a one-value Schedule as a float and any other as an
// array. It implements go-toml's unstable.Marshaler.
func (s Schedule) MarshalTOML() ([]byte, error) {
	if len(s) == 1 {
		return []byte(formatFloat(s[0])), nil
	}
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = formatFloat(f)
	}
	return []byte("[" + strings.Join(parts, ", ") + "]"), nil
}

// formatFloat writes f as a TOML float that parses back to f exactly.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// scheduleKeys are the top-level keys holding a Schedule.
var scheduleKeys = map[string]bool{"beta": true, "mixture_coef": true}

// locateSchedule finds the first schedule key of doc whose value is not a
// schedule, which is the one go-toml stopped at since it decodes in document
// order, and returns the key and the position of its value.
func locateSchedule(doc []byte) (key string, line, col int) {
	var p unstable.Parser
	p.Reset(doc)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e)
			if k := strings.Join(table, "."); scheduleKeys[k] {
				pos := p.Shape(firstKey(e).Raw).Start
				return k, pos.Line, pos.Column
			}
		case unstable.KeyValue:
			k := strings.Join(append(slices.Clone(table), keyParts(e)...), ".")
			if !scheduleKeys[k] || isScheduleNode(e.Value()) {
				continue
			}
			r := e.Value().Raw
			if r.Length == 0 {
				r = firstKey(e).Raw
			}
			pos := p.Shape(r).Start
			return k, pos.Line, pos.Column
		}
	}
	return "", 0, 0
}

// isScheduleNode reports whether n is a number or an array of numbers.
func isScheduleNode(n *unstable.Node) bool {
	number := func(n *unstable.Node) bool {
		return n.Kind == unstable.Float || n.Kind == unstable.Integer
	}
	if number(n) {
		return true
	}
	if n.Kind != unstable.Array {
		return false
	}
	for it := n.Children(); it.Next(); {
		if !number(it.Node()) {
			return false
		}
	}
	return true
}

func firstKey(n *unstable.Node) *unstable.Node {
	it := n.Key()
	it.Next()
	return it.Node()
}

func keyParts(n *unstable.Node) []string {
	var parts []string
	for it := n.Key(); it.Next(); {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// ---- validation ----

var (
	lrSchedulers = []string{"linear", "cosine", "constant", "constant_with_warmup"}
	klEstimators = []string{"trl", "reward_to_go"}
	dtypes       = []string{"float32", "bfloat16"}
	tooLong      = []string{"skip", "reject"}
	ddpBackends  = []string{"gloo", "nccl"}
	deviceRE     = regexp.MustCompile(`^(cpu|cuda(:[0-9]+)?)$`)
)

// Validate reports every problem of c, each a *FieldError naming the TOML
// key, joined with errors.Join; nil if there are none. It checks ranges and
// enumerations, required keys, and that the paths it names exist (os.Stat).
func (c Config) Validate() error {
	v := &validator{}

	if c.OutputDir == "" {
		v.add("output_dir", "required")
	}
	v.schedule("beta", c.Beta, 0, math.Inf(1))
	v.schedule("mixture_coef", c.MixtureCoef, 0, 1)
	v.positive("max_new_tokens", c.MaxNewTokens)
	v.positive("max_length", c.MaxLength)
	if c.MaxNewTokens > 0 && c.MaxLength > 0 && c.MaxNewTokens >= c.MaxLength {
		v.add("max_new_tokens", "value %d must be < max_length (%d)", c.MaxNewTokens, c.MaxLength)
	}
	v.floatAbove("temperature", c.Temperature, 0)
	v.nonNegative("top_k", c.TopK)
	if !(c.TopP > 0 && c.TopP <= 1) {
		v.add("top_p", "value %v must be in (0, 1]", c.TopP)
	}
	if c.MinP != nil {
		v.floatIn("min_p", *c.MinP, 0, 1)
	}
	v.floatAbove("repetition_penalty", c.RepetitionPenalty, 0)
	if c.MissingEOSPenalty != nil {
		v.floatAtLeast("missing_eos_penalty", *c.MissingEOSPenalty, 0)
	}
	v.floatAtLeast("learning_rate", c.LearningRate, 0)
	v.oneOf("lr_scheduler_type", c.LRSchedulerType, lrSchedulers)
	if !(c.WarmupRatio >= 0 && c.WarmupRatio < 1) {
		v.add("warmup_ratio", "value %v must be in [0, 1)", c.WarmupRatio)
	}
	v.nonNegative("warmup_steps", c.WarmupSteps)
	v.floatAtLeast("weight_decay", c.WeightDecay, 0)
	for _, b := range []struct {
		key string
		val float64
	}{{"adam_beta1", c.AdamBeta1}, {"adam_beta2", c.AdamBeta2}} {
		if !(b.val >= 0 && b.val < 1) {
			v.add(b.key, "value %v must be in [0, 1)", b.val)
		}
	}
	v.floatAtLeast("adam_epsilon", c.AdamEpsilon, 0)
	v.floatAtLeast("max_grad_norm", c.MaxGradNorm, 0)
	if c.MaxSteps == 0 || c.MaxSteps < -1 {
		v.add("max_steps", "value %d must be -1 (use num_train_epochs) or > 0", c.MaxSteps)
	}
	if c.MaxSteps <= 0 {
		v.floatAbove("num_train_epochs", c.NumTrainEpochs, 0)
	} else {
		v.floatAtLeast("num_train_epochs", c.NumTrainEpochs, 0)
	}
	v.positive("per_device_train_batch_size", c.PerDeviceTrainBatchSize)
	v.positive("gradient_accumulation_steps", c.GradientAccumulationSteps)
	v.positive("logging_steps", c.LoggingSteps)
	v.nonNegative("save_steps", c.SaveSteps)
	v.nonNegative("save_total_limit", c.SaveTotalLimit)
	v.nonNegative("eval_steps", c.EvalSteps)
	if c.EvalSteps > 0 && c.EvalDataset == nil {
		v.add("eval_steps", "value %d needs an [eval_dataset]", c.EvalSteps)
	}
	if r := c.ResumeFromCheckpoint; r != "" && r != "latest" {
		v.exists("resume_from_checkpoint", r)
	}
	v.positive("ddp_timeout", c.DDPTimeout)
	if c.DDPBackend != "" {
		v.oneOf("ddp_backend", c.DDPBackend, ddpBackends)
		if c.DDPBackend == "nccl" && !strings.HasPrefix(c.Device, "cuda") {
			v.add("ddp_backend", "\"nccl\" needs a CUDA device, and device is %q; use \"gloo\" on CPU", c.Device)
		}
	}

	if !deviceRE.MatchString(c.Device) {
		v.add("device", "%q must be \"cpu\", \"cuda\" or \"cuda:N\"", c.Device)
	}
	v.nonNegative("threads", c.Threads)
	v.oneOf("kl_estimator", c.KLEstimator, klEstimators)
	v.positive("max_nonfinite_steps", c.MaxNonFiniteSteps)

	v.required("model.path", c.Model.Path)
	if c.Model.DType != "" {
		v.oneOf("model.dtype", c.Model.DType, dtypes)
	}
	if c.Reference.Path != "" {
		v.exists("reference.path", c.Reference.Path)
	}
	if c.Reference.DType != "" {
		v.oneOf("reference.dtype", c.Reference.DType, dtypes)
	}

	if c.Judge.Kind == "" {
		v.add("judge.kind", "required; one of %s", quoteList(slices.Sorted(maps.Keys(JudgeKinds))))
	} else if !JudgeKinds[c.Judge.Kind] {
		v.add("judge.kind", "%q must be one of %s", c.Judge.Kind, quoteList(slices.Sorted(maps.Keys(JudgeKinds))))
	}
	if c.Judge.Kind == "reward_model" {
		v.required("judge.path", c.Judge.Path)
	} else if c.Judge.Path != "" {
		v.exists("judge.path", c.Judge.Path)
	}

	v.dataset("dataset", c.Dataset)
	if c.EvalDataset != nil {
		v.dataset("eval_dataset", *c.EvalDataset)
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) positive(key string, n int) {
	if n <= 0 {
		v.add(key, "value %d must be > 0", n)
	}
}

func (v *validator) nonNegative(key string, n int) {
	if n < 0 {
		v.add(key, "value %d must be >= 0", n)
	}
}

func (v *validator) floatAbove(key string, f, lo float64) {
	if !(f > lo) || math.IsInf(f, 0) {
		v.add(key, "value %v must be finite and > %v", f, lo)
	}
}

func (v *validator) floatAtLeast(key string, f, lo float64) {
	if !(f >= lo) || math.IsInf(f, 0) {
		v.add(key, "value %v must be finite and >= %v", f, lo)
	}
}

func (v *validator) floatIn(key string, f, lo, hi float64) {
	if !(f >= lo && f <= hi) {
		v.add(key, "value %v must be in [%v, %v]", f, lo, hi)
	}
}

// schedule checks every value of s lies in [lo, hi] (finite).
func (v *validator) schedule(key string, s Schedule, lo, hi float64) {
	if len(s) == 0 {
		v.add(key, "needs at least one value")
	}
	for i, f := range s {
		at := ""
		if len(s) > 1 {
			at = fmt.Sprintf(" at index %d", i)
		}
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			v.add(key, "value %v%s must be finite", f, at)
		case f < lo:
			v.add(key, "value %v%s must be >= %v", f, at, lo)
		case f > hi:
			v.add(key, "value %v%s must be <= %v", f, at, hi)
		}
	}
}

func (v *validator) oneOf(key, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		v.add(key, "%q must be one of %s", val, quoteList(allowed))
	}
}

func (v *validator) required(key, path string) {
	if path == "" {
		v.add(key, "required")
		return
	}
	v.exists(key, path)
}

func (v *validator) exists(key, path string) {
	if _, err := os.Stat(path); err != nil {
		v.add(key, "%v", err)
	}
}

func (v *validator) dataset(table string, d DatasetConfig) {
	v.required(table+".path", d.Path)
	if d.Split == "" {
		v.add(table+".split", "must not be empty")
	}
	if d.Column == "" {
		v.add(table+".column", "must not be empty")
	}
	v.oneOf(table+".too_long", d.TooLong, tooLong)
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}
