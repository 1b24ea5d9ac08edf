package trainer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nashmd/nashmd/judges"
	"github.com/nashmd/nashmd/torch"
)

// The data-parallel test starts its own workers: this test binary again,
// with NASHMD_TRAINER_WORKER naming the directory to write into and
// torchrun's variables saying where the process sits.
func TestMain(m *testing.M) {
	if dir := os.Getenv("NASHMD_TRAINER_WORKER"); dir != "" {
		if err := dpWorker(dir); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const dpSteps = 3

// fixedTrainer is a trainer on the tiny Qwen2 (the tiny Llama as
// reference) in float64, whose completions and judge probabilities are a
// fixed function of each prompt's row (fixedSample): 12 prompts, batch
// perDevice × 2 accumulation steps.
func fixedTrainer(dir string, perDevice int) (*Trainer, func(), error) {
	var models []*torch.Model
	cleanup := func() {
		for _, m := range models {
			m.Close()
		}
	}
	for _, name := range []string{"qwen2_tiny", "llama_tiny_tied"} {
		m, err := torch.LoadLlama(filepath.Join("..", "torch", "testdata", "models", name), torch.Float64, torch.CPU)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		models = append(models, m)
	}
	cfg := Default()
	cfg.OutputDir = dir
	cfg.MaxSteps = dpSteps
	cfg.PerDeviceTrainBatchSize = perDevice
	cfg.GradientAccumulationSteps = 2
	cfg.LearningRate = 1e-4
	cfg.WeightDecay = 0.01
	cfg.LoggingSteps = 1
	rng := rand.New(rand.NewPCG(1, 2))
	var data []Example
	for i := range 12 {
		ids := make([]int64, 2+rng.IntN(5))
		for j := range ids {
			ids[j] = 3 + rng.Int64N(90)
		}
		data = append(data, Example{Row: int64(i), IDs: ids})
	}
	judge, err := judges.NewRule("shorter", "", nil) // unused: fixedSample gives the probabilities
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	tr, err := New(cfg, models[0], models[1], judge, nil, data, []int64{2}, 0)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	tr.sampleFn = tr.fixedSample
	return tr, func() { tr.Close(); cleanup() }, nil
}

// fixedSample stands for Sample: prompt row i gets 1 + i%4 completion
// tokens (EOS last when i is even) for both streams and P(y ≻ y') =
// 0.05 + 0.9·frac(0.37·i), whatever the batch it falls in.
func (t *Trainer) fixedSample(_ context.Context, s *torch.Scope, batch []Example) (*Rollout, error) {
	ids, mask, P := leftPad(batch, t.PadID)
	B := int64(len(batch))
	T := int64(0)
	for _, e := range batch {
		T = max(T, 1+e.Row%4)
	}
	y := make([]int64, B*T)
	ym := make([]int64, B*T)
	r := &Rollout{}
	for b, e := range batch {
		n := 1 + e.Row%4
		for j := range n {
			y[int64(b)*T+j] = 3 + (e.Row*7+j*13)%90
			ym[int64(b)*T+j] = 1
		}
		if e.Row%2 == 0 {
			y[int64(b)*T+n-1] = 2 // EOS
		}
		_, f := math.Modf(0.37 * float64(e.Row))
		r.Prob = append(r.Prob, 0.05+0.9*f)
		r.Prompts = append(r.Prompts, "")
	}
	r.IDs, r.Mask = s.FromInt64(ids, B, P), s.FromInt64(mask, B, P)
	r.Y, r.YMask = s.FromInt64(y, B, T), s.FromInt64(ym, B, T)
	r.YMix, r.YMixMask = r.Y, r.YMask
	return r, s.Err()
}

// flatParams is every parameter's values, in order.
func flatParams(m *torch.Model) ([]float64, error) {
	var out []float64
	for _, p := range m.Params() {
		v, err := p.Tensor.Float64s()
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// dpWorker trains dpSteps steps as one rank of a group of two with batch 2,
// writing its parameters after every step to dir/rank<r>_step<k>.bin, rank
// 0's metrics to dir/metrics.jsonl and a final checkpoint under dir/out.
func dpWorker(dir string) error {
	env, ok, err := torch.DistEnvFromOS()
	if err != nil || !ok {
		return fmt.Errorf("environment: ok %v, %v", ok, err)
	}
	pg, err := torch.NewProcessGroup(env, torch.DistOptions{Timeout: time.Minute})
	if err != nil {
		return err
	}
	defer pg.Close()
	tr, cleanup, err := fixedTrainer(filepath.Join(dir, "out"), 2)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := tr.Distribute(pg); err != nil {
		return err
	}
	var metrics bytes.Buffer
	if tr.Rank() == 0 {
		tr.Out = JSONL{W: &metrics}
	}
	var werr error
	err = tr.Train(context.Background(), Hooks{
		Progress: func(st State, _ Stats) {
			p, err := flatParams(tr.Policy)
			if err == nil {
				var b []byte
				for _, v := range p {
					b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
				}
				err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("rank%d_step%d.bin", tr.Rank(), st.GlobalStep)), b, 0o644)
			}
			werr = cmpOr(werr, err)
		},
		Save: func(State) error { _, err := tr.SaveCheckpoint(""); return err },
	})
	if err = cmpOr(err, werr); err != nil {
		return err
	}
	if tr.Rank() == 0 {
		return os.WriteFile(filepath.Join(dir, "metrics.jsonl"), metrics.Bytes(), 0o644)
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestDataParallelEqualsOneProcess: two processes with batch 2 each train
// the same as one process with batch 4 fed the same prompts and the same
// completions: after every step the two ranks' parameters are equal bit
// for bit, and equal to the single process's within 1e-6 (float64 models
// with float32 log-probs: the order of summation differs, and AdamW turns
// the rounding of gradients near zero into differences of up to ~1e-4·lr). Rank 0's metrics are the global
// batch's, the checkpoint holds both ranks' RNG states, and rank 1 wrote
// nothing.
func TestDataParallelEqualsOneProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for r := range 2 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "NASHMD_TRAINER_WORKER="+dir, "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
			"RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r), "WORLD_SIZE=2", "OMP_NUM_THREADS=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}

	// Meanwhile, the single process with twice the batch.
	single, cleanup, err := fixedTrainer(t.TempDir(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	init, err := flatParams(single.Policy)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]float64
	var losses []float64
	err = single.Train(context.Background(), Hooks{Progress: func(_ State, line Stats) {
		p, err := flatParams(single.Policy)
		if err != nil {
			t.Error(err)
		}
		want = append(want, p)
		losses = append(losses, line["loss"])
	}})
	if err != nil {
		t.Fatal(err)
	}

	for r, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, outs[r].String())
		}
	}
	read := func(r, step int) []float64 {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank%d_step%d.bin", r, step)))
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(b)/8)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return v
	}
	for step := 1; step <= dpSteps; step++ {
		r0, r1 := read(0, step), read(1, step)
		for i := range r0 {
			if math.Float64bits(r0[i]) != math.Float64bits(r1[i]) {
				t.Fatalf("step %d: parameter element %d differs between the ranks: %v vs %v", step, i, r0[i], r1[i])
			}
		}
		d, moved := 0.0, 0.0
		for i := range r0 {
			d = math.Max(d, math.Abs(r0[i]-want[step-1][i]))
			moved = math.Max(moved, math.Abs(r0[i]-init[i]))
		}
		if d > 1e-6 {
			t.Fatalf("step %d: two processes vs one: max |Δθ| = %.3g > 1e-6", step, d)
		}
		if moved < 5e-5 {
			t.Fatalf("step %d: the weights moved by %.3g only: the test cannot tell", step, moved)
		}
		t.Logf("step %d: ranks bitwise equal; max |θ(2 processes) − θ(1 process)| = %.3g (weights moved by up to %.3g)", step, d, moved)
	}

	// Rank 0's metrics are the global batch's.
	lines := strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "metrics.jsonl"))), "\n")
	if len(lines) != dpSteps {
		t.Fatalf("%d metric lines, want %d", len(lines), dpSteps)
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		// The loss is a small difference of float32 sums of log-probs of
		// magnitude ~10 each, summed per shard then averaged: 1e-5 absolute
		// is a few float32 ulps of those sums, far below a wrong average.
		if loss := m["loss"].(float64); math.Abs(loss-losses[i]) > 1e-5*max(1, math.Abs(losses[i])) {
			t.Errorf("step %d: rank 0 logged loss %.12g, the single process %.12g", i+1, loss, losses[i])
		}
		for _, k := range []string{"time/allreduce_s", "allreduce/transfer_s"} {
			if v, ok := m[k].(float64); !ok || v <= 0 {
				t.Errorf("step %d: %s is %v in %s", i+1, k, m[k], line)
			}
		}
	}
	// One checkpoint, written by rank 0, with both ranks' RNG states.
	ck := filepath.Join(dir, "out", fmt.Sprintf("checkpoint-%d", dpSteps))
	rng0, rng1 := readFile(t, filepath.Join(ck, "rng_state_0.bin")), readFile(t, filepath.Join(ck, "rng_state_1.bin"))
	if rng0 == rng1 {
		t.Error("both ranks' RNG states are equal: the ranks sample alike")
	}
	var st State
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(ck, stateFile))), &st); err != nil || st.WorldSize != 2 {
		t.Errorf("trainer_state.json: world_size %d, %v", st.WorldSize, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) != 1 {
		t.Errorf("output dir holds %d entries, want the one checkpoint", len(entries))
	}

	// Resuming that checkpoint in one process is refused, naming both sizes.
	again, cleanup2, err := fixedTrainer(filepath.Join(dir, "out"), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup2()
	if err := again.Resume(ck); err == nil || !strings.Contains(err.Error(), "written by 2 process(es) and this run has 1") {
		t.Fatalf("resuming a 2-process checkpoint alone: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStatsEncoding: metrics cross between ranks with NaN and ±Inf intact.
func TestStatsEncoding(t *testing.T) {
	st := Stats{"loss": math.NaN(), "grad_norm": math.Inf(1), "a/b": -0.5, "": 3}
	got, err := decodeStats(encodeStats(st))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(st) || !math.IsNaN(got["loss"]) || got["grad_norm"] != st["grad_norm"] || got["a/b"] != -0.5 || got[""] != 3 {
		t.Fatalf("round trip: %v", got)
	}
	if _, err := decodeStats([]byte{5, 'a'}); err == nil {
		t.Fatal("a truncated record decoded")
	}
	if !slices.Equal(sortedKeys(st), []string{"", "a/b", "grad_norm", "loss"}) {
		t.Fatal(sortedKeys(st))
	}
}
