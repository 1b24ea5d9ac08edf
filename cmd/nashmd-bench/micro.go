package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nashmd/nashmd/hf/config"
	"github.com/nashmd/nashmd/torch"
)

// smolLM2 is SmolLM2-135M-Instruct's shape (from its GGUF metadata).
var smolLM2 = &config.Llama{
	Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 49152, HiddenSize: 576,
	IntermediateSize: 1536, NumHiddenLayers: 30, NumAttentionHeads: 9, NumKeyValueHeads: 3,
	HeadDim: 64, MaxPositionEmbeddings: 8192, RMSNormEps: 1e-5, RopeTheta: 100000,
	TieWordEmbeddings: true,
}

// decodeBench times prefill and decode (KV cache vs none) at batch 1 and 8.
func decodeBench(dir string) error {
	var m *torch.Model
	var err error
	name := "SmolLM2-135M shape, random weights"
	if dir != "" {
		name = dir
		m, err = torch.LoadLlama(dir, torch.Float32, torch.CPU)
	} else {
		m, err = randomModel(smolLM2)
	}
	if err != nil {
		return err
	}
	defer m.Close()
	const P, T = 64, 32
	fmt.Printf("\nDecode, %s, fp32, prompt %d, %d new tokens (no EOS):\n\n", name, P, T)
	fmt.Println("| batch | prefill tok/s | decode tok/s, KV cache | decode tok/s, no cache | cache speed-up |")
	fmt.Println("|---|---|---|---|---|")
	for _, B := range []int64{1, 8} {
		pre, err := timeGen(m, B, P, 1, false)
		if err != nil {
			return err
		}
		withCache, err := timeGen(m, B, P, T, false)
		if err != nil {
			return err
		}
		noCache, err := timeGen(m, B, P, T, true)
		if err != nil {
			return err
		}
		prefillTPS := float64(B*P) / pre.Seconds()
		// Decode time excludes the prefill, measured separately.
		dc := float64(B*(T-1)) / (withCache - pre).Seconds()
		dn := float64(B*(T-1)) / (noCache - pre).Seconds()
		fmt.Printf("| %d | %.0f | %.1f | %.1f | %.1f× |\n", B, prefillTPS, dc, dn, dc/dn)
	}
	fmt.Printf("\nPeak RSS: %s\n", peakRSS())
	return nil
}

func randomModel(c *config.Llama) (*torch.Model, error) {
	m, err := torch.NewLlama(c, torch.Float32, torch.CPU)
	if err != nil {
		return nil, err
	}
	g, err := torch.NewGenerator(0, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	for _, p := range m.Params() {
		s := torch.NewScope()
		s.Copy(p.Tensor, s.MulScalar(s.Randn(g, p.Tensor.Shape(), torch.Float32, torch.CPU), 0.05))
		err := s.Err()
		s.Close()
		if err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// timeGen is the best of 3 runs of a B×P prompt generating T tokens.
func timeGen(m *torch.Model, B, P int64, T int, noCache bool) (time.Duration, error) {
	best := time.Duration(1 << 62)
	for range 3 {
		s := torch.NewScope()
		ids := s.Arange(0, float64(B*P), 1, torch.Int64, torch.CPU)
		ids = s.Reshape(ids, B, P) // ids 0..B·P-1 < vocab
		t0 := time.Now()
		s.Generate(m, ids, nil, torch.GenConfig{MaxNewTokens: T, Greedy: true, NoCache: noCache}, nil)
		d := time.Since(t0)
		err := s.Err()
		s.Close()
		if err != nil {
			return 0, err
		}
		best = min(best, d)
	}
	return best, nil
}

// peakRSS is VmHWM from /proc/self/status.
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
