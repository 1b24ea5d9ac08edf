package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stepResult is one whole-step run: nashmd-train or TRL's NashMDTrainer.
type stepResult struct {
	Impl         string             `json:"impl"` // "nashmd" or "trl"
	Version      string             `json:"version,omitempty"`
	Model        string             `json:"model"`
	DType        string             `json:"dtype"`
	Checkpoint   bool               `json:"gradient_checkpointing,omitempty"`
	Batch        int                `json:"batch"`
	MaxNewTokens int                `json:"max_new_tokens"`
	StepSeconds  []float64          `json:"step_seconds"` // timed steps, warm-up excluded
	PromptsPerS  float64            `json:"prompts_per_s"`
	Shares       map[string]float64 `json:"phase_shares"`
	// PeakRSSMB is the training process's resident high-water mark over the
	// steps (nashmd: the largest memory/peak_rss_mb of metrics.jsonl; TRL:
	// VmHWM after its last step). ProcessPeakMB also covers loading and the
	// final checkpoint save (VmHWM polled every 50 ms). Both are VmHWM, per
	// address space: getrusage's ru_maxrss would report this benchmark's own
	// peak, which a child inherits through Go's vfork-style exec.
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	ProcessPeakMB float64 `json:"process_peak_rss_mb"`
}

// The whole-step settings, the same for both implementations: TRL's
// defaults for max_new_tokens and temperature, the tiny example's batch.
const (
	stepBatch     = 8
	stepNewTokens = 64
	stepTemp      = 0.9
)

func stepAll(ours, peer bool, o options) ([]stepResult, []string, error) {
	var out []stepResult
	var notes []string
	if ours {
		for _, run := range []struct {
			model, dtype string
			ckpt         bool
		}{
			{"tiny-qwen2", "float32", false}, {"smollm2-135m", "float32", false},
			{"smollm2-135m", "float32", true}, {"smollm2-135m", "bfloat16", false},
		} {
			if !slices.Contains(o.models, run.model) {
				continue
			}
			fmt.Fprintf(os.Stderr, "step: nashmd %s %s (gradient checkpointing %v)\n", run.model, run.dtype, run.ckpt)
			r, err := nashmdStep(run.model, run.dtype, run.ckpt, o)
			if err != nil {
				return nil, nil, fmt.Errorf("nashmd step %s: %w", run.model, err)
			}
			out = append(out, r)
		}
	}
	if peer && slices.Contains(o.models, "tiny-qwen2") {
		fmt.Fprintf(os.Stderr, "step: TRL tiny-qwen2 (tens of seconds per step)\n")
		r, err := trlStep("tiny-qwen2", o)
		if err != nil {
			return nil, nil, fmt.Errorf("TRL peer: %w", err)
		}
		out = append(out, r)
		notes = append(notes, "TRL runs only on tiny-qwen2: its mixture sampler re-runs both models on the whole prefix for every token (GeometricMixtureWrapper sets use_cache=False), so a SmolLM2-135M step would take many minutes.")
	}
	return out, notes, nil
}

// nashmdStep runs nashmd-train for 1 + o.steps steps and reads its metrics.
func nashmdStep(model, dtype string, ckpt bool, o options) (stepResult, error) {
	r := stepResult{Impl: "nashmd", Model: model, DType: dtype, Checkpoint: ckpt, Batch: stepBatch, MaxNewTokens: stepNewTokens}
	dir, err := modelDir(model)
	if err != nil {
		return r, err
	}
	bin := o.train
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return r, err
		}
		bin = filepath.Join(filepath.Dir(exe), "nashmd-train")
	}
	name := dtype
	if ckpt {
		name += "-ckpt"
	}
	out := filepath.Join(dir, "out-"+name)
	if err := os.RemoveAll(out); err != nil {
		return r, err
	}
	toml := fmt.Sprintf(`output_dir = %q
beta = 0.1
mixture_coef = 0.5
max_new_tokens = %d
max_length = 512
temperature = %g
per_device_train_batch_size = %d
max_steps = %d
logging_steps = 1
save_steps = 0
seed = 42
bf16 = %v
gradient_checkpointing = %v

[model]
path = "policy"

[judge]
kind = "reward_model"
path = "reward"

[dataset]
path = "prompts.jsonl"
`, out, stepNewTokens, stepTemp, stepBatch, 1+o.steps, dtype == "bfloat16", ckpt)
	cfg := filepath.Join(dir, "run-"+name+".toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		return r, err
	}
	cmd := exec.Command(bin, cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	peak, err := runWatched(cmd)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w\n%s", bin, cfg, err, tail(stderr.String(), 2000))
	}
	r.ProcessPeakMB = peak
	lines, err := metricLines(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		return r, err
	}
	if len(lines) != 1+o.steps {
		return r, fmt.Errorf("metrics.jsonl has %d step lines, want %d", len(lines), 1+o.steps)
	}
	phase := map[string]float64{}
	var total float64
	for _, m := range lines {
		r.PeakRSSMB = max(r.PeakRSSMB, m["memory/peak_rss_mb"])
	}
	for _, m := range lines[1:] { // the first step warms up
		sec := m["time/step_s"] + m["time/optimizer_s"]
		r.StepSeconds = append(r.StepSeconds, sec)
		total += sec
		for _, k := range []string{"sample", "judge", "logprobs", "backward", "optimizer"} {
			phase[k] += m["time/"+k+"_s"]
		}
	}
	r.PromptsPerS = float64(stepBatch*o.steps) / total
	r.Shares = shares(phase, total)
	return r, nil
}

