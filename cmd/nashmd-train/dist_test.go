package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nashmd/nashmd/torch"
	"github.com/nashmd/nashmd/trainer"
)

// rankProc is one nashmd-train process of a data-parallel run.
type rankProc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startRanks runs this test binary as nashmd-train (see TestMain) in world
// processes on loopback, as torchrun would, with args.
func startRanks(t *testing.T, world int, args ...string) []*rankProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var ps []*rankProc
	for r := range world {
		p := &rankProc{cmd: exec.Command(os.Args[0], args...), done: make(chan error, 1)}
		p.cmd.Env = append(os.Environ(), "NASHMD_TRAIN_AS_MAIN=1", "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
			"RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r), "WORLD_SIZE="+strconv.Itoa(world), "OMP_NUM_THREADS=1")
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(func() { p.cmd.Process.Kill() })
		ps = append(ps, p)
	}
	return ps
}

// TestDataParallelKillAndResume: two nashmd-train processes train the tiny
// example; rank 1 is killed mid-run; rank 0 exits non-zero within
// ddp_timeout naming rank 1; the last checkpoint is whole (it loads as a
// model, its state and both ranks' RNG states are there); two processes
// resume from it and finish; one process may not resume it.
func TestDataParallelKillAndResume(t *testing.T) {
	const timeout = 15 * time.Second
	out := t.TempDir()
	args := []string{writeToml(t, tinyToml), "--output-dir", out,
		"--set", "max_steps=10", "--set", "per_device_train_batch_size=2", "--set", "save_steps=2",
		"--set", "logging_steps=1", "--set", fmt.Sprintf("ddp_timeout=%d", int(timeout.Seconds()))}

	ps := startRanks(t, 2, args...)
	deadline := time.After(90 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "checkpoint-4")); err == nil {
			break
		}
		select {
		case err := <-ps[0].done:
			t.Fatalf("rank 0 ended before checkpoint-4: %v\n%s", err, ps[0].out.String())
		case err := <-ps[1].done:
			t.Fatalf("rank 1 ended before checkpoint-4: %v\n%s", err, ps[1].out.String())
		case <-deadline:
			t.Fatalf("no checkpoint-4 after 90 s\nrank 0:\n%s", ps[0].out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := ps[1].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-ps[1].done
	var err error
	select {
	case err = <-ps[0].done:
	case <-time.After(timeout + 10*time.Second):
		t.Fatalf("rank 0 still runs %s after rank 1 was killed\n%s", time.Since(killed), ps[0].out.String())
	}
	took := time.Since(killed)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("rank 0 exited with %v after rank 1 was killed, want a non-zero status\n%s", err, ps[0].out.String())
	}
	msg := ps[0].out.String()
	if !strings.Contains(msg, "rank 1 is lost") {
		t.Fatalf("rank 0's error does not name rank 1:\n%s", msg)
	}
	if took > timeout {
		t.Fatalf("rank 0 took %s to exit, more than ddp_timeout (%s)", took, timeout)
	}
	t.Logf("rank 0 exited %s after rank 1 was killed: %s", took.Round(time.Millisecond), lastLine(msg))

	// The last checkpoint is whole.
	ck, err := trainer.LatestCheckpoint(out)
	if err != nil || ck == "" {
		t.Fatalf("no checkpoint: %v", err)
	}
	m, err := torch.LoadLlama(ck, torch.Float32, torch.CPU)
	if err != nil {
		t.Fatalf("%s does not load: %v", ck, err)
	}
	m.Close()
	var st trainer.State
	b, err := os.ReadFile(filepath.Join(ck, "trainer_state.json"))
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || st.WorldSize != 2 || fmt.Sprintf("checkpoint-%d", st.GlobalStep) != filepath.Base(ck) {
		t.Fatalf("%s: trainer_state.json: %+v, %v", ck, st, err)
	}
	for _, f := range []string{"rng_state_0.bin", "rng_state_1.bin", "optimizer.safetensors"} {
		if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
			t.Fatal(err)
		}
	}

	// One process may not resume a two-process checkpoint.
	var log bytes.Buffer
	err = run(t.Context(), append(args, "--set", "resume_from_checkpoint=latest"), &log)
	if err == nil || !strings.Contains(err.Error(), "written by 2 process(es) and this run has 1") {
		t.Fatalf("resuming alone: %v", err)
	}

	// Two processes resume and finish.
	ps = startRanks(t, 2, append(args, "--set", "resume_from_checkpoint=latest")...)
	for r, p := range ps {
		if err := <-p.done; err != nil {
			t.Fatalf("resumed rank %d: %v\n%s", r, err, p.out.String())
		}
	}
	if want := fmt.Sprintf("resumed from %s at step %d", ck, st.GlobalStep); !strings.Contains(ps[0].out.String(), want) {
		t.Fatalf("rank 0's log lacks %q:\n%s", want, ps[0].out.String())
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-10")); err != nil {
		t.Fatalf("no final checkpoint after resuming: %v\n%s", err, ps[0].out.String())
	}
	if ps[1].out.Len() != 0 {
		t.Errorf("rank 1 printed:\n%s", ps[1].out.String())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDataParallelSignal: SIGTERM to one rank stops both after the same
// step; they save one checkpoint together and exit 0.
func TestDataParallelSignal(t *testing.T) {
	out := t.TempDir()
	ps := startRanks(t, 2, writeToml(t, tinyToml), "--output-dir", out, "--set", "max_steps=1000",
		"--set", "per_device_train_batch_size=2", "--set", "save_steps=0", "--set", "logging_steps=1")
	deadline := time.After(90 * time.Second)
	for {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 3 { // the config and 2 steps
			break
		}
		select {
		case err := <-ps[0].done:
			t.Fatalf("rank 0 ended: %v\n%s", err, ps[0].out.String())
		case <-deadline:
			t.Fatalf("no 2 steps after 90 s\n%s", ps[0].out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := ps[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for r, p := range ps {
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("rank %d: %v\n%s", r, err, p.out.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("rank %d still runs a minute after SIGTERM\n%s", r, p.out.String())
		}
	}
	ck, err := trainer.LatestCheckpoint(out)
	if err != nil || ck == "" {
		t.Fatalf("no checkpoint after SIGTERM: %v\n%s", err, ps[0].out.String())
	}
	if !strings.Contains(ps[0].out.String(), "saved "+ck) {
		t.Fatalf("rank 0 did not report saving %s:\n%s", ck, ps[0].out.String())
	}
	t.Logf("stopped and saved %s", filepath.Base(ck))
}
