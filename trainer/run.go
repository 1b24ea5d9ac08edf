package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// MetricsSink receives one line of metrics every logging_steps.
type MetricsSink interface {
	Log(step int, st Stats) error
}

// JSONL writes metrics as JSON lines: the resolved config first, then one
// object per logging step with TRL's keys and ours.
type JSONL struct {
	W io.Writer
}

// Header writes the resolved config as the first line.
func (j JSONL) Header(c Config) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	return json.NewEncoder(j.W).Encode(map[string]any{"config": string(b)})
}

// Log implements MetricsSink. JSON has no NaN or ±Inf: such values (a
// skipped non-finite step) are written as null.
func (j JSONL) Log(step int, st Stats) error {
	m := map[string]any{"step": step}
	for k, v := range st {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	return json.NewEncoder(j.W).Encode(m)
}

// Hooks are optional callbacks of Train.
type Hooks struct {
	Progress func(st State, line Stats) // after every logged step (a progress bar or a plain line)
	Save     func(st State) error       // every save_steps and at the end (writes a checkpoint)
}

// Train runs steps until MaxSteps or until ctx is cancelled (SIGINT or
// SIGTERM): then it finishes the step in progress, saves and returns nil.
//
// With several processes (Distribute), every rank calls Train: they stop
// together (after the step in which any of them was signalled), Save runs
// on every rank (SaveCheckpoint is collective) and Train returns after a
// final barrier.
func (t *Trainer) Train(ctx context.Context, h Hooks) error {
	if t.dist != nil {
		if err := t.checkInSync(); err != nil {
			return err
		}
	}
	var window []Stats
	for t.State.GlobalStep < t.State.MaxSteps {
		stop := ctx.Err() != nil
		if t.dist != nil {
			var err error
			if stop, err = t.agree(stop); err != nil {
				return fmt.Errorf("step %d: %w", t.State.GlobalStep+1, err)
			}
		}
		if stop {
			break
		}
		// The step itself is not cancelled: a signal lets it finish.
		st, err := t.Step(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("step %d: %w", t.State.GlobalStep+1, err)
		}
		window = append(window, st)
		last := t.State.GlobalStep == t.State.MaxSteps
		if t.State.GlobalStep%max(t.Config.LoggingSteps, 1) == 0 || last {
			line := logLine(window)
			window = nil
			if mb := peakRSSMB(); mb > 0 {
				line["memory/peak_rss_mb"] = mb
			}
			if t.Out != nil {
				if err := t.Out.Log(t.State.GlobalStep, line); err != nil {
					return err
				}
			}
			if h.Progress != nil {
				h.Progress(t.State, line)
			}
		}
		if h.Save != nil && t.Config.SaveSteps > 0 && t.State.GlobalStep%t.Config.SaveSteps == 0 && !last {
			if err := h.Save(t.State); err != nil {
				return err
			}
		}
	}
	if h.Save != nil {
		if err := h.Save(t.State); err != nil {
			return err
		}
	}
	if t.dist != nil {
		return t.dist.Barrier()
	}
	return nil
}

// logLine averages a window of step stats and adds throughput: prompts/s,
// generated tokens/s and each phase's share of the time.
func logLine(window []Stats) Stats {
	line := Stats{}
	sums := Stats{}
	for _, st := range window {
		for k, v := range st {
			sums[k] += v
		}
	}
	for k, v := range sums {
		line[k] = v / float64(len(window))
	}
	// Values that describe the position, not the window: the latest one.
	for _, k := range []string{"epoch", "learning_rate", "beta", "mixture_coef", "nonfinite_skipped"} {
		if v, ok := window[len(window)-1][k]; ok {
			line[k] = v
		}
	}
	var total float64
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		if len(k) > 5 && k[:5] == "time/" && k != "time/step_s" {
			total += sums[k]
		}
	}
	for k, v := range sums {
		if len(k) > 5 && k[:5] == "time/" && k != "time/step_s" && total > 0 {
			line["share/"+k[5:len(k)-2]] = v / total
		}
	}
	secs := 0.0
	for _, st := range window {
		secs += st["time/step_s"] + st["time/optimizer_s"] + st["time/allreduce_s"]
	}
	if secs > 0 {
		line["prompts_per_s"] = sums["prompts"] / secs
		line["tokens_per_s"] = sums["tokens/generated"] / secs
	}
	delete(line, "prompts")
	delete(line, "tokens/generated")
	return line
}

// peakRSSMB is the process's resident-set high-water mark (VmHWM of
// /proc/self/status, Linux) in MiB, or 0 where that is not available.
// Unlike getrusage's ru_maxrss it is per address space, so a process
// started by a large parent does not inherit the parent's peak.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
