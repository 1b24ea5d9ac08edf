package torch

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The process-group tests start their own workers: this test binary again,
// with NASHMD_DIST_WORKER naming what to do and torchrun's variables saying
// where the process sits. TestMain sends such a process to distWorker.
func TestMain(m *testing.M) {
	if mode := os.Getenv("NASHMD_DIST_WORKER"); mode != "" {
		if err := distWorker(mode); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type worker struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// launch starts world workers in mode with extra environment variables.
func launch(t *testing.T, mode string, world int, extra ...string) []*worker {
	t.Helper()
	port := freePort(t)
	var ws []*worker
	for r := range world {
		w := &worker{cmd: exec.Command(os.Args[0])}
		w.cmd.Env = append(os.Environ(), "NASHMD_DIST_WORKER="+mode, "MASTER_ADDR=127.0.0.1",
			"MASTER_PORT="+strconv.Itoa(port), "RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r),
			"WORLD_SIZE="+strconv.Itoa(world), "OMP_NUM_THREADS=1")
		w.cmd.Env = append(w.cmd.Env, extra...)
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.cmd.Process.Kill() })
		ws = append(ws, w)
	}
	return ws
}

// TestProcessGroupCollectives: two ranks over Gloo on loopback; every
// collective gives the values worked out by hand in collectives().
func TestProcessGroupCollectives(t *testing.T) {
	ws := launch(t, "collectives", 2)
	for r, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("rank %d: %v\n%s", r, err, w.out.String())
		}
	}
}

// TestProcessGroupLostRank: a rank that dies (or hangs) makes the other's
// next collective fail with ErrDist naming it, within the timeout.
func TestProcessGroupLostRank(t *testing.T) {
	for _, tc := range []struct{ how, victim, want string }{
		{"die", "1", "rank 1 is lost"},
		{"die", "0", "rank 0 is lost"}, // the rank hosting the store
		{"hang", "1", "rank 1 never reached collective #2"},
	} {
		t.Run(tc.how+tc.victim, func(t *testing.T) {
			t.Parallel()
			ws := launch(t, "lose", 2, "NASHMD_DIST_LOSE="+tc.how+":"+tc.victim, "NASHMD_DIST_WANT="+tc.want)
			v, _ := strconv.Atoi(tc.victim)
			survivor := ws[1-v]
			if err := survivor.cmd.Wait(); err != nil {
				t.Fatalf("survivor: %v\n%s", err, survivor.out.String())
			}
			t.Logf("survivor: %s", strings.TrimSpace(survivor.out.String()))
			ws[v].cmd.Process.Kill()
			ws[v].cmd.Wait()
		})
	}
}

