package trainer

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// scheduleGolden is testdata/config/schedule_golden.json, written by
// gen_golden.py from transformers' own schedulers and step formula.
type scheduleGolden struct {
	Transformers string `json:"transformers"`
	LR           []struct {
		LRSchedulerType string    `json:"lr_scheduler_type"`
		LearningRate    float64   `json:"learning_rate"`
		WarmupSteps     int       `json:"warmup_steps"`
		WarmupRatio     float64   `json:"warmup_ratio"`
		TotalSteps      int       `json:"total_steps"`
		ResolvedWarmup  int       `json:"resolved_warmup"`
		Steps           []int     `json:"steps"`
		LRs             []float64 `json:"lrs"`
	} `json:"lr"`
	TotalSteps []struct {
		DatasetLen                int64   `json:"dataset_len"`
		PerDeviceTrainBatchSize   int     `json:"per_device_train_batch_size"`
		GradientAccumulationSteps int     `json:"gradient_accumulation_steps"`
		NumTrainEpochs            float64 `json:"num_train_epochs"`
		MaxSteps                  int     `json:"max_steps"`
		StepsPerEpoch             int     `json:"steps_per_epoch"`
		TotalSteps                int     `json:"total_steps"`
	} `json:"total_steps"`
}

func loadScheduleGolden(t *testing.T) scheduleGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "config", "schedule_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g scheduleGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.LR) == 0 || len(g.TotalSteps) == 0 {
		t.Fatal("empty golden file")
	}
	return g
}

// TestLRGolden compares LR with transformers' get_scheduler at every
// recorded step. All schedules but cosine must match exactly. Cosine may
// differ by the last bit of cos (Go's math.Cos against C's libm), which
// 1+cos(π·progress) amplifies near the end of the run, so it is compared
// relative to the peak learning rate: |LR − want| <= 1e-14·learning_rate.
func TestLRGolden(t *testing.T) {
	g := loadScheduleGolden(t)
	var n int
	var worst float64
	for _, tc := range g.LR {
		c := Default()
		c.LRSchedulerType = tc.LRSchedulerType
		c.LearningRate = tc.LearningRate
		c.WarmupSteps = tc.WarmupSteps
		c.WarmupRatio = tc.WarmupRatio
		if w := WarmupSteps(c, tc.TotalSteps); w != tc.ResolvedWarmup {
			t.Errorf("WarmupSteps(steps %d, ratio %v, total %d) = %d, want %d",
				tc.WarmupSteps, tc.WarmupRatio, tc.TotalSteps, w, tc.ResolvedWarmup)
		}
		for i, step := range tc.Steps {
			got, want := LR(c, step, tc.TotalSteps), tc.LRs[i]
			n++
			d := math.Abs(got-want) / tc.LearningRate
			worst = max(worst, d)
			exact := tc.LRSchedulerType != "cosine"
			if (exact && got != want) || !(d <= 1e-14) {
				t.Errorf("%s lr %v warmup %d/%v total %d: LR(step %d) = %v, want %v",
					tc.LRSchedulerType, tc.LearningRate, tc.WarmupSteps, tc.WarmupRatio,
					tc.TotalSteps, step, got, want)
			}
		}
	}
	t.Logf("%d values from transformers %s; worst difference %.3g × learning_rate", n, g.Transformers, worst)
}

func TestTotalStepsGolden(t *testing.T) {
	g := loadScheduleGolden(t)
	for _, tc := range g.TotalSteps {
		c := Default()
		c.PerDeviceTrainBatchSize = tc.PerDeviceTrainBatchSize
		c.GradientAccumulationSteps = tc.GradientAccumulationSteps
		c.NumTrainEpochs = tc.NumTrainEpochs
		c.MaxSteps = tc.MaxSteps
		per, total := StepsPerEpoch(c, tc.DatasetLen), TotalSteps(c, tc.DatasetLen)
		if per != tc.StepsPerEpoch || total != tc.TotalSteps {
			t.Errorf("len %d batch %d accum %d epochs %v max_steps %d: StepsPerEpoch, TotalSteps = %d, %d, want %d, %d",
				tc.DatasetLen, tc.PerDeviceTrainBatchSize, tc.GradientAccumulationSteps, tc.NumTrainEpochs,
				tc.MaxSteps, per, total, tc.StepsPerEpoch, tc.TotalSteps)
		}
	}
}

func TestEpochOf(t *testing.T) {
	c := Default()
	c.PerDeviceTrainBatchSize = 4
	c.GradientAccumulationSteps = 2
	// 20 prompts: 5 micro-batches, 2 optimizer steps per epoch.
	for step, want := range []int{0, 0, 1, 1, 2, 2, 3} {
		if got := EpochOf(c, 20, step); got != want {
			t.Errorf("EpochOf(step %d) = %d, want %d", step, got, want)
		}
	}
	c.Beta = Schedule{0.3, 0.2}
	if got := c.Beta.At(EpochOf(c, 20, 5)); got != 0.2 {
		t.Errorf("beta at step 5 = %v, want 0.2", got)
	}
}

func TestLRUnknownScheduler(t *testing.T) {
	c := Default()
	c.LRSchedulerType = "polynomial"
	if got := LR(c, 1, 10); !math.IsNaN(got) {
		t.Errorf("LR with unknown scheduler = %v, want NaN", got)
	}
}
