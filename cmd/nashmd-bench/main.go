// Command nashmd-bench measures nashmd's speed as ratios taken in one run:
// the machine's matmul ceiling, decode/mixture/log-prob micro-benchmarks on a
// tiny Qwen2 and on SmolLM2-135M's shape, whole Nash-MD steps through
// nashmd-train, and TRL's NashMDTrainer on the same work (bench/.venv).
//
//	make bench                       # everything; writes bench/results/<date>-<host>.json
//	nashmd-bench -only ceiling,micro # a part
//
// Every figure is reported beside the ceiling or the peer measured in the
// same invocation; absolute times on a shared CPU mean little on their own.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nashmd/nashmd/torch"
)

// report is what one run measured; it is written as the results JSON.
type report struct {
	Date     string        `json:"date"`
	Host     string        `json:"host"`
	CPU      string        `json:"cpu"`
	Cores    int           `json:"cores"`
	Libtorch string        `json:"libtorch"`
	Threads  int           `json:"threads"`
	Ceiling  *ceiling      `json:"ceiling,omitempty"`
	Micro    []microResult `json:"micro,omitempty"`
	Steps    []stepResult  `json:"steps,omitempty"`
	Targets  []target      `json:"targets,omitempty"`
	Notes    []string      `json:"notes,omitempty"`
}

func main() {
	threads := flag.Int("threads", 0, "intra-op threads (0: one per CPU)")
	size := flag.Int64("n", 1024, "matmul size n for the n³ ceiling")
	only := flag.String("only", "ceiling,micro,step,peer", "comma-separated parts: ceiling, micro, step, peer")
	out := flag.String("out", "bench/results", "directory for <date>-<host>.json (empty: do not write)")
	peer := flag.String("peer", "bench/.venv/bin/python", "Python with TRL for the peer run (see bench/requirements.txt)")
	train := flag.String("train", "", "nashmd-train binary (default: beside this one)")
	steps := flag.Int("steps", 3, "timed Nash-MD steps per whole-step run (after one warm-up step)")
	peerSteps := flag.Int("peer-steps", 2, "timed TRL steps (after one warm-up step; each takes tens of seconds)")
	quick := flag.Bool("quick", false, "fewer sizes and repetitions (a smoke run, not for results)")
	models := flag.String("models", "tiny-qwen2,smollm2-135m", "model shapes to run (micro-benchmarks and whole steps)")
	gpu := flag.String("gpu", "", "run only the GPU benchmark on this device (cuda, cuda:N; see gpu.go)")
	flag.Parse()
	if *gpu != "" {
		if err := gpuBench(*gpu); err != nil {
			fail(err)
		}
		return
	}
	if *threads > 0 {
		if err := torch.SetNumThreads(*threads); err != nil {
			fail(err)
		}
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		switch p = strings.TrimSpace(p); p {
		case "ceiling", "micro", "step", "peer":
			parts[p] = true
		default:
			fail(fmt.Errorf("-only: unknown part %q (want ceiling, micro, step or peer)", p))
		}
	}
	host, _ := os.Hostname()
	r := &report{
		Date: time.Now().UTC().Format("2006-01-02"), Host: host, CPU: cpuModel(), Cores: runtime.NumCPU(),
		Libtorch: torch.Version(), Threads: torch.NumThreads(),
	}
	opt := options{models: strings.Split(*models, ","), quick: *quick, steps: *steps, peerSteps: *peerSteps, peer: *peer, train: *train}
	// The ceiling is always measured: every other figure is relative to it.
	c, err := measureCeiling(*size)
	if err != nil {
		fail(err)
	}
	r.Ceiling = c
	if parts["micro"] {
		// Measured again after the micro-benchmarks and the better kept, so
		// that a slow spell during the first measurement cannot inflate MFU.
		if r.Micro, err = microAll(c, opt); err != nil {
			fail(err)
		}
		again, err := measureCeiling(*size)
		if err != nil {
			fail(err)
		}
		c.raise(again)
		for i := range r.Micro {
			for j := range r.Micro[i].FwdBwd {
				f := &r.Micro[i].FwdBwd[j]
				f.MFU = f.TFLOP * 1e3 / c.of(dtypeOf(f.DType))
			}
		}
	}
	if parts["step"] || parts["peer"] {
		if r.Steps, r.Notes, err = stepAll(parts["step"], parts["peer"], opt); err != nil {
			fail(err)
		}
	}
	cleanup()
	r.Targets = targets(r)
	printReport(os.Stdout, r)
	if *out != "" {
		path := filepath.Join(*out, r.Date+"-"+host+".json")
		if err := writeJSON(path, r); err != nil {
			fail(err)
		}
		fmt.Printf("\nwrote %s\n", path)
	}
}

type options struct {
	models           []string
	quick            bool
	steps, peerSteps int
	peer, train      string
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nashmd-bench:", err)
	cleanup()
	os.Exit(1)
}

// cleanup removes the models written for this run.
func cleanup() {
	if workDir != "" {
		os.RemoveAll(workDir)
	}
}

// writeJSON writes r atomically (a temporary file renamed into place).
func writeJSON(path string, r *report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// cpuModel is /proc/cpuinfo's first "model name".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
