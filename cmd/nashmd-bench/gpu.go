package main

// gpu.go — the GPU benchmark (nashmd-bench -gpu cuda): Qwen2-0.5B's shape
// with random weights in bfloat16 on the device, batch 64, prompt 256, 64 new
// tokens, no EOS (every row runs the full 64 steps):
//
//   - policy decode tokens/s: Generate (KV cache, fused sampler), decode only
//     (the prefill, timed separately, is subtracted);
//   - mixture decode tokens/s: GenerateMixture's two streams y ~ π_θ and
//     y' ~ the geometric mixture, counting both streams' tokens (2B per step);
//   - whole-step prompts/s: trainer.Step (both streams, a trivial judge,
//     log-probs under policy and reference, the Nash-MD loss, backward and
//     AdamW) over the 64 prompts.
//
// Each figure is the best of a few runs after a warm-up run. Results sync
// through a host copy of the tokens, so GPU work is inside the timing.

import (
	"context"
	"fmt"
	"time"

	"github.com/nashmd/nashmd/hf/config"
	"github.com/nashmd/nashmd/torch"
	"github.com/nashmd/nashmd/trainer"
)

// qwen2_05B is Qwen2-0.5B's config.json.
var qwen2_05B = &config.Llama{
	Architecture: "Qwen2ForCausalLM", ModelType: "qwen2", VocabSize: 151936, HiddenSize: 896,
	IntermediateSize: 4864, NumHiddenLayers: 24, NumAttentionHeads: 14, NumKeyValueHeads: 2,
	HeadDim: 64, MaxPositionEmbeddings: 32768, RMSNormEps: 1e-6, RopeTheta: 1000000,
	AttentionBias: true, TieWordEmbeddings: true,
}

// gpuShape is one benchmark's model and sizes.
type gpuShape struct {
	name            string
	model           *config.Llama
	batch, prompt   int64
	newTokens, reps int
}

func gpuBench(device string) error {
	d, err := torch.ParseDevice(device)
	if err != nil {
		return err
	}
	if d.Type != torch.DeviceCUDA {
		return fmt.Errorf("-gpu %s: want cuda or cuda:N", device)
	}
	return runGPUBench(d, gpuShape{"Qwen2-0.5B shape", qwen2_05B, 64, 256, 64, 3})
}

// runGPUBench prints the three figures for shape z on device d (any device:
// gpu_test.go runs a tiny shape on the CPU).
func runGPUBench(d torch.Device, z gpuShape) error {
	fmt.Printf("nashmd-bench -gpu %s: libtorch %s, nashmd CUDA kernels: %v\n", d, torch.Version(), torch.CUDAKernels())
	fmt.Printf("%s, random weights, bfloat16, batch %d, prompt %d, %d new tokens, no EOS\n\n",
		z.name, z.batch, z.prompt, z.newTokens)
	gpuBatch, gpuPrompt, gpuNew := z.batch, z.prompt, z.newTokens
	g, err := torch.NewGenerator(1, d)
	if err != nil {
		return err
	}
	defer g.Close()
	policy, err := randomModelOn(z.model, d, g)
	if err != nil {
		return err
	}
	defer policy.Close()
	ref, err := randomModelOn(z.model, d, g)
	if err != nil {
		return err
	}
	defer ref.Close()

	promptIDs := make([]int64, gpuBatch*gpuPrompt)
	for i := range promptIDs {
		promptIDs[i] = int64(i*7919) % z.model.VocabSize
	}
	gen := func(T int, mixture bool) (time.Duration, error) {
		return bestOf(z.reps, func(s *torch.Scope) error {
			ids := s.To(s.FromInt64(promptIDs, gpuBatch, gpuPrompt), torch.Int64, d)
			c := torch.GenConfig{MaxNewTokens: T, Temperature: 0.9, TopP: 1}
			var y *torch.Tensor
			err := torch.NoGrad(func() error {
				if mixture {
					y, _, _, _ = s.GenerateMixture(policy, ref, 0.5, ids, nil, c, g)
				} else {
					y, _ = s.Generate(policy, ids, nil, c, g)
				}
				return s.Err()
			})
			if err != nil {
				return err
			}
			_, err = y.Int64s() // host copy: waits for the GPU
			return err
		})
	}
	var t [2][2]time.Duration // [policy, mixture][prefill+1 token, all tokens]
	for i, mix := range []bool{false, true} {
		for j, T := range []int{1, int(gpuNew)} {
			if t[i][j], err = gen(T, mix); err != nil {
				return fmt.Errorf("generate (mixture %v, %d tokens): %w", mix, T, err)
			}
		}
	}
	steps := float64(gpuNew - 1)
	policyTPS := float64(gpuBatch) * steps / (t[0][1] - t[0][0]).Seconds()
	mixTPS := 2 * float64(gpuBatch) * steps / (t[1][1] - t[1][0]).Seconds()

	stepS, err := trainerStep(policy, ref, z)
	if err != nil {
		return fmt.Errorf("trainer step: %w", err)
	}
	fmt.Println("| measure | value | ratio |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| policy decode (Generate, KV cache) | %.0f tok/s | 1.00 |\n", policyTPS)
	fmt.Printf("| mixture decode (y and y', 2B tokens per step) | %.0f tok/s | %.2f of policy (target ≥ 0.50) |\n",
		mixTPS, mixTPS/policyTPS)
	fmt.Printf("| policy prefill %d×%d | %.1f ms | |\n", gpuBatch, gpuPrompt, t[0][0].Seconds()*1e3)
	fmt.Printf("| whole Nash-MD step (%d prompts) | %.1f prompts/s | target ≥ 100, aim 150 (%.2f s/step) |\n",
		gpuBatch, float64(gpuBatch)/stepS, stepS)
	fmt.Printf("\nPeak RSS (host): %s\n", peakRSS())
	return nil
}

