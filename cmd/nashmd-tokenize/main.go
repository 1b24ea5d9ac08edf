// Command nashmd-tokenize tokenizes, detokenizes and chat-templates text with
// a Hugging Face tokenizer directory, one JSON value per line, for debugging
// tokenization and for tests.
//
//	nashmd-tokenize --tokenizer DIR            "text" per line  → [ids] per line
//	nashmd-tokenize --tokenizer DIR --decode   [ids] per line   → "text" per line
//	nashmd-tokenize --tokenizer DIR --chat     [{"role":…,"content":…}, …] per line
//	                                            → "rendered prompt" per line (--ids: its token ids)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nashmd-tokenize:", err)
		os.Exit(1)
	}
}

type options struct {
	dir                 string
	decode, chat, ids   bool
	addSpecial, skip    bool
	addGenerationPrompt bool
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("nashmd-tokenize", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.dir, "tokenizer", "", "directory with tokenizer.json (and tokenizer_config.json for --chat)")
	fs.BoolVar(&o.decode, "decode", false, "read JSON id arrays, print JSON strings")
	fs.BoolVar(&o.chat, "chat", false, "read JSON message lists, print the chat-templated prompt")
	fs.BoolVar(&o.ids, "ids", false, "with --chat: print the prompt's token ids instead of its text")
	fs.BoolVar(&o.addSpecial, "add-special-tokens", false, "let the post-processor add special tokens (BOS/EOS) when encoding")
	fs.BoolVar(&o.skip, "skip-special-tokens", false, "with --decode: drop special tokens")
	fs.BoolVar(&o.addGenerationPrompt, "add-generation-prompt", true, "with --chat: end with the assistant header")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dir == "" {
		return fmt.Errorf("--tokenizer DIR is required")
	}
	if o.decode && o.chat {
		return fmt.Errorf("--decode and --chat exclude each other")
	}
	tok, err := tokenizer.Load(o.dir)
	if err != nil {
		return err
	}
	var tmpl *chat.Template
	if o.chat {
		if tmpl, err = chat.Load(o.dir); err != nil {
			return err
		}
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		v, err := one(o, tok, tmpl, sc.Bytes())
		if err != nil {
			return fmt.Errorf("stdin:%d: %w", line, err)
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return sc.Err()
}

// one handles one input line.
func one(o options, tok *tokenizer.Tokenizer, tmpl *chat.Template, line []byte) (any, error) {
	switch {
	case o.decode:
		var ids []int
		if err := json.Unmarshal(line, &ids); err != nil {
			return nil, fmt.Errorf("want a JSON array of token ids: %w", err)
		}
		return tok.Decode(ids, o.skip), nil
	case o.chat:
		var msgs []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(line, &msgs); err != nil {
			return nil, fmt.Errorf("want a JSON list of {\"role\", \"content\"} messages: %w", err)
		}
		cm := make([]chat.Message, len(msgs))
		for i, m := range msgs {
			cm[i] = chat.Message{Role: m.Role, Content: m.Content}
		}
		text, err := tmpl.Render(cm, o.addGenerationPrompt)
		if err != nil {
			return nil, err
		}
		if o.ids {
			return nonNil(tok.Encode(text, o.addSpecial)), nil
		}
		return text, nil
	default:
		var s string
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("want a JSON string: %w", err)
		}
		return nonNil(tok.Encode(s, o.addSpecial)), nil
	}
}

// nonNil makes an empty encoding print as [] rather than null.
func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}
