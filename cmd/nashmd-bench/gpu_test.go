package main

import (
	"testing"

	"github.com/nashmd/nashmd/hf/config"
	"github.com/nashmd/nashmd/torch"
)

// TestGPUBenchCodeOnCPU runs the GPU benchmark's code (models, both
// generations, a trainer step) on the CPU at a tiny shape, so the H200 run
// does not find its bugs. Nothing is asserted about times.
func TestGPUBenchCodeOnCPU(t *testing.T) {
	tiny := &config.Llama{
		Architecture: "Qwen2ForCausalLM", ModelType: "qwen2", VocabSize: 512, HiddenSize: 32,
		IntermediateSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2,
		HeadDim: 8, MaxPositionEmbeddings: 128, RMSNormEps: 1e-6, RopeTheta: 10000,
		AttentionBias: true, TieWordEmbeddings: true,
	}
	before := torch.LiveTensors()
	if err := runGPUBench(torch.CPU, gpuShape{"tiny Qwen2", tiny, 4, 16, 4, 1}); err != nil {
		t.Fatal(err)
	}
	if after := torch.LiveTensors(); after != before {
		t.Fatalf("live tensors %d -> %d", before, after)
	}
}
