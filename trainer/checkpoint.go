package trainer

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

// Checkpoint files beside the Hugging Face model files.
const (
	stateFile     = "trainer_state.json"
	optimizerFile = "optimizer.safetensors"
	rngFile       = "rng_state.bin"
	configFile    = "nashmd_config.toml"
)

var checkpointRE = regexp.MustCompile(`^checkpoint-(\d+)$`)

// SaveCheckpoint writes output_dir/checkpoint-<step>: the policy as a
// Hugging Face directory (with tokenizer files copied from tokenizerDir),
// trainer_state.json, the optimizer state, the sampler's RNG state and the
// resolved config. It is written to a temporary directory and renamed, so a
// checkpoint is either whole or absent; then save_total_limit is applied.
//
// With several processes every rank must call it: it gathers each rank's RNG
// state, rank 0 writes them all (rng_state_<rank>.bin) and the others return
// "" without writing anything.
func (t *Trainer) SaveCheckpoint(tokenizerDir string) (string, error) {
	rngs, err := t.rngStates()
	if err != nil {
		return "", err
	}
	if t.Rank() != 0 {
		return "", nil
	}
	t.State.WorldSize = t.WorldSize()
	final := filepath.Join(t.Config.OutputDir, fmt.Sprintf("checkpoint-%d", t.State.GlobalStep))
	tmp := final + ".tmp"
	os.RemoveAll(tmp)
	if err := t.Policy.Save(tmp, torch.SaveOptions{CopyFrom: tokenizerDir}); err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(tmp)
		return "", err
	}
	b, err := json.MarshalIndent(t.State, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, stateFile), b, 0o644); err != nil {
		return fail(err)
	}
	if err := t.saveOptimizer(filepath.Join(tmp, optimizerFile)); err != nil {
		return fail(err)
	}
	for r, rng := range rngs {
		if err := os.WriteFile(filepath.Join(tmp, rngName(r, len(rngs))), rng, 0o644); err != nil {
			return fail(err)
		}
	}
	cfg, err := t.Config.Marshal()
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, configFile), cfg, 0o644); err != nil {
		return fail(err)
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	return final, t.pruneCheckpoints()
}

// rngStates are every rank's sampler state, in rank order.
func (t *Trainer) rngStates() ([][]byte, error) {
	rng, err := t.gen.State()
	if err != nil {
		return nil, err
	}
	if t.dist == nil {
		return [][]byte{rng}, nil
	}
	all, err := t.dist.AllGatherBytes(rng)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: RNG states: %w", err)
	}
	return all, nil
}

// rngName is rank's RNG file in a checkpoint of world processes:
// rng_state.bin alone, rng_state_<rank>.bin with several (as transformers'
// rng_state.pth and rng_state_<rank>.pth).
func rngName(rank, world int) string {
	if world == 1 {
		return rngFile
	}
	return fmt.Sprintf("rng_state_%d.bin", rank)
}

// saveOptimizer writes AdamW's moments and step counts. Each moment is
// copied to host memory only when the writer reaches it (through one reused
// buffer) and its handle is closed right after.
func (t *Trainer) saveOptimizer(path string) error {
	var srcs []safetensors.Source
	var handles []*torch.Tensor
	defer func() {
		for _, h := range handles {
			h.Close() // idempotent: most were closed by their Fill
		}
	}()
	var buf torch.HostBuffer
	meta := map[string]string{"format": "nashmd-adamw"}
	for i, name := range t.names {
		m, v, step, err := t.opt.State(i)
		if err != nil {
			return err
		}
		meta["step."+name] = strconv.FormatInt(step, 10)
		if m == nil {
			continue
		}
		handles = append(handles, m, v)
		for _, x := range []struct {
			key string
			t   *torch.Tensor
		}{{"exp_avg." + name, m}, {"exp_avg_sq." + name, v}} {
			src, err := buf.Source(x.key, x.t)
			if err != nil {
				return err
			}
			fill := src.Fill
			src.Fill = func(w io.Writer) error {
				defer x.t.Close()
				return fill(w)
			}
			srcs = append(srcs, src)
		}
	}
	return safetensors.WriteFileStream(path, srcs, meta)
}

// LatestCheckpoint is the checkpoint-N with the largest N in dir ("" if none).
func LatestCheckpoint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return "", nil
		}
		return "", err
	}
	best, bestN := "", -1
	for _, e := range entries {
		if m := checkpointRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			if n, _ := strconv.Atoi(m[1]); n > bestN {
				best, bestN = filepath.Join(dir, e.Name()), n
			}
		}
	}
	return best, nil
}

// Resume restores the policy weights, optimizer, RNG and position from a
// checkpoint directory.
func (t *Trainer) Resume(dir string) error {
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return err
	}
	err = t.Policy.LoadWeights(ck)
	ck.Close()
	if err != nil {
		return fmt.Errorf("resume from %s: %w", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("resume: %s: %w", stateFile, err)
	}
	if w, have := max(st.WorldSize, 1), t.WorldSize(); w != have {
		return fmt.Errorf("resume from %s: the checkpoint was written by %d process(es) and this run has %d: "+
			"resume with %d (the data shards and the per-rank random streams depend on the number of processes; resharding is not supported)", dir, w, have, w)
	}
	maxSteps := t.State.MaxSteps
	t.State = st
	t.State.MaxSteps = maxSteps
	f, err := safetensors.Open(filepath.Join(dir, optimizerFile))
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	defer f.Close()
	meta := f.Metadata()
	for i, name := range t.names {
		step, err := strconv.ParseInt(meta["step."+name], 10, 64)
		if err != nil {
			return fmt.Errorf("resume: %s: no step count for %s", optimizerFile, name)
		}
		if step == 0 {
			continue
		}
		s := torch.NewScope()
		var xs [2]*torch.Tensor
		for j, key := range []string{"exp_avg." + name, "exp_avg_sq." + name} {
			st, err := f.Tensor(key)
			if err != nil {
				s.Close()
				return fmt.Errorf("resume: %w", err)
			}
			xs[j] = s.FromSafetensors(st, t.Device)
		}
		err = s.Err()
		if err == nil {
			err = t.opt.SetState(i, xs[0], xs[1], step)
		}
		s.Close()
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	rng, err := os.ReadFile(filepath.Join(dir, rngName(t.Rank(), t.WorldSize())))
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return t.gen.SetState(rng)
}

// pruneCheckpoints deletes the oldest checkpoints beyond save_total_limit.
func (t *Trainer) pruneCheckpoints() error {
	if t.Config.SaveTotalLimit <= 0 {
		return nil
	}
	entries, err := os.ReadDir(t.Config.OutputDir)
	if err != nil {
		return err
	}
	var steps []int
	for _, e := range entries {
		if m := checkpointRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			n, _ := strconv.Atoi(m[1])
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	for len(steps) > t.Config.SaveTotalLimit {
		if err := os.RemoveAll(filepath.Join(t.Config.OutputDir, fmt.Sprintf("checkpoint-%d", steps[0]))); err != nil {
			return err
		}
		steps = steps[1:]
	}
	return nil
}
