package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/internal/tiny"
	"github.com/nashmd/nashmd/torch"
	"github.com/nashmd/nashmd/trainer"
)

// tinyDir holds the tiny example (policy, reward, prompts.jsonl) and "ref",
// a noisy copy of the policy, so that the two models differ.
var tinyDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "nashmd-eval-test-")
	if err == nil {
		err = tiny.Write(filepath.Join(d, "tiny"))
	}
	if err == nil {
		err = perturb(filepath.Join(d, "tiny", "policy"), filepath.Join(d, "tiny", "ref"))
	}
	if err != nil {
		panic(err)
	}
	tinyDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// perturb writes to dst the model at src with noise (σ = 0.02, the scale
// of the weights themselves) added to every matrix.
func perturb(src, dst string) error {
	m, err := torch.LoadLlama(src, torch.Float32, torch.CPU)
	if err != nil {
		return err
	}
	defer m.Close()
	g, err := torch.NewGenerator(99, torch.CPU)
	if err != nil {
		return err
	}
	defer g.Close()
	s := torch.NewScope()
	defer s.Close()
	for _, p := range m.Params() {
		if sh := p.Tensor.Shape(); len(sh) == 2 {
			s.Copy(p.Tensor, s.Add(p.Tensor, s.MulScalar(s.Randn(g, sh, torch.Float32, torch.CPU), 0.02)))
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	return m.Save(dst, torch.SaveOptions{CopyFrom: src})
}

const evalToml = `model = "tiny/policy"
reference = "tiny/ref"
max_new_tokens = 8
max_length = 96
temperature = 1.0
batch_size = 16
max_prompts = 40
answers = "answers.jsonl"
output = "out/pairs.jsonl"
report = "out/report.json"
[judge]
kind = "reward_model"
path = "tiny/reward"
[dataset]
path = "tiny/prompts.jsonl"
`

// writeFile writes body to name inside tinyDir, named after the test when
// name is empty, and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	if name == "" {
		name = strings.ReplaceAll(t.Name(), "/", "_") + ".toml"
	}
	p := filepath.Join(tinyDir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// answersFor writes reference answers for the first n prompts of the tiny
// dataset: the subject words of the prompt ("sea", "small town", …).
func answersFor(t *testing.T, n int) {
	t.Helper()
	f, err := os.Open(filepath.Join(tinyDir, "tiny", "prompts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		var row struct {
			Prompt json.RawMessage `json:"prompt"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, `{"prompt": %s, "answer": ["moon", "the sea"]}`+"\n", row.Prompt)
	}
	writeFile(t, "answers.jsonl", out.String())
}

// TestTinyEval: the tiny example under its reward model, sampling (greedy
// decoding of these random models gives newlines only), runs, prints the
// table, and writes pairs.jsonl and report.json that agree with each other.
func TestTinyEval(t *testing.T) {
	answersFor(t, 10)
	var stdout, log bytes.Buffer
	if err := run(context.Background(), []string{writeFile(t, "", evalToml)}, &stdout, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("stdout:\n%s\nlog:\n%s", stdout.String(), log.String())
	for _, want := range []string{"| | value | 95% CI |", "| accuracy, reference |", "| accuracy, policy |", "| win rate, policy vs reference", "| ties |", "| n | 40 |"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if !strings.Contains(log.String(), "eval: 40/40 prompts") {
		t.Errorf("no final progress line in the log")
	}

	// Recount the pairs file by hand.
	f, err := os.Open(filepath.Join(tinyDir, "out", "pairs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n, wins, losses, ties, withAns, differ int
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p struct {
			Prompt, Policy, Reference string
			P                         float64
			PolicyScore               *float64 `json:"policy_score"`
			ReferenceScore            *float64 `json:"reference_score"`
			PolicyCorrect             *bool    `json:"policy_correct"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		n++
		switch {
		case p.P > 0.5:
			wins++
		case p.P < 0.5:
			losses++
		default:
			ties++
		}
		if p.PolicyCorrect != nil {
			withAns++
		}
		if p.Policy != p.Reference {
			differ++
		}
		if !strings.Contains(p.Prompt, "<|im_start|>user") || strings.Contains(p.Policy, "<|im_end|>") {
			t.Errorf("line %d: prompt not chat-rendered or EOS text kept in the completion: %q / %q", n, p.Prompt, p.Policy)
		}
		// The reward judge: P = σ(r_policy − r_reference).
		if p.PolicyScore == nil || math.Abs(p.P-1/(1+math.Exp(*p.ReferenceScore-*p.PolicyScore))) > 1e-12 {
			t.Errorf("line %d: p %v is not σ of the score difference (%v, %v)", n, p.P, p.PolicyScore, p.ReferenceScore)
		}
	}
	if n != 40 || withAns != 10 || differ < 10 || wins == 0 || losses == 0 {
		t.Fatalf("pairs.jsonl: %d lines, %d with answers, %d differing pairs; want 40, 10, ≥ 10 (and wins and losses)", n, withAns, differ)
	}

	b, err := os.ReadFile(filepath.Join(tinyDir, "out", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	r := rep.EvalReport
	if r.N != n || r.Wins != wins || r.Losses != losses || r.Ties != ties || rep.Judge != "reward_model" || r.Swapped {
		t.Errorf("report n/wins/losses/ties %d/%d/%d/%d judge %q swapped %v; pairs file %d/%d/%d/%d, want reward_model, not swapped",
			r.N, r.Wins, r.Losses, r.Ties, rep.Judge, r.Swapped, n, wins, losses, ties)
	}
	lo, hi := trainer.ClopperPearson(wins, wins+losses, 0.05)
	if r.WinRateCI.Lo != lo || r.WinRateCI.Hi != hi || r.Accuracy == nil || r.Accuracy.N != 10 || r.RefAccuracy.N != 10 {
		t.Errorf("report interval %v accuracy %+v, want [%v, %v] and 10 prompts with answers", r.WinRateCI, r.Accuracy, lo, hi)
	}
}

// TestSelfEval: a model against itself, greedy, under a rule judge with
// swap: every pair is a tie, so the win rate is 0.5 on [0, 1]; with --set
// paths relative to the working directory and no report.
func TestSelfEval(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.jsonl")
	body := strings.Replace(evalToml, `"tiny/ref"`, `"tiny/policy"`, 1)
	body = strings.Replace(body, "answers = \"answers.jsonl\"\n", "", 1)
	body = strings.Replace(body, "report = \"out/report.json\"\n", "", 1)
	var stdout bytes.Buffer
	err := run(context.Background(), []string{writeFile(t, "", body), "--set", "judge.kind=rule", "--set", "judge.path=",
		"--set", `judge.options.prefer="shorter"`, "--set", "max_prompts=5", "--set", "output=" + out}, &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| win rate, policy vs reference (ties left out) | 0.500 (0 wins, 0 losses) | [0.000, 1.000] |", "| ties | 5 |", "| n | 5 |"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "accuracy") {
		t.Errorf("accuracy rows without answers")
	}
	b, err := os.ReadFile(out)
	if err != nil || bytes.Count(b, []byte("\n")) != 5 {
		t.Errorf("pairs file: %v, %d lines", err, bytes.Count(b, []byte("\n")))
	}
}

// TestBadInputs: each gives a one-line error naming the place, exit
// status 2 (a usageError), and writes nothing.
func TestBadInputs(t *testing.T) {
	answersFor(t, 3)
	cases := []struct {
		name, toml string
		sets       []string
		want       string
	}{
		{"syntax", strings.Replace(evalToml, "max_new_tokens = 8", "max_new_tokens = ", 1), nil, ".toml:3:"},
		{"unknown key", strings.Replace(evalToml, "batch_size = 16", "batchsize = 16", 1), nil, ".toml:6:1: batchsize: unknown key"},
		{"wrong type", strings.Replace(evalToml, "batch_size = 16", `batch_size = "16"`, 1), nil, "batch_size: wrong type: want integer, got string"},
		{"missing model", strings.Replace(evalToml, `"tiny/policy"`, `"tiny/nope"`, 1), nil, "model: stat"},
		{"missing reference", strings.Replace(evalToml, "reference = \"tiny/ref\"\n", "", 1), nil, "reference: required"},
		{"unknown judge", strings.Replace(evalToml, `kind = "reward_model"`, `kind = "oracle"`, 1), nil, "judge.kind"},
		{"bad judge option", evalToml, []string{"judge.kind=rule", "judge.path=", "judge.options.prefer=longest"}, "judge (kind \"rule\")"},
		{"bad set", evalToml, []string{"max_new_tokens"}, "--set max_new_tokens: want KEY=VALUE"},
		{"set unknown key", evalToml, []string{"temp=1"}, "--set temp=1: temp: unknown key"},
		{"negative temperature", evalToml, []string{"temperature=-1"}, "temperature: value -1"},
		{"missing dataset", strings.Replace(evalToml, "tiny/prompts.jsonl", "tiny/nope.jsonl", 1), nil, "dataset.path"},
		{"max_new_tokens >= max_length", strings.Replace(evalToml, "max_length = 96", "max_length = 8", 1), nil, "max_new_tokens: value 8 must be < max_length (8)"},
		{"answers keyed wrongly", evalToml, []string{"dataset.path=" + writeFile(t, "plain.jsonl", `{"prompt": "hello"}`+"\n")}, "answers: none of the 1 prompts of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(tinyDir, "out"))
			args := []string{writeFile(t, "", c.toml)}
			for _, s := range c.sets {
				args = append(args, "--set", s)
			}
			err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(strings.TrimSpace(msg), "\n") {
				t.Fatalf("error %q: want one line containing %q", msg, c.want)
			}
			if _, err := os.Stat(filepath.Join(tinyDir, "out")); !os.IsNotExist(err) {
				t.Errorf("output written after a bad input")
			}
		})
	}
}
