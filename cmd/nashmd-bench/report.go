package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// target is one of the speed issue's goals, judged on this run's numbers.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Goal  string  `json:"goal"`
	Met   bool    `json:"met"`
}

func targets(r *report) []target {
	var out []target
	find := func(impl, model, dtype string) *stepResult {
		for i := range r.Steps {
			s := &r.Steps[i]
			if s.Impl == impl && s.Model == model && s.DType == dtype {
				return s
			}
		}
		return nil
	}
	if ours, trl := find("nashmd", "tiny-qwen2", "float32"), find("trl", "tiny-qwen2", "float32"); ours != nil && trl != nil {
		v := ours.PromptsPerS / trl.PromptsPerS
		out = append(out, target{"whole step prompts/s, nashmd ÷ TRL (tiny-qwen2)", v, "≥ 10 (aim 25)", v >= 10})
	}
	for _, m := range r.Micro {
		// The mixture stream's own cost per token, as the trainer draws it
		// (beside the policy stream, whose rows it shares a forward with).
		worst := 0.0
		for _, d := range m.Decode {
			worst = max(worst, d.MixtureCost)
		}
		out = append(out, target{"mixture-stream decode time ÷ policy-only decode time, worst batch (" + m.Model + ")", worst, "≤ 2.2", worst <= 2.2})
	}
	for _, m := range r.Micro {
		if m.Model != "smollm2-135m" {
			continue
		}
		b := 0.0
		for _, f := range m.FwdBwd {
			b = max(b, f.MFU)
		}
		out = append(out, target{"policy forward+backward MFU, best dtype (smollm2-135m)", b, "≥ 0.50", b >= 0.5})
	}
	for _, s := range r.Steps {
		if s.Impl == "nashmd" && s.Model == "smollm2-135m" {
			out = append(out, target{"peak RSS of a full fine-tuning step, MB (smollm2-135m " + s.label() + ")", s.PeakRSSMB, "≤ 4096", s.PeakRSSMB <= 4096})
		}
	}
	return out
}

func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "# nashmd-bench %s on %s\n\n%s, %d cores, libtorch %s, %d threads\n\n", r.Date, r.Host, r.CPU, r.Cores, r.Libtorch, r.Threads)
	c := r.Ceiling
	fmt.Fprintln(w, "| ceiling | value | ratio |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| matmul %d³ fp32 | %.1f GFLOP/s | 1.00 |\n", c.N, c.FP32)
	fmt.Fprintf(w, "| matmul %d³ bf16 | %.1f GFLOP/s | %.2f of fp32 |\n", c.N, c.BF16, c.BF16/c.FP32)
	fmt.Fprintf(w, "| tiny op through the binding | %.2f µs | %.0f per fp32 matmul |\n", c.TinyOpUS, 2*float64(c.N*c.N*c.N)/c.FP32/1e3/c.TinyOpUS)
	for _, m := range r.Micro {
		fmt.Fprintf(w, "\n## %s (%.1f M parameters), fp32, prompt %d, %d new tokens\n\n", m.Model, float64(m.Params)/1e6, m.PromptLen, m.DecodeSteps)
		fmt.Fprintf(w, "Prefill (batch 8): %.0f tok/s. Log-prob pass (batch 8 × 128, no grad): %.0f tok/s.\n\n", m.PrefillTPS, m.LogprobFwd)
		fmt.Fprintln(w, "| batch | policy decode tok/s | both streams tok/s | time/step, both ÷ policy | mixture stream's extra time ÷ policy |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, d := range m.Decode {
			fmt.Fprintf(w, "| %d | %.1f | %.1f | %.2f | %.2f |\n", d.Batch, d.PolicyTPS, d.BothTPS, d.FusedCost, d.MixtureCost)
		}
		fmt.Fprintln(w, "\n| forward+backward (batch 8 × 128) | tok/s | TFLOP/s | MFU (of this dtype's matmul) |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, f := range m.FwdBwd {
			fmt.Fprintf(w, "| %s | %.0f | %.3f | %.2f |\n", f.DType, f.TPS, f.TFLOP, f.MFU)
		}
	}
	if len(r.Steps) > 0 {
		fmt.Fprintf(w, "\n## Whole Nash-MD step: batch %d, %d new tokens, temperature %g, reward-model judge of the same shape\n\n", stepBatch, stepNewTokens, stepTemp)
		var keys []string
		for _, s := range r.Steps {
			for k := range s.Shares {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		order := []string{"sample", "judge", "logprobs", "backward", "optimizer", "other"}
		slices.SortFunc(keys, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
		fmt.Fprintf(w, "| impl | model | dtype, options | prompts/s | s/step | peak RSS MB, steps | with load and save | %s |\n", strings.Join(keys, " | "))
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|%s\n", strings.Repeat("---|", len(keys)))
		for _, s := range r.Steps {
			var cells []string
			for _, k := range keys {
				cells = append(cells, fmt.Sprintf("%.0f%%", 100*s.Shares[k]))
			}
			impl := s.Impl
			if s.Version != "" {
				impl = s.Version
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.2f | %.0f | %.0f | %s |\n", impl, s.Model, s.label(), s.PromptsPerS,
				float64(s.Batch)/s.PromptsPerS, s.PeakRSSMB, s.ProcessPeakMB, strings.Join(cells, " | "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\n## Targets\n\n| target | value | goal | met |\n|---|---|---|---|")
		for _, t := range r.Targets {
			fmt.Fprintf(w, "| %s | %.2f | %s | %v |\n", t.Name, t.Value, t.Goal, t.Met)
		}
	}
}

// label is the dtype and any option that changes the step.
func (s stepResult) label() string {
	if s.Checkpoint {
		return s.DType + ", gradient checkpointing"
	}
	return s.DType
}
