package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickMicro: the harness runs end to end on the tiny shape and every
// figure it reports is a positive, finite number (no timing is asserted).
func TestQuickMicro(t *testing.T) {
	if testing.Short() {
		t.Skip("runs models; not in -short")
	}
	defer cleanup()
	c, err := measureCeiling(256)
	if err != nil {
		t.Fatal(err)
	}
	r, err := microAll(c, options{models: []string{"tiny-qwen2"}, quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || len(r[0].Decode) != 2 || len(r[0].FwdBwd) != 2 {
		t.Fatalf("got %+v", r)
	}
	m := r[0]
	pos := map[string]float64{"params": float64(m.Params), "prefill": m.PrefillTPS, "logprob": m.LogprobFwd}
	// Decode figures are differences of two timings (T tokens minus one):
	// on a loaded machine a quick run's difference can be any sign, so only
	// finiteness is checked here; make bench's rounds make them stable.
	for _, d := range m.Decode {
		for k, v := range map[string]float64{"policy": d.PolicyTPS, "both": d.BothTPS, "fused": d.FusedCost} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("batch %d: %s = %v, want a finite figure", d.Batch, k, v)
			}
		}
	}
	for _, f := range m.FwdBwd {
		pos[f.DType+" tok/s"], pos[f.DType+" mfu"] = f.TPS, f.MFU
	}
	for k, v := range pos {
		if !(v > 0) || v > 1e12 {
			t.Errorf("%s = %v, want a positive finite figure", k, v)
		}
	}
	// 3.2 M parameters: 49,152 × 64 embedding (tied) + 2 layers of a Qwen2 with biases.
	if m.Params < 3_000_000 || m.Params > 3_500_000 {
		t.Errorf("tiny-qwen2 has %d parameters", m.Params)
	}
}

// TestReport: the table and JSON carry the figures, and the targets are
// judged on them.
func TestReport(t *testing.T) {
	r := &report{Date: "2026-01-02", Host: "h", Ceiling: &ceiling{N: 1024, FP32: 300, BF16: 1500, TinyOpUS: 1},
		Micro: []microResult{{Model: "smollm2-135m", Decode: []decodePoint{{Batch: 8, PolicyTPS: 10, BothTPS: 18, FusedCost: 2.3, MixtureCost: 1.3}, {Batch: 32, PolicyTPS: 20, BothTPS: 30, FusedCost: 2.6, MixtureCost: 1.6}},
			FwdBwd: []fwdBwd{{DType: "float32", MFU: 0.4}, {DType: "bfloat16", MFU: 0.55}}}},
		Steps: []stepResult{
			{Impl: "nashmd", Model: "tiny-qwen2", DType: "float32", Batch: 8, PromptsPerS: 30},
			{Impl: "trl", Model: "tiny-qwen2", DType: "float32", Batch: 8, PromptsPerS: 2},
			{Impl: "nashmd", Model: "smollm2-135m", DType: "float32", Checkpoint: true, Batch: 8, PromptsPerS: 1, PeakRSSMB: 3900, ProcessPeakMB: 4000},
		}}
	r.Targets = targets(r)
	want := map[string]bool{"whole step": true, "mixture-stream decode": true, "MFU": true, "peak RSS": true}
	if len(r.Targets) != len(want) {
		t.Fatalf("targets %+v", r.Targets)
	}
	for _, tg := range r.Targets {
		for k, met := range want {
			if strings.Contains(tg.Name, k) && tg.Met != met {
				t.Errorf("%s: met %v (value %v), want %v", tg.Name, tg.Met, tg.Value, met)
			}
		}
	}
	if v := r.Targets[1].Value; v != 1.6 {
		t.Errorf("mixture-stream cost %v, want the worst batch's 1.6", v)
	}
	if v := r.Targets[0].Value; v != 15 {
		t.Errorf("whole-step ratio %v, want 30/2 = 15", v)
	}
	var b bytes.Buffer
	printReport(&b, r)
	for _, s := range []string{"| nashmd | smollm2-135m | float32, gradient checkpointing | 1.00 | 8.00 | 3900 | 4000 |", "| 8 | 10.0 | 18.0 | 2.30 | 1.30 |", "| bfloat16 | 0 | 0.000 | 0.55 |"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeJSON(path, r); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var back report
	if err := json.Unmarshal(raw, &back); err != nil || back.Steps[2].PeakRSSMB != 3900 || !back.Steps[2].Checkpoint {
		t.Fatalf("round trip: %v %+v", err, back.Steps)
	}
}

// TestRunWatched: a small child's peak is its own, not this process's (a
// child's ru_maxrss would inherit the parent's peak through vfork + exec).
func TestRunWatched(t *testing.T) {
	big := make([]byte, 400<<20)
	for i := range big {
		big[i] = 1 // resident
	}
	peak, err := runWatched(exec.Command("sleep", "0.3"))
	if err != nil {
		t.Fatal(err)
	}
	if !(peak > 0 && peak < 100) {
		t.Errorf("sleep's peak RSS %.1f MiB, want its own (under 100)", peak)
	}
	_ = big[len(big)-1]
	if peak, err = runWatched(exec.Command("false")); err == nil {
		t.Errorf("a failing child gave no error (peak %v)", peak)
	}
}
