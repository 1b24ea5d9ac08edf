package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nashmd/nashmd/internal/testassets"
)

// The golden files are written by testdata/gen_golden.py with transformers'
// apply_chat_template; see the header of that script.

type goldenFile struct {
	Template struct {
		Asset  string `json:"asset"`
		File   string `json:"file"`
		Source string `json:"source"`
	} `json:"template"`
	SpecialTokensMap map[string]json.RawMessage `json:"special_tokens_map"`
	Now              []int                      `json:"now"`
	Cases            []goldenCase               `json:"cases"`
}

type goldenCase struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
		Extra   []struct {
			Key   string          `json:"key"`
			Value *string         `json:"value"`
			JSON  json.RawMessage `json:"json"`
		} `json:"extra"`
	} `json:"messages"`
	AddGenerationPrompt bool                       `json:"add_generation_prompt"`
	Tools               []json.RawMessage          `json:"tools"`
	Documents           []json.RawMessage          `json:"documents"`
	Vars                map[string]json.RawMessage `json:"vars"`
	Expected            *string                    `json:"expected"`
	Error               *string                    `json:"error"`
}

func readGolden(t testing.TB, name string) *goldenFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return &g
}

// specials splits transformers' special_tokens_map into the string
// variables and additional_special_tokens.
func (g *goldenFile) specials(t testing.TB) (map[string]string, []string) {
	t.Helper()
	m := map[string]string{}
	var extra []string
	for k, raw := range g.SpecialTokensMap {
		if k == "additional_special_tokens" {
			if err := json.Unmarshal(raw, &extra); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("special_tokens_map[%q]: %v", k, err)
		}
		m[k] = s
	}
	return m, extra
}

func (c *goldenCase) input() ([]Message, Options) {
	msgs := make([]Message, len(c.Messages))
	for i, m := range c.Messages {
		msgs[i] = Message{Role: m.Role, Content: m.Content}
		for _, e := range m.Extra {
			f := Field{Key: e.Key}
			if e.Value != nil {
				f.Value = *e.Value
			} else {
				f.JSON = e.JSON
			}
			msgs[i].Extra = append(msgs[i].Extra, f)
		}
	}
	opts := Options{AddGenerationPrompt: c.AddGenerationPrompt, Tools: c.Tools, Documents: c.Documents}
	if len(c.Vars) > 0 {
		opts.Vars = map[string]any{}
		for k, v := range c.Vars {
			opts.Vars[k] = v
		}
	}
	return msgs, opts
}

// check renders c with tmpl and compares with the golden result.
func (c *goldenCase) check(t *testing.T, tmpl *Template) {
	t.Helper()
	msgs, opts := c.input()
	got, err := tmpl.RenderWith(msgs, opts)
	switch {
	case c.Error != nil:
		var re *RaiseError
		if !errors.As(err, &re) {
			t.Fatalf("want raise_exception(%q), got output %q, err %v", *c.Error, got, err)
		}
		if re.Message != *c.Error {
			t.Fatalf("raise_exception message %q, want %q", re.Message, *c.Error)
		}
	case err != nil:
		t.Fatalf("render: %v", err)
	default:
		if d := diff(got, *c.Expected); d != "" {
			t.Fatal(d)
		}
	}
}

// diff describes the first difference between got and want, or returns "".
func diff(got, want string) string {
	if got == want {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	ctx := func(s string) string {
		lo, hi := max(0, i-40), min(len(s), i+40)
		return fmt.Sprintf("%q|%q", s[lo:i], s[i:hi])
	}
	return fmt.Sprintf("output differs at byte %d (len got %d, want %d); context before|after:\n got: %s\nwant: %s",
		i, len(got), len(want), ctx(got), ctx(want))
}

// TestGoldenTemplates renders every conversation of the real templates
// (sources as transformers saw them) and compares byte for byte.
func TestGoldenTemplates(t *testing.T) {
	for _, file := range []string{"qwen3.json", "qwen2.json", "smollm2.json"} {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			g := readGolden(t, file)
			specials, additional := g.specials(t)
			tmpl, err := New(g.Template.Source, specials)
			if err != nil {
				t.Fatal(err)
			}
			tmpl.additional = additional
			for _, c := range g.Cases {
				t.Run(c.Name, func(t *testing.T) { c.check(t, tmpl) })
			}
		})
	}
}

