package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/internal/quiz"
	"github.com/nashmd/nashmd/internal/testassets"
	"github.com/nashmd/nashmd/internal/tiny"
	"github.com/nashmd/nashmd/torch"
)

// tinyDir writes the tiny example once per test binary.
var tinyDir string

func TestMain(m *testing.M) {
	// The data-parallel test runs this binary as nashmd-train itself.
	if os.Getenv("NASHMD_TRAIN_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
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
	// The peak RSS is this process's own: two models of 3.2 M parameters,
	// not the test binary's (a child inheriting ru_maxrss would show that).
	if mb, _ := lines[2]["memory/peak_rss_mb"].(float64); !(mb > 20 && mb < 2000) {
		t.Errorf("memory/peak_rss_mb %v, want the training process's own peak (20–2000 MiB)", lines[2]["memory/peak_rss_mb"])
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

// TestJudgeKinds: nashmd-train runs with every judge kind from a run.toml.
func TestJudgeKinds(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	base := strings.Replace(tinyToml, "num_train_epochs = 1", "max_steps = 2", 1)
	withJudge := func(judge string) string {
		i := strings.Index(base, "[judge]")
		j := strings.Index(base, "[dataset]")
		return base[:i] + judge + "\n" + base[j:]
	}

	// An OpenAI-compatible server that prefers the first response and
	// requires the API key.
	const key = "sk-test-3f9a1c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			http.Error(w, "bad key", http.StatusUnauthorized)
			return
		}
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"A"}}]}`)
	}))
	defer srv.Close()
	t.Setenv("NASHMD_TEST_JUDGE_KEY", key)

	// Real quiz prompts (bsdgames capitals) with their answers.
	quizDir := t.TempDir()
	items, err := quiz.Read(filepath.Join(quiz.Dir, "europe"))
	if err != nil {
		if os.Getenv("NASHMD_ASSETS") != "" {
			t.Fatal(err)
		}
		t.Skip("bsdgames not installed: ", err)
	}
	var prompts, answers bytes.Buffer
	for _, it := range items[:16] {
		conv := []map[string]string{{"role": "user", "content": "What is the capital of " + it.Fields[0][0] + "?"}}
		p, _ := json.Marshal(map[string]any{"prompt": conv})
		a, _ := json.Marshal(map[string]any{"prompt": conv, "answer": it.Fields[1]})
		prompts.Write(append(p, '\n'))
		answers.Write(append(a, '\n'))
	}
	os.WriteFile(filepath.Join(quizDir, "prompts.jsonl"), prompts.Bytes(), 0o644)
	os.WriteFile(filepath.Join(quizDir, "answers.jsonl"), answers.Bytes(), 0o644)

	cases := []struct{ name, judge, dataset string }{
		{"pairrm", `[judge]
kind = "pairrm"
path = "` + abs("../../judges/testdata/pairrm") + `"`, ""},
		{"http", `[judge]
kind = "http"
[judge.options]
base_url = "` + srv.URL + `"
model = "judge"
api_key_env = "NASHMD_TEST_JUDGE_KEY"
use_logprobs = false`, ""},
		{"quiz rules", `[judge]
kind = "weighted"
[judge.options]
members = [
  {kind = "exact_answer", weight = 1.0, options = {answers = "` + filepath.Join(quizDir, "answers.jsonl") + `", contains = true}},
  {kind = "length", weight = 0.1, options = {prefer = "shorter"}},
]`, filepath.Join(quizDir, "prompts.jsonl")},
		{"regex", `[judge]
kind = "regex"
[judge.options]
pattern = "(?i)paris"`, ""},
		{"lexicon", `[judge]
kind = "lexicon"
path = "` + testassets.Path(t, "vader/vader_lexicon.txt") + `"`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := withJudge(c.judge)
			if c.dataset != "" {
				body = strings.Replace(body, `path = "tiny/prompts.jsonl"`, `path = "`+c.dataset+`"`, 1)
			}
			out := t.TempDir()
			var log bytes.Buffer
			if err := run(context.Background(), []string{writeToml(t, body), "--output-dir", out}, &log); err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			if _, err := os.Stat(filepath.Join(out, "checkpoint-2", "model.safetensors")); err != nil {
				t.Fatal(err)
			}
			// The API key appears in no file the run wrote.
			filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(key)) {
						t.Errorf("%s contains the API key", p)
					}
				}
				return nil
			})
			if strings.Contains(log.String(), key) {
				t.Error("the log contains the API key")
			}
		})
	}
}

// TestDeviceWithoutCUDA: device = "cuda" on a build or machine without CUDA
// fails before training with an error that says so.
func TestDeviceWithoutCUDA(t *testing.T) {
	if torch.CUDAAvailable() {
		t.Skip("this build sees a GPU: device = \"cuda\" is valid here")
	}
	out := filepath.Join(t.TempDir(), "run")
	toml := strings.Replace(tinyToml, "seed = 1", "seed = 1\ndevice = \"cuda\"", 1)
	err := run(context.Background(), []string{writeToml(t, toml), "--output-dir", out}, &bytes.Buffer{})
	var ue usageError
	if !errors.As(err, &ue) || !errors.Is(ue.error, torch.ErrNoCUDA) || !strings.HasPrefix(err.Error(), "device: ") {
		t.Fatalf("err = %v, want a usage error \"device: ...\" wrapping torch.ErrNoCUDA", err)
	}
	t.Log(err)
}