// shares divides each phase by the total; "other" is what no phase covers.
func shares(phase map[string]float64, total float64) map[string]float64 {
	out := map[string]float64{}
	rest := total
	for k, v := range phase {
		out[k] = v / total
		rest -= v
	}
	out["other"] = max(rest, 0) / total
	return out
}

func metricLines(path string) ([]map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if _, ok := raw["step"]; !ok {
			continue // the config header
		}
		m := map[string]float64{}
		for k, v := range raw {
			if f, ok := v.(float64); ok {
				m[k] = f
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// trlStep runs bench/trl_nashmd.py with the peer's Python.
func trlStep(model string, o options) (stepResult, error) {
	r := stepResult{Impl: "trl", Model: model, DType: "float32", Batch: stepBatch, MaxNewTokens: stepNewTokens}
	if _, err := os.Stat(o.peer); err != nil {
		return r, fmt.Errorf("%s: %w (make bench creates bench/.venv from bench/requirements.txt; -only ceiling,micro,step skips the peer)", o.peer, err)
	}
	dir, err := modelDir(model)
	if err != nil {
		return r, err
	}
	cmd := exec.Command(o.peer, "bench/trl_nashmd.py",
		"--policy", filepath.Join(dir, "policy"), "--reward", filepath.Join(dir, "reward"),
		"--prompts", filepath.Join(dir, "prompts.jsonl"), "--batch", fmt.Sprint(stepBatch),
		"--max-new-tokens", fmt.Sprint(stepNewTokens), "--temperature", fmt.Sprint(stepTemp),
		"--steps", fmt.Sprint(o.peerSteps), "--warmup", "1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	peak, err := runWatched(cmd)
	if err != nil {
		return r, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(stderr.String(), 2000))
	}
	r.ProcessPeakMB = peak
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res struct {
		TRL         string             `json:"trl"`
		PeakRSSMB   float64            `json:"peak_rss_mb"`
		Steps       []float64          `json:"steps"`
		Phases      map[string]float64 `json:"phases"`
		PromptsPerS float64            `json:"prompts_per_s"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return r, fmt.Errorf("trl_nashmd.py: last line is not its JSON result: %w", err)
	}
	if len(res.Steps) == 0 {
		return r, errors.New("trl_nashmd.py timed no steps")
	}
	r.Version, r.StepSeconds, r.PromptsPerS, r.PeakRSSMB = "trl "+res.TRL, res.Steps, res.PromptsPerS, res.PeakRSSMB
	var total float64
	for _, s := range res.Steps {
		total += s
	}
	// TRL's _generate_completions draws both streams, as nashmd's "sample".
	res.Phases["sample"] = res.Phases["generate"]
	delete(res.Phases, "generate")
	r.Shares = shares(res.Phases, total)
	return r, nil
}

// runWatched runs cmd and returns its VmHWM in MiB, polled from
// /proc/PID/status every 50 ms (the last reading before it exits).
func runWatched(cmd *exec.Cmd) (float64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	peak := make(chan float64)
	go func() {
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		best := 0.0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			best = max(best, vmHWM(status))
			select {
			case <-done:
				peak <- best
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	return <-peak, err
}

// vmHWM is the VmHWM line of a /proc status file in MiB (0 if unreadable).
func vmHWM(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
