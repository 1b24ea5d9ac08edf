package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The expected values come from the tokenizers library and transformers
// (hf/tokenizer/testdata and hf/chat/testdata, written by their generators).

func runLines(t *testing.T, args []string, lines []string) []string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, strings.NewReader(strings.Join(lines, "\n")+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func TestEncodeDecodeAgainstTokenizers(t *testing.T) {
	f, err := os.Open("../../hf/tokenizer/testdata/golden_smollm2.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Text        string `json:"text"`
			IDs         []int  `json:"ids"`
			IDsSpecial  []int  `json:"ids_special"`
			DecodedSkip string `json:"decoded_skip"`
		}
	}
	if err := json.NewDecoder(zr).Decode(&g); err != nil {
		t.Fatal(err)
	}
	cases := g.Cases[:200]
	var in, ids []string
	for _, c := range cases {
		b, _ := json.Marshal(c.Text)
		in = append(in, string(b))
		b, _ = json.Marshal(c.IDs)
		ids = append(ids, string(b))
	}
	dir := "../../hf/tokenizer/testdata/smollm2"
	got := runLines(t, []string{"--tokenizer", dir}, in)
	for i, c := range cases {
		want, _ := json.Marshal(c.IDs)
		if got[i] != string(want) {
			t.Fatalf("line %d %q: got %s, want %s", i+1, c.Text, got[i], want)
		}
	}
	got = runLines(t, []string{"--tokenizer", dir, "--add-special-tokens"}, in[:20])
	for i, c := range cases[:20] {
		if want, _ := json.Marshal(c.IDsSpecial); got[i] != string(want) {
			t.Fatalf("special line %d: got %s, want %s", i+1, got[i], want)
		}
	}
	got = runLines(t, []string{"--tokenizer", dir, "--decode", "--skip-special-tokens"}, ids)
	for i, c := range cases {
		var s string
		if err := json.Unmarshal([]byte(got[i]), &s); err != nil || s != c.DecodedSkip {
			t.Fatalf("decode line %d: got %s, want %q", i+1, got[i], c.DecodedSkip)
		}
	}
}

func TestChatAgainstTransformers(t *testing.T) {
	b, err := os.ReadFile("../../hf/chat/testdata/qwen2.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Messages []struct {
				Role    string          `json:"role"`
				Content string          `json:"content"`
				Extra   json.RawMessage `json:"extra"`
			} `json:"messages"`
			AGP      bool            `json:"add_generation_prompt"`
			Tools    json.RawMessage `json:"tools"`
			Expected string          `json:"expected"`
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	// A tokenizer directory: Qwen2's template beside the SmolLM2 tokenizer.json
	// (any tokenizer will do for --chat without --ids).
	dir := t.TempDir()
	for src, dst := range map[string]string{
		"../../hf/chat/testdata/qwen2/tokenizer_config.json": "tokenizer_config.json",
		"../../hf/tokenizer/testdata/smollm2/tokenizer.json": "tokenizer.json",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, c := range g.Cases {
		if !c.AGP || string(c.Tools) != "null" || string(c.Messages[0].Extra) != "[]" {
			continue
		}
		msgs, _ := json.Marshal(c.Messages)
		got := runLines(t, []string{"--tokenizer", dir, "--chat"}, []string{string(msgs)})
		var s string
		if err := json.Unmarshal([]byte(got[0]), &s); err != nil || s != c.Expected {
			t.Fatalf("chat %s:\n got %q\nwant %q", msgs, s, c.Expected)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d chat cases checked", n)
	}
}

func TestBadInput(t *testing.T) {
	dir := "../../hf/tokenizer/testdata/smollm2"
	for _, c := range []struct {
		args []string
		in   string
		want string
	}{
		{[]string{}, "", "--tokenizer DIR is required"},
		{[]string{"--tokenizer", dir}, "\"ok\"\nnot json\n", "stdin:2: want a JSON string"},
		{[]string{"--tokenizer", dir, "--decode"}, "[1, \"x\"]\n", "stdin:1: want a JSON array of token ids"},
		{[]string{"--tokenizer", dir, "--decode", "--chat"}, "", "exclude each other"},
		{[]string{"--tokenizer", "/nonexistent"}, "", "nonexistent"},
	} {
		err := run(c.args, strings.NewReader(c.in), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%v) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
