package trainer

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/nashmd/nashmd/torch"
)

// Data parallelism, as transformers' Trainer does it with
// DistributedDataParallel: every process holds the whole model, takes its
// own shard of each global batch, and the gradients are averaged before
// clipping, so every process makes the same update.
//
//   - The global batch of one optimizer step is per_device_train_batch_size ×
//     gradient_accumulation_steps × world size prompts. Each micro-batch takes
//     the next per_device_train_batch_size × world size prompts of the shared
//     shuffled order and rank r keeps the r-th slice, so shards are disjoint
//     and every rank runs the same number of steps.
//   - Rank r samples with its own generator seeded seed + r (rank 0's equals
//     a single process's).
//   - Initial weights come from rank 0 (Distribute); gradients are averaged
//     in buckets after the last micro-batch's backward (optimizerStep).
//     Overlapping the all-reduce with backward, as DDP does through autograd
//     hooks, is not done: libtorch 1.13 has no post-accumulate-grad hook, and
//     on CPU Gloo would compete with backward for the same cores.
//   - Metrics are combined (reduceStats) so that every rank, and rank 0's
//     log, sees the global step: means of per-rank means (equal shard sizes),
//     sums of counts, the slowest rank's times.
//   - A checkpoint is written by rank 0 alone and holds every rank's RNG
//     state (rng_state_<rank>.bin); resuming needs the same world size.

// Distribute makes t one process of pg's data-parallel group: it takes rank
// 0's weights, reseeds the sampler with seed + rank and counts steps over
// the global batch. Call it after New and before Resume and Train, on every
// rank. A group of one process changes nothing.
func (t *Trainer) Distribute(pg *torch.ProcessGroup) error {
	if pg == nil || pg.WorldSize() == 1 {
		return nil
	}
	gen, err := torch.NewGenerator(uint64(t.Config.Seed)+uint64(pg.Rank()), t.Device)
	if err != nil {
		return err
	}
	t.gen.Close()
	t.gen = gen
	t.dist = pg
	W := int64(pg.WorldSize())
	t.State.MaxSteps = TotalSteps(t.Config, (int64(len(t.Data))+W-1)/W)
	if err := pg.Broadcast(t.params, 0); err != nil {
		return fmt.Errorf("trainer: initial weights from rank 0: %w", err)
	}
	return nil
}

// Rank is this process's rank (0 when it trains alone).
func (t *Trainer) Rank() int {
	if t.dist == nil {
		return 0
	}
	return t.dist.Rank()
}

// WorldSize is the number of processes training together (1 when alone).
func (t *Trainer) WorldSize() int {
	if t.dist == nil {
		return 1
	}
	return t.dist.WorldSize()
}

// nextShard is this rank's n prompts of the next micro-batch: the r-th n of
// the next n × world size prompts.
func (t *Trainer) nextShard(n int) []Example {
	W, r := t.WorldSize(), t.Rank()
	all := t.nextBatch(n * W)
	return all[r*n : (r+1)*n]
}

// reduceStats combines every rank's stats of one step.
func (t *Trainer) reduceStats(st Stats) (Stats, error) {
	parts, err := t.dist.AllGatherBytes(encodeStats(st))
	if err != nil {
		return nil, fmt.Errorf("trainer: metrics: %w", err)
	}
	all := make([]Stats, len(parts))
	for r, p := range parts {
		if all[r], err = decodeStats(p); err != nil {
			return nil, fmt.Errorf("trainer: metrics of rank %d: %w", r, err)
		}
		if r > 0 && !slices.Equal(sortedKeys(all[r]), sortedKeys(all[0])) {
			return nil, fmt.Errorf("trainer: rank %d logged %v but rank 0 %v", r, sortedKeys(all[r]), sortedKeys(all[0]))
		}
	}
	out := Stats{}
	for k := range all[0] {
		for _, s := range all {
			switch {
			case k == "prompts" || k == "tokens/generated":
				out[k] += s[k]
			case strings.HasPrefix(k, "time/"):
				out[k] = math.Max(out[k], s[k])
			default:
				out[k] += s[k] / float64(len(all))
			}
		}
	}
	return out, nil
}

// agree returns whether any rank wants to stop.
func (t *Trainer) agree(stop bool) (bool, error) {
	b := []byte{0}
	if stop {
		b[0] = 1
	}
	parts, err := t.dist.AllGatherBytes(b)
	if err != nil {
		return false, err
	}
	for _, p := range parts {
		if p[0] == 1 {
			return true, nil
		}
	}
	return false, nil
}

// checkInSync fails unless every rank stands at rank 0's position (they
// resumed from the same checkpoint).
func (t *Trainer) checkInSync() error {
	s := t.State
	pos, err := t.dist.AllGatherFloat64([]float64{float64(s.GlobalStep), float64(s.DataEpoch), float64(s.DataOffset), float64(s.MaxSteps)})
	if err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	for r, p := range pos {
		if !slices.Equal(p, pos[0]) {
			return fmt.Errorf("trainer: rank %d stands at step %v (data epoch %v, offset %v, of %v steps) but rank 0 at step %v (%v, %v, of %v): "+
				"every rank must start from the same checkpoint; is output_dir on a filesystem that every rank sees?", r, p[0], p[1], p[2], p[3], pos[0][0], pos[0][1], pos[0][2], pos[0][3])
		}
	}
	return nil
}

func sortedKeys(st Stats) []string {
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// encodeStats writes st as (key length, key, float64 bits) in key order:
// unlike JSON it keeps NaN and ±Inf.
func encodeStats(st Stats) []byte {
	var b []byte
	for _, k := range sortedKeys(st) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st[k]))
	}
	return b
}

func decodeStats(b []byte) (Stats, error) {
	st := Stats{}
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n+8 {
			return nil, fmt.Errorf("malformed metrics record")
		}
		k := string(b[w : w+int(n)])
		st[k] = math.Float64frombits(binary.LittleEndian.Uint64(b[w+int(n):]))
		b = b[w+int(n)+8:]
	}
	return st, nil
}