// TestGoldenFeatures covers whitespace control, escapes, Python printing,
// tojson, strftime_now, loop controls and raise_exception one template at a time.
func TestGoldenFeatures(t *testing.T) {
	g := readGolden(t, "features.json")
	specials, _ := g.specials(t)
	if len(g.Now) != 7 {
		t.Fatalf("now = %v", g.Now)
	}
	n := g.Now
	now := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], n[6]*1000, time.Local)
	compiled := map[string]*Template{}
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			tmpl := compiled[c.Source]
			if tmpl == nil {
				var err error
				if tmpl, err = New(c.Source, specials); err != nil {
					t.Fatal(err)
				}
				tmpl.now = func() time.Time { return now }
				compiled[c.Source] = tmpl
			}
			c.check(t, tmpl)
		})
	}
}

// TestLoad checks that Load reads the template and the special tokens
// transformers reads from the same tokenizer_config.json, and that the
// loaded template renders every golden case.
func TestLoad(t *testing.T) {
	for _, tc := range []struct{ golden, path string }{
		{"qwen2.json", filepath.Join("testdata", "qwen2", "tokenizer_config.json")},
		{"qwen3.json", ""},
	} {
		t.Run(strings.TrimSuffix(tc.golden, ".json"), func(t *testing.T) {
			g := readGolden(t, tc.golden)
			path := tc.path
			if path == "" {
				path = filepath.Dir(testassets.Path(t, g.Template.Asset)) // a directory, as from_pretrained takes
			}
			tmpl, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if tmpl.Source() != g.Template.Source {
				t.Fatalf("Load read a different template than transformers:\n%s", diff(tmpl.Source(), g.Template.Source))
			}
			specials, additional := g.specials(t)
			if got := tmpl.Specials(); fmt.Sprint(got) != fmt.Sprint(specials) {
				t.Errorf("special tokens %v, transformers passed %v", got, specials)
			}
			if got := tmpl.AdditionalSpecialTokens(); fmt.Sprint(got) != fmt.Sprint(additional) {
				t.Errorf("additional_special_tokens %q, transformers passed %q", got, additional)
			}
			for _, c := range g.Cases {
				t.Run(c.Name, func(t *testing.T) { c.check(t, tmpl) })
			}
		})
	}
}

