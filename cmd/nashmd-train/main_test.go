package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/internal/tiny"
)

// tinyDir writes the tiny example once per test binary.
var tinyDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "nashmd-train-test-")
	if err == nil {
		err = tiny.Write(filepath.Join(d, "tiny"))
	}
	if err != nil {
		panic(err)
	}
	tinyDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

const tinyToml = `output_dir = "out"
max_new_tokens = 8
max_length = 96
learning_rate = 1e-4
num_train_epochs = 1
per_device_train_batch_size = 8
logging_steps = 4
save_steps = 4
seed = 1
[model]
path = "tiny/policy"
[judge]
kind = "reward_model"
path = "tiny/reward"
[dataset]
path = "tiny/prompts.jsonl"
`

func writeToml(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(tinyDir, strings.ReplaceAll(t.Name(), "/", "_")+".toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTinyRun: the tiny example runs start to finish, writes metrics with
// TRL's keys and a checkpoint that loads as a model.
func TestTinyRun(t *testing.T) {
	out := t.TempDir()
	var log bytes.Buffer
	if err := run(context.Background(), []string{writeToml(t, tinyToml), "--output-dir", out}, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[0]["config"] == nil {
		t.Fatalf("want the config and 2 metric lines, got %d lines", len(lines))
	}
	for _, k := range []string{"loss/kl", "loss/score", "objective/entropy", "rewards/probabilities", "rewards/chosen",
		"rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected",
		"val/model_contain_eos_token", "val/ref_contain_eos_token", "beta", "mixture_coef", "loss", "grad_norm",
		"learning_rate", "epoch", "prompts_per_s", "tokens_per_s", "share/sample"} {
		if _, ok := lines[2][k]; !ok {
			t.Errorf("metrics line lacks %q", k)
		}
	}
	if lines[2]["epoch"].(float64) != 1 {
		t.Errorf("final epoch %v, want 1", lines[2]["epoch"])
	}
	for _, name := range []string{"checkpoint-4", "checkpoint-8"} {
		for _, file := range []string{"config.json", "model.safetensors", "tokenizer.json", "trainer_state.json", "optimizer.safetensors", "nashmd_config.toml"} {
			if _, err := os.Stat(filepath.Join(out, name, file)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	t.Logf("log:\n%s", log.String())
}

// TestBadInputs: each gives a one-line error naming the place, exit status
// 2 (a usageError), and no output directory.
func TestBadInputs(t *testing.T) {
	cases := []struct {
		name, toml, want string
	}{
		{"syntax", strings.Replace(tinyToml, "max_new_tokens = 8", "max_new_tokens = ", 1), ":2:"},
		{"unknown key", strings.Replace(tinyToml, "seed = 1", "seeed = 1", 1), "seeed"},
		{"wrong type", strings.Replace(tinyToml, "seed = 1", `seed = "one"`, 1), "seed"},
		{"missing dataset", strings.Replace(tinyToml, "tiny/prompts.jsonl", "tiny/nope.jsonl", 1), "dataset.path"},
		{"empty dataset", strings.Replace(tinyToml, "tiny/prompts.jsonl", "empty.jsonl", 1), "empty.jsonl"},
		{"unknown judge", strings.Replace(tinyToml, `kind = "reward_model"`, `kind = "oracle"`, 1), "judge.kind"},
		{"max_new_tokens >= max_length", strings.Replace(tinyToml, "max_length = 96", "max_length = 8", 1), "max_new_tokens"},
	}
	if err := os.WriteFile(filepath.Join(tinyDir, "empty.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			err := run(context.Background(), []string{writeToml(t, c.toml), "--output-dir", out}, &bytes.Buffer{})
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Count(strings.TrimSpace(msg), "\n") > 0 {
				t.Fatalf("error %q: want one line containing %q", msg, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("output directory exists after a bad input")
			}
			t.Log(err)
		})
	}
}
