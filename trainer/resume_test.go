package trainer

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
)

// tinyTrainer is a trainer on the tiny Qwen2 (the tiny Llama as reference) with a
// rule judge and 12 random prompts, writing into dir.
func tinyTrainer(t *testing.T, dir string, maxSteps int) *Trainer {
	t.Helper()
	cfg := Default()
	cfg.OutputDir = dir
	cfg.MaxSteps = maxSteps
	cfg.PerDeviceTrainBatchSize = 4
	cfg.GradientAccumulationSteps = 2
	cfg.MaxNewTokens = 6
	cfg.LearningRate = 1e-3
	cfg.LoggingSteps = 1
	cfg.SaveSteps = 100
	pol, ref := loadTiny(t, "qwen2_tiny"), loadTiny(t, "llama_tiny_tied")
	rng := rand.New(rand.NewPCG(1, 2))
	var data []Example
	for i := range 12 {
		ids := make([]int64, 2+rng.IntN(5))
		for j := range ids {
			ids[j] = 3 + rng.Int64N(90)
		}
		data = append(data, Example{Row: int64(i), IDs: ids})
	}
	judge, err := judges.NewRule("shorter", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(cfg, pol, ref, judge, nil, data, []int64{2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func weights(t *testing.T, m *torch.Model) [][]byte {
	var out [][]byte
	for _, p := range m.Params() {
		b, err := p.Tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestResumeBitwise: 6 steps straight equal 3 steps, a stop (as on SIGINT:
// the step finishes and a checkpoint is written), and 3 resumed steps,
// bit for bit.
func TestResumeBitwise(t *testing.T) {
	straight := tinyTrainer(t, t.TempDir(), 6)
	live := torch.LiveTensors()
	if err := straight.Train(context.Background(), Hooks{}); err != nil {
		t.Fatal(err)
	}
	// Optimizer moments live inside the optimizer, not as handles: no handle may outlive a step.
	if grew := torch.LiveTensors() - live; grew != 0 {
		t.Fatalf("6 steps: %d tensor handles more than before", grew)
	}
	want := weights(t, straight.Policy)

	dir := t.TempDir()
	first := tinyTrainer(t, dir, 6)
	ctx, cancel := context.WithCancel(context.Background())
	save := func(State) error { _, err := first.SaveCheckpoint(""); return err }
	err := first.Train(ctx, Hooks{
		Progress: func(st State, _ Stats) {
			if st.GlobalStep == 3 {
				cancel() // the "kill": Train stops after this step and saves
			}
		},
		Save: save,
	})
	if err != nil || first.State.GlobalStep != 3 {
		t.Fatalf("interrupted run: step %d, %v", first.State.GlobalStep, err)
	}
	ck, err := LatestCheckpoint(dir)
	if err != nil || ck == "" {
		t.Fatalf("no checkpoint: %v", err)
	}
	second := tinyTrainer(t, dir, 6)
	if err := second.Resume(ck); err != nil {
		t.Fatal(err)
	}
	if second.State.GlobalStep != 3 {
		t.Fatalf("resumed at step %d", second.State.GlobalStep)
	}
	if err := second.Train(context.Background(), Hooks{}); err != nil {
		t.Fatal(err)
	}
	got := weights(t, second.Policy)
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("parameter %s differs after resume", second.Policy.Params()[i].Name)
		}
	}
	// And the run did change the weights.
	init := weights(t, loadTiny(t, "qwen2_tiny"))
	if slices.Equal(init[0], want[0]) && slices.Equal(init[len(init)-1], want[len(want)-1]) {
		t.Fatal("training did not change the weights")
	}
}

// TestNonFiniteStops: updates with a non-finite loss or gradient norm are
// skipped and counted; max_nonfinite_steps in a row stop training.
func TestNonFiniteStops(t *testing.T) {
	tr := tinyTrainer(t, t.TempDir(), 20)
	tr.Config.LearningRate = 1e30 // the first update sends the weights to ±inf
	tr.Config.WarmupRatio = 0
	tr.Config.MaxNonFiniteSteps = 2
	var last Stats
	var buf strings.Builder
	tr.Out = JSONL{W: &buf} // non-finite values must not break the metrics log
	err := tr.Train(context.Background(), Hooks{Progress: func(_ State, st Stats) { last = st }})
	if err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("err = %v, want a stop after non-finite steps", err)
	}
	if tr.State.SkippedStep != 2 || last["nonfinite_skipped"] < 1 {
		t.Fatalf("skipped %d steps (last logged %v), want 2", tr.State.SkippedStep, last["nonfinite_skipped"])
	}
	if !strings.Contains(buf.String(), `"loss":null`) {
		t.Fatalf("metrics log lacks the skipped step's null loss:\n%s", buf.String())
	}
	t.Log(err)
}

// TestSaveTotalLimit: only the newest save_total_limit checkpoints remain.
func TestSaveTotalLimit(t *testing.T) {
	dir := t.TempDir()
	tr := tinyTrainer(t, dir, 4)
	tr.Config.SaveSteps = 1
	tr.Config.SaveTotalLimit = 2
	save := func(State) error { _, err := tr.SaveCheckpoint(""); return err }
	if err := tr.Train(context.Background(), Hooks{Save: save}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"checkpoint-3", "checkpoint-4"}) {
		t.Fatalf("checkpoints %v, want [checkpoint-3 checkpoint-4]", names)
	}
}
