// Command nashmd-chat talks to a Hugging Face checkpoint directory, like
// `transformers chat`: one answer with --prompt, else a conversation read
// from stdin line by line (an empty line or EOF ends it).
//
//	nashmd-chat DIR --prompt "What is the capital of France?"
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nashmd/nashmd/hf/chat"
	"github.com/nashmd/nashmd/hf/tokenizer"
	"github.com/nashmd/nashmd/torch"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nashmd-chat:", err)
		os.Exit(1)
	}
}

type options struct {
	prompt, system string
	maxNew         int
	temperature    float64
	topP           float64
	seed           uint64
	bf16           bool
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("nashmd-chat", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.prompt, "prompt", "", "one user message; print the answer and exit")
	fs.StringVar(&o.system, "system", "", "a system message to start the conversation")
	fs.IntVar(&o.maxNew, "max-new-tokens", 256, "tokens to generate per answer at most")
	fs.Float64Var(&o.temperature, "temperature", 0, "sampling temperature (0: greedy)")
	fs.Float64Var(&o.topP, "top-p", 1, "nucleus sampling mass (1: off)")
	fs.Uint64Var(&o.seed, "seed", 42, "sampling seed")
	fs.BoolVar(&o.bf16, "bf16", false, "run the model in bfloat16")
	// Accept DIR before or after the flags.
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if dir == "" && fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	if dir == "" {
		return errors.New("usage: nashmd-chat DIR [--prompt TEXT] [flags]")
	}
	c, err := load(dir, o)
	if err != nil {
		return err
	}
	defer c.Close()
	var msgs []chat.Message
	if o.system != "" {
		msgs = append(msgs, chat.Message{Role: "system", Content: o.system})
	}
	if o.prompt != "" {
		answer, err := c.reply(append(msgs, chat.Message{Role: "user", Content: o.prompt}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, answer)
		return err
	}
	sc := bufio.NewScanner(in)
	for {
		fmt.Fprint(out, "> ")
		if !sc.Scan() || strings.TrimSpace(sc.Text()) == "" {
			return sc.Err()
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: sc.Text()})
		answer, err := c.reply(msgs)
		if err != nil {
			return err
		}
		msgs = append(msgs, chat.Message{Role: "assistant", Content: answer})
		fmt.Fprintln(out, answer)
	}
}

type chatter struct {
	model *torch.Model
	tok   *tokenizer.Tokenizer
	tmpl  *chat.Template
	gen   *torch.Generator
	cfg   torch.GenConfig
}

func load(dir string, o options) (*chatter, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	tmpl, err := chat.Load(dir)
	if err != nil {
		return nil, err
	}
	dt := torch.Float32
	if o.bf16 {
		dt = torch.BFloat16
	}
	m, err := torch.LoadLlama(dir, dt, torch.CPU)
	if err != nil {
		return nil, err
	}
	g, err := torch.NewGenerator(o.seed, torch.CPU)
	if err != nil {
		m.Close()
		return nil, err
	}
	eos := slices.Clone(m.Config.EOSTokenIDs)
	eos = append(eos, generationEOS(dir)...)
	slices.Sort(eos)
	eos = slices.Compact(eos)
	var pad int64
	if m.Config.PadTokenID != nil {
		pad = *m.Config.PadTokenID
	} else if len(eos) > 0 {
		pad = eos[0]
	}
	cfg := torch.GenConfig{MaxNewTokens: o.maxNew, Temperature: o.temperature, TopP: o.topP,
		Greedy: o.temperature <= 0, EOS: eos, PadID: pad}
	return &chatter{model: m, tok: tok, tmpl: tmpl, gen: g, cfg: cfg}, nil
}

// generationEOS reads eos_token_id (int or list) from generation_config.json.
func generationEOS(dir string) []int64 {
	b, err := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if err != nil {
		return nil
	}
	var gc struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if json.Unmarshal(b, &gc) != nil {
		return nil
	}
	var one int64
	if json.Unmarshal(gc.EOS, &one) == nil {
		return []int64{one}
	}
	var list []int64
	json.Unmarshal(gc.EOS, &list)
	return list
}

func (c *chatter) reply(msgs []chat.Message) (string, error) {
	text, err := c.tmpl.Render(msgs, true)
	if err != nil {
		return "", err
	}
	ids := c.tok.Encode(text, false) // the template carries the special tokens
	p := make([]int64, len(ids))
	for i, id := range ids {
		p[i] = int64(id)
	}
	s := torch.NewScope()
	defer s.Close()
	tok, mask := s.Generate(c.model, s.FromInt64(p, 1, int64(len(p))), nil, c.cfg, c.gen)
	out, err := tok.Int64s()
	if err != nil {
		return "", errors.Join(s.Err(), err)
	}
	live, err := mask.Int64s()
	if err != nil {
		return "", err
	}
	var answer []int
	for i, id := range out {
		if live[i] == 0 || slices.Contains(c.cfg.EOS, id) {
			break
		}
		answer = append(answer, int(id))
	}
	return strings.TrimSpace(c.tok.Decode(answer, true)), nil
}

func (c *chatter) Close() {
	c.gen.Close()
	c.model.Close()
}