func writeConfig(t *testing.T, cfg map[string]any) string {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokenizer_config.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadMissingTemplate(t *testing.T) {
	for name, cfg := range map[string]map[string]any{
		"absent": {"eos_token": "</s>"},
		"null":   {"eos_token": "</s>", "chat_template": nil},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, cfg)
			_, err := Load(path)
			if !errors.Is(err, ErrNoTemplate) {
				t.Fatalf("err = %v, want ErrNoTemplate", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestLoadNamedTemplatesAndAddedTokens(t *testing.T) {
	path := writeConfig(t, map[string]any{
		"chat_template": []map[string]string{
			{"name": "tool_use", "template": "TOOLS{{ tools | length }}"},
			{"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"},
		},
		"bos_token":                 map[string]any{"__type": "AddedToken", "content": "<s>", "lstrip": false},
		"eos_token":                 "</s>",
		"pad_token":                 nil,
		"unk_token":                 "",
		"additional_special_tokens": []any{"<a>", map[string]any{"content": "<b>"}},
	})
	tmpl, err := Load(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tmpl.Specials()); got != "map[bos_token:<s> eos_token:</s>]" {
		t.Errorf("specials %s", got)
	}
	if got := fmt.Sprint(tmpl.AdditionalSpecialTokens()); got != "[<a> <b>]" {
		t.Errorf("additional_special_tokens %s", got)
	}
	msgs := []Message{{Role: "user", Content: "hi"}}
	if got, err := tmpl.Render(msgs, false); err != nil || got != "<s>hi</s>" {
		t.Errorf("default template: %q, %v", got, err)
	}
	got, err := tmpl.RenderWith(msgs, Options{Tools: []json.RawMessage{json.RawMessage(`{"name": "f"}`)}})
	if err != nil || got != "TOOLS1" {
		t.Errorf("tool_use template: %q, %v", got, err)
	}

	path = writeConfig(t, map[string]any{"chat_template": []map[string]string{{"name": "rag", "template": "x"}}})
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), `"rag"`) {
		t.Errorf("no default: err = %v", err)
	}
}

func TestRaiseException(t *testing.T) {
	tmpl, err := New("{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"+
		"{{ raise_exception('unsupported role: ' + m.role) }}{% endif %}{{ m.content }}{% endfor %}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Render([]Message{{Role: "user", Content: "a"}}, false); err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render([]Message{{Role: "user", Content: "a"}, {Role: "narrator", Content: "b"}}, false)
	var re *RaiseError
	if !errors.As(err, &re) || re.Message != "unsupported role: narrator" {
		t.Fatalf("got %q, %v; want RaiseError(unsupported role: narrator)", out, err)
	}
	if !strings.Contains(err.Error(), "unsupported role: narrator") {
		t.Errorf("error text %q lacks the template's message", err)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"unclosed if", "a\n{% if x %}\nb\n", 2, `"if" block opened on line 2 is never closed`},
		{"unclosed multi-line for", "a\n{%- for m\n in messages -%}\nb", 2, `"for" block opened on line 2`},
		{"stray endfor", "{% if x %}\n\n{% endfor %}{% endif %}", 3, "unexpected 'endfor'"},
		{"else outside", "x\n{% else %}", 2, "unexpected 'else'"},
		{"unclosed variable", "line1\n{{ x ", 2, "not closed"},
		{"unclosed comment", "\n\n{# c", 3, "comment"},
		{"bad char", "{{ a }}\n{{ a ? b }}", 2, "unexpected char '?'"},
		{"bracket", "\n{{ (a] }}", 2, "unexpected ']', expected ')'"},
		{"empty expression", "\n\n{{ }}", 3, "expected an expression"},
		{"escape", "{{ '\\x4' }}", 1, "truncated"},
		// the library's own parser, after whitespace control and comments
		// removed lines: the line must still be the source's.
		{"library error keeps lines", "a\n  {%- if x -%}\n\n{# one\ntwo #}\n  {% include 'x' %}\n{% endif %}", 6, "include"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.src, nil)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			if se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("got line %d %q, want line %d containing %q", se.Line, se.Msg, tc.line, tc.msg)
			}
		})
	}
	path := writeConfig(t, map[string]any{"chat_template": "{% if %}"})
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load syntax error %v does not name %s", err, path)
	}
}

func TestRenderInputErrors(t *testing.T) {
	tmpl, err := New("{{ messages | length }}", nil)
	if err != nil {
		t.Fatal(err)
	}
	one := []Message{{Role: "user", Content: "x"}}
	for name, f := range map[string]func() (string, error){
		"no messages": func() (string, error) { return tmpl.Render(nil, false) },
		"bad tool": func() (string, error) {
			return tmpl.RenderWith(one, Options{Tools: []json.RawMessage{json.RawMessage(`{`)}})
		},
		"reserved var": func() (string, error) { return tmpl.RenderWith(one, Options{Vars: map[string]any{"messages": 1}}) },
		"bad var type": func() (string, error) { return tmpl.RenderWith(one, Options{Vars: map[string]any{"x": struct{}{}}}) },
		"duplicate key": func() (string, error) {
			return tmpl.Render([]Message{{Role: "user", Extra: []Field{{Key: "content", Value: "y"}}}}, false)
		},
		"bad extra json": func() (string, error) {
			return tmpl.Render([]Message{{Role: "user", Extra: []Field{{Key: "k", JSON: json.RawMessage(`[1,`)}}}}, false)
		},
	} {
		if out, err := f(); err == nil {
			t.Errorf("%s: got %q, want an error", name, out)
		}
	}
}

// TestConcurrentRender renders golden cases from many goroutines on one
// Template; run with -race.
func TestConcurrentRender(t *testing.T) {
	g := readGolden(t, "qwen3.json")
	specials, _ := g.specials(t)
	tmpl, err := New(g.Template.Source, specials)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range 3 * len(g.Cases) {
				c := g.Cases[(i+w*7)%len(g.Cases)]
				msgs, opts := c.input()
				got, err := tmpl.RenderWith(msgs, opts)
				if err != nil || got != *c.Expected {
					errs <- fmt.Sprintf("%s: %v %s", c.Name, err, diff(got, *c.Expected))
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
