package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/hf/gguf"
	"github.com/nashmd/nashmd/internal/testassets"
)

// TestCapitalOfFrance: the converted SmolLM2-135M-Instruct answers a simple
// question sensibly with greedy decoding, through the whole command.
func TestCapitalOfFrance(t *testing.T) {
	src := testassets.Path(t, "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
	dir := filepath.Join(t.TempDir(), "smollm2")
	if err := gguf.Convert(src, dir, nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{dir, "--prompt", "What is the capital of France?", "--max-new-tokens", "24"}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Paris") {
		t.Fatalf("answer %q does not name Paris", out.String())
	}
	t.Logf("answer: %s", strings.TrimSpace(out.String()))
	// A conversation on stdin: two turns, then an empty line ends it.
	out.Reset()
	if err := run([]string{dir, "--max-new-tokens", "16"}, strings.NewReader("Hello!\nWhat is 2+2?\n\n"), &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "> "); n != 3 {
		t.Fatalf("want 3 prompts in the transcript, got %d: %q", n, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: nashmd-chat DIR"},
		{[]string{"/nonexistent", "--prompt", "hi"}, "/nonexistent"},
	} {
		err := run(c.args, strings.NewReader(""), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%v) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