func TestDistEnvFrom(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name string
		get  func(string) string
		want DistEnv
		ok   bool
		err  string
	}{
		{"alone", env(), DistEnv{}, false, ""},
		{"torchrun", env("WORLD_SIZE", "4", "RANK", "3", "LOCAL_RANK", "1", "MASTER_ADDR", "10.0.0.1", "MASTER_PORT", "29400"),
			DistEnv{MasterAddr: "10.0.0.1", MasterPort: 29400, Rank: 3, WorldSize: 4, LocalRank: 1, Source: "torchrun"}, true, ""},
		{"torchrun agent store", env("WORLD_SIZE", "2", "RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "1",
			"TORCHELASTIC_USE_AGENT_STORE", "True", "TORCHELASTIC_RESTART_COUNT", "2"),
			DistEnv{MasterAddr: "h", MasterPort: 1, WorldSize: 2, AgentStore: true, StorePrefix: "/worker/attempt_2", Source: "torchrun"}, true, ""},
		{"one process", env("WORLD_SIZE", "1", "RANK", "0", "MASTER_PORT", "5"),
			DistEnv{WorldSize: 1, MasterPort: 5, Source: "torchrun"}, false, ""},
		{"missing", env("WORLD_SIZE", "2"), DistEnv{}, false, "RANK is not set; MASTER_ADDR is not set; MASTER_PORT is not set"},
		{"malformed", env("WORLD_SIZE", "2", "RANK", "x", "MASTER_ADDR", "h", "MASTER_PORT", "1"), DistEnv{}, false, `RANK="x": want a non-negative integer`},
		{"rank out of range", env("WORLD_SIZE", "2", "RANK", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"), DistEnv{}, false, "rank 2 does not fit world size 2"},
		{"slurm", env("SLURM_NTASKS", "8", "SLURM_PROCID", "5", "SLURM_LOCALID", "1", "SLURM_JOB_NODELIST", "gpu[07-08,11],cpu1"),
			DistEnv{MasterAddr: "gpu07", MasterPort: 29500, Rank: 5, WorldSize: 8, LocalRank: 1, Source: "slurm"}, true, ""},
		{"slurm with master", env("SLURM_NTASKS", "2", "SLURM_PROCID", "0", "MASTER_ADDR", "m", "MASTER_PORT", "7", "SLURM_JOB_NODELIST", "a,b"),
			DistEnv{MasterAddr: "m", MasterPort: 7, WorldSize: 2, Source: "slurm"}, true, ""},
		{"torchrun wins over slurm", env("SLURM_NTASKS", "8", "SLURM_PROCID", "5", "WORLD_SIZE", "2", "RANK", "1", "MASTER_ADDR", "h", "MASTER_PORT", "3"),
			DistEnv{MasterAddr: "h", MasterPort: 3, Rank: 1, WorldSize: 2, Source: "torchrun"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := DistEnvFrom(tc.get)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v, %v; want %+v, %v", got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

// ---- the workers ----

func distWorker(mode string) error {
	env, ok, err := DistEnvFromOS()
	if err != nil || !ok {
		return fmt.Errorf("environment: ok %v, %v", ok, err)
	}
	switch mode {
	case "collectives":
		g, err := NewProcessGroup(env, DistOptions{Timeout: 30 * time.Second, BucketBytes: 64})
		if err != nil {
			return err
		}
		if err := collectives(g); err != nil {
			return fmt.Errorf("rank %d: %w", g.Rank(), err)
		}
		return g.Close()
	case "lose":
		g, err := NewProcessGroup(env, DistOptions{Timeout: 3 * time.Second, Heartbeat: 300 * time.Millisecond})
		if err != nil {
			return err
		}
		return lose(g)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// collectives checks each collective on values that depend on the rank.
func collectives(g *ProcessGroup) error {
	live := LiveTensors()
	s := NewScope()
	r, W := float64(g.Rank()), float64(g.WorldSize())
	seq := func(n int, f func(i float64) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(float64(i))
		}
		return out
	}
	expect := func(what string, x *Tensor, want []float64) error {
		got, err := s.To(x, Float64, CPU).Float64s()
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: got %v, want %v", what, got, want)
		}
		return nil
	}
	// Sum over three dtypes in buckets of 64 bytes: 60, 56 and 32 bytes.
	a := s.To(s.FromFloat64(seq(15, func(i float64) float64 { return i + 100*r }), 3, 5), Float32, CPU)
	b := s.FromFloat64(seq(7, func(i float64) float64 { return -i * r }))
	c := s.To(s.FromFloat64(seq(4, func(i float64) float64 { return r + i })), Int64, CPU)
	avg := s.To(s.FromFloat64([]float64{r + 1, 2 * (r + 1)}), Float32, CPU)
	mx := s.FromFloat64([]float64{r, -r})
	mn := s.FromFloat64([]float64{r, -r})
	bc := s.Full([]int64{2, 3}, r, Float32, CPU)
	if err := s.Err(); err != nil {
		return err
	}
	tri := W * (W - 1) / 2 // Σ_r r
	steps := []struct {
		name string
		run  func() error
		x    *Tensor
		want []float64
	}{
		{"sum float32", func() error { return g.AllReduce([]*Tensor{a, b, c}, ReduceSum) }, a, seq(15, func(i float64) float64 { return W*i + 100*tri })},
		{"sum float64", nil, b, seq(7, func(i float64) float64 { return -i * tri })},
		{"sum int64", nil, c, seq(4, func(i float64) float64 { return tri + W*i })},
		{"avg", func() error { return g.AllReduce([]*Tensor{avg}, ReduceAvg) }, avg, []float64{(W + 1) / 2, W + 1}},
		{"max", func() error { return g.AllReduce([]*Tensor{mx}, ReduceMax) }, mx, []float64{W - 1, 0}},
		{"min", func() error { return g.AllReduce([]*Tensor{mn}, ReduceMin) }, mn, []float64{0, -(W - 1)}},
		{"broadcast from 1", func() error { return g.Broadcast([]*Tensor{bc}, 1) }, bc, seq(6, func(float64) float64 { return 1 })},
	}
	for _, st := range steps {
		if st.run != nil {
			if err := st.run(); err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
		}
		if err := expect(st.name, st.x, st.want); err != nil {
			return err
		}
	}
	// Byte strings of different lengths, and float64 slices.
	mine := []byte(strings.Repeat("x", g.Rank()+1) + strconv.Itoa(g.Rank()))
	parts, err := g.AllGatherBytes(mine)
	if err != nil {
		return err
	}
	for q, p := range parts {
		if want := strings.Repeat("x", q+1) + strconv.Itoa(q); string(p) != want {
			return fmt.Errorf("all-gather bytes: rank %d's part is %q, want %q", q, p, want)
		}
	}
	fs, err := g.AllGatherFloat64([]float64{r, r / 2})
	if err != nil {
		return err
	}
	for q, f := range fs {
		if !slices.Equal(f, []float64{float64(q), float64(q) / 2}) {
			return fmt.Errorf("all-gather float64: rank %d's part is %v", q, f)
		}
	}
	// Gradients: p1 has one on every rank (r+1 each), p2 only on rank 0
	// (2 each), p3 on none.
	p1, p2, p3 := s.Zeros([]int64{2, 2}, Float32, CPU), s.Zeros([]int64{3}, Float32, CPU), s.Zeros([]int64{1}, Float32, CPU)
	for _, p := range []*Tensor{p1, p2, p3} {
		if err := p.SetRequiresGrad(true); err != nil {
			return err
		}
	}
	loss := s.Sum(s.MulScalar(p1, r+1))
	if g.Rank() == 0 {
		loss = s.Add(loss, s.Sum(s.MulScalar(p2, 2)))
	}
	if err := s.Err(); err != nil {
		return err
	}
	if err := loss.Backward(nil); err != nil {
		return err
	}
	if took, err := g.AllReduceGrads([]*Tensor{p1, p2, p3}); err != nil || took <= 0 {
		return fmt.Errorf("AllReduceGrads: transfer %s, %v", took, err)
	}
	if err := expect("grad p1", s.Grad(p1), seq(4, func(float64) float64 { return (W + 1) / 2 })); err != nil {
		return err
	}
	if err := expect("grad p2", s.Grad(p2), seq(3, func(float64) float64 { return 2 / W })); err != nil {
		return err
	}
	if s.Grad(p3) != nil {
		return errors.New("p3 has a gradient after AllReduceGrads, but no rank gave it one")
	}
	if err := g.Barrier(); err != nil {
		return err
	}
	s.Close()
	if grew := LiveTensors() - live; grew != 0 {
		return fmt.Errorf("%d tensor handles leaked", grew)
	}
	return nil
}

// lose: after one collective together, the victim dies or hangs; the other
// rank's next collective must fail with ErrDist and NASHMD_DIST_WANT in
// its message, within the timeout (3 s) and the diagnosis.
func lose(g *ProcessGroup) error {
	how, victim, _ := strings.Cut(os.Getenv("NASHMD_DIST_LOSE"), ":")
	s := NewScope()
	x := s.Ones([]int64{4}, Float32, CPU)
	if err := g.AllReduce([]*Tensor{x}, ReduceSum); err != nil {
		return err
	}
	if strconv.Itoa(g.Rank()) == victim {
		if how == "die" {
			os.Exit(3)
		}
		time.Sleep(time.Hour)
	}
	start := time.Now()
	err := g.AllReduce([]*Tensor{x}, ReduceSum)
	took := time.Since(start)
	if err == nil {
		return errors.New("the collective after the victim left succeeded")
	}
	if !errors.Is(err, ErrDist) || !strings.Contains(err.Error(), os.Getenv("NASHMD_DIST_WANT")) {
		return fmt.Errorf("error %q: want ErrDist with %q", err, os.Getenv("NASHMD_DIST_WANT"))
	}
	if took > 3*time.Second+3*time.Second {
		return fmt.Errorf("the error took %s, more than the 3 s timeout plus the diagnosis", took)
	}
	fmt.Printf("after %s: %v\n", took.Round(time.Millisecond), err)
	if err := g.Barrier(); err == nil || !strings.Contains(err.Error(), "broken") {
		return fmt.Errorf("a broken group's next call: %v, want an error saying it is broken", err)
	}
	return g.Close()
}
