package trainer

import "math"

// Step counts, learning-rate schedules and epochs, as transformers' Trainer
// (4.46) computes them for one process.

// StepsPerEpoch returns the optimizer steps in one epoch over datasetLen
// prompts: the number of micro-batches, ceil(datasetLen /
// per_device_train_batch_size) (the last one may be short), divided by
// gradient_accumulation_steps rounded down, and at least 1 — transformers'
// num_update_steps_per_epoch.
func StepsPerEpoch(c Config, datasetLen int64) int {
	batch := int64(max(c.PerDeviceTrainBatchSize, 1))
	batches := (max(datasetLen, 0) + batch - 1) / batch
	return int(max(batches/int64(max(c.GradientAccumulationSteps, 1)), 1))
}

// TotalSteps returns the number of optimizer steps of the run: max_steps when
// it is > 0, else ceil(num_train_epochs × StepsPerEpoch), as transformers'
// Trainer sets max_steps.
func TotalSteps(c Config, datasetLen int64) int {
	if c.MaxSteps > 0 {
		return c.MaxSteps
	}
	return int(math.Ceil(c.NumTrainEpochs * float64(StepsPerEpoch(c, datasetLen))))
}

// EpochOf returns the 0-based epoch that optimizer step (0-based) falls in:
// step / StepsPerEpoch. It indexes the Beta and MixtureCoef schedules.
func EpochOf(c Config, datasetLen int64, step int) int {
	return step / StepsPerEpoch(c, datasetLen)
}

// WarmupSteps returns the number of warmup steps for a run of totalSteps
// optimizer steps: warmup_steps when it is > 0, else
// ceil(totalSteps × warmup_ratio) (transformers' get_warmup_steps).
func WarmupSteps(c Config, totalSteps int) int {
	if c.WarmupSteps > 0 {
		return c.WarmupSteps
	}
	return int(math.Ceil(float64(totalSteps) * c.WarmupRatio))
}

// LR returns the learning rate of the optimizer update that follows step
// completed updates (0 for the first update) in a run of totalSteps, as
// transformers' schedulers give it: learning_rate times the lr_lambda of
// get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup
// (num_cycles 0.5), get_constant_schedule or
// get_constant_schedule_with_warmup, with WarmupSteps(c, totalSteps)
// warmup steps. It equals scheduler.get_last_lr() after step calls of
// scheduler.step(). An unknown lr_scheduler_type gives NaN.
func LR(c Config, step, totalSteps int) float64 {
	warmup := WarmupSteps(c, totalSteps)
	warm := func() float64 { return float64(step) / float64(max(1, warmup)) }
	var f float64
	switch c.LRSchedulerType {
	case "constant":
		f = 1
	case "constant_with_warmup":
		f = 1
		if step < warmup {
			f = warm()
		}
	case "linear":
		if step < warmup {
			f = warm()
		} else {
			f = max(0, float64(totalSteps-step)/float64(max(1, totalSteps-warmup)))
		}
	case "cosine":
		const numCycles = 0.5
		if step < warmup {
			f = warm()
		} else {
			progress := float64(step-warmup) / float64(max(1, totalSteps-warmup))
			f = max(0, 0.5*(1+math.Cos(math.Pi*numCycles*2*progress)))
		}
	default:
		return math.NaN()
	}
	return c.LearningRate * f
}