// randomModelOn is a model of shape c with N(0, 0.02²) weights drawn on d
// (norm weights 1), in bfloat16.
func randomModelOn(c *config.Llama, d torch.Device, g *torch.Generator) (*torch.Model, error) {
	m, err := torch.NewLlama(c, torch.BFloat16, d)
	if err != nil {
		return nil, err
	}
	for _, p := range m.Params() {
		s := torch.NewScope()
		x := s.MulScalar(s.Randn(g, p.Tensor.Shape(), torch.Float32, d), 0.02)
		if len(p.Tensor.Shape()) == 1 && !isBias(p.Name) {
			x = s.Ones(p.Tensor.Shape(), torch.Float32, d)
		}
		s.Copy(p.Tensor, x)
		err := s.Err()
		s.Close()
		if err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

func isBias(name string) bool { return len(name) > 5 && name[len(name)-5:] == ".bias" }

// bestOf runs f once to warm up, then n times, each in its own Scope, and
// returns the fastest.
func bestOf(n int, f func(s *torch.Scope) error) (time.Duration, error) {
	best := time.Duration(1 << 62)
	for i := 0; i <= n; i++ {
		s := torch.NewScope()
		t0 := time.Now()
		err := f(s)
		dt := time.Since(t0)
		s.Close()
		if err != nil {
			return 0, err
		}
		if i > 0 {
			best = min(best, dt)
		}
	}
	return best, nil
}

// halfJudge prefers a over b with probability 0.4, 0.5 or 0.6 by row: no
// text work, so the step measures the GPU side.
type halfJudge struct{}

func (halfJudge) Prefer(_ context.Context, prompts, a, b []string) ([]float64, error) {
	p := make([]float64, len(prompts))
	for i := range p {
		p[i] = 0.5 + 0.1*float64(i%3-1)
	}
	return p, nil
}

// trainerStep is the best time of one trainer.Step on 64 random prompts of
// 256 tokens (a warm-up step first). It trains policy in place.
func trainerStep(policy, ref *torch.Model, z gpuShape) (float64, error) {
	cfg := trainer.Default()
	cfg.PerDeviceTrainBatchSize = int(z.batch)
	cfg.MaxNewTokens = z.newTokens
	cfg.MaxLength = int(z.prompt) + z.newTokens
	cfg.Temperature = 0.9
	cfg.Device = policy.Device().String()
	data := make([]trainer.Example, 4*z.batch)
	for i := range data {
		ids := make([]int64, z.prompt)
		for j := range ids {
			ids[j] = int64((i*7919 + j*104729) % int(z.model.VocabSize))
		}
		data[i] = trainer.Example{Row: int64(i), Text: fmt.Sprint("prompt ", i), IDs: ids}
	}
	tr, err := trainer.New(cfg, policy, ref, halfJudge{}, nil, data, nil, 0)
	if err != nil {
		return 0, err
	}
	defer tr.Close()
	best := 1e300
	for i := 0; i <= z.reps; i++ {
		t0 := time.Now()
		st, err := tr.Step(context.Background())
		if err != nil {
			return 0, err
		}
		dt := time.Since(t0).Seconds()
		if i == 0 {
			fmt.Printf("(warm-up step: %.2f s, loss %.4g)\n", dt, st["loss"])
			continue
		}
		best = min(best, dt)
	}
	return best, nil
}
