// Package chat renders Hugging Face chat templates (the Jinja "chat_template"
// of tokenizer_config.json) byte for byte as transformers'
// apply_chat_template(messages, tokenize=False) does.
//
// transformers renders with Jinja2 in an environment with trim_blocks and
// lstrip_blocks on, the loopcontrols extension, the globals
// raise_exception(msg) and strftime_now(format), a tojson filter that is
// Python's json.dumps(ensure_ascii=False), and the variables messages,
// add_generation_prompt, tools, documents and every special token of the
// tokenizer. This package reproduces that environment on top of
// github.com/ardanlabs/jinja: a front end that follows Jinja2's lexer
// (whitespace control, string escapes, the trailing newline) rewrites the
// template before compiling it, and Python's str(), json.dumps and strftime
// are supplied from Go.
//
// Known differences from Jinja2, outside what the tested templates do (they
// come from the expression evaluator of ardanlabs/jinja): undefined values
// are lenient everywhere, where Jinja2 raises on an attribute of an
// undefined value; "~" and "+" turn None into "" and numbers into Go text
// (Jinja2's "~" uses str(), its "+" raises on str + int); int ** int is a
// float, and // and % truncate toward zero for negative operands;
// lstrip() and rstrip() without arguments strip only space, tab, CR and LF;
// {% block %}, {% include %}, {% import %}, {% with %} and tuple
// assignment are not supported.
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/ardanlabs/jinja"
)

// ErrNoTemplate is returned (wrapped) by Load when the tokenizer
// configuration has no chat_template.
var ErrNoTemplate = errors.New("no chat_template")

// SyntaxError reports a template that does not compile.
type SyntaxError struct {
	Name string // where the template came from, e.g. the tokenizer_config.json path
	Line int    // 1-based line in the template source; 0 if unknown
	Msg  string
}

func (e *SyntaxError) Error() string {
	name := e.Name
	if name == "" {
		name = "chat template"
	}
	if e.Line > 0 {
		return fmt.Sprintf("chat: %s: line %d: %s", name, e.Line, e.Msg)
	}
	return fmt.Sprintf("chat: %s: %s", name, e.Msg)
}

// RaiseError is the error Render returns when the template calls
// raise_exception(message), as transformers raises jinja2's TemplateError.
type RaiseError struct {
	Message string
}

func (e *RaiseError) Error() string { return "chat template raised an exception: " + e.Message }

// Message is one turn of a conversation. It reaches the template as a dict
// whose keys are, in order, "role", "content" and the Extra keys.
type Message struct {
	Role    string
	Content string
	Extra   []Field
}

// Field is an additional message key such as "name", "reasoning_content"
// or "tool_calls".
type Field struct {
	Key string
	// Value is the field's value as a string. It is ignored when JSON is set.
	Value string
	// JSON, if non-nil, is the field's value as a JSON document, decoded as
	// Python's json.loads would (objects keep their key order).
	JSON json.RawMessage
}

// Options are the arguments of RenderWith beyond the messages.
type Options struct {
	// AddGenerationPrompt is add_generation_prompt.
	AddGenerationPrompt bool
	// Tools are the tool JSON schemas; nil passes tools=None.
	Tools []json.RawMessage
	// Documents are the RAG documents (JSON objects); nil passes documents=None.
	Documents []json.RawMessage
	// Vars are further template variables, like apply_chat_template's
	// **kwargs (for example "enable_thinking": false). They override special
	// tokens of the same name. Values may be nil, bool, string, int, int64,
	// float64, json.RawMessage, []string, []any or map[string]any (whose keys
	// the template sees sorted).
	Vars map[string]any
}

// program is one compiled template.
type program struct {
	source   string
	compiled *jinja.Template
}

// Template is a compiled chat template with the special tokens it is
// rendered with. It is safe for concurrent use.
type Template struct {
	name       string
	main       *program
	toolUse    *program          // the "tool_use" template of a named set, used when tools are given
	specials   map[string]string // bos_token, eos_token, ... (non-empty only)
	additional []string          // additional_special_tokens; nil if none
	now        func() time.Time  // clock behind strftime_now
}

// specialAttrs are transformers' SPECIAL_TOKENS_ATTRIBUTES, in order.
var specialAttrs = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

// New compiles a chat template source. specials are template variables for
// the special tokens (e.g. "eos_token": "<|im_end|>"); as in transformers,
// empty values are not passed. The map is copied.
func New(source string, specials map[string]string) (*Template, error) {
	p, err := compile("", source)
	if err != nil {
		return nil, err
	}
	t := &Template{main: p, specials: map[string]string{}, now: time.Now}
	for k, v := range specials {
		if v != "" {
			t.specials[k] = v
		}
	}
	return t, nil
}

// Load reads the chat template and special tokens from a tokenizer
// configuration: path is a tokenizer_config.json file or a directory holding
// one. chat_template may be a string or a list of {"name", "template"}
// entries, of which "default" is used (and "tool_use", if present, when tools
// are given). Special tokens are read as strings or as AddedToken objects
// with a "content" field. Only this file is read: a tokenizer class's
// default tokens and special_tokens_map.json are not consulted.
func Load(path string) (*Template, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "tokenizer_config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("chat: %s: %w", path, err)
	}
	t := &Template{name: path, specials: map[string]string{}, now: time.Now}

	raw, ok := cfg["chat_template"]
	if !ok || string(raw) == "null" {
		return nil, fmt.Errorf("chat: %s: %w", path, ErrNoTemplate)
	}
	var single string
	var named []struct{ Name, Template string }
	switch {
	case json.Unmarshal(raw, &single) == nil:
		if t.main, err = compile(path, single); err != nil {
			return nil, err
		}
	case json.Unmarshal(raw, &named) == nil:
		var names []string
		for _, n := range named {
			names = append(names, n.Name)
			p, err := compile(path+" ("+n.Name+")", n.Template)
			if err != nil {
				return nil, err
			}
			switch n.Name {
			case "default":
				t.main = p
			case "tool_use":
				t.toolUse = p
			}
		}
		if t.main == nil {
			return nil, fmt.Errorf("chat: %s: chat_template has no \"default\" entry (names: %q)", path, names)
		}
	default:
		return nil, fmt.Errorf("chat: %s: chat_template is neither a string nor a list of {name, template}", path)
	}

	for _, attr := range specialAttrs {
		tok, err := tokenContent(cfg[attr])
		if err != nil {
			return nil, fmt.Errorf("chat: %s: %s: %w", path, attr, err)
		}
		if tok != "" {
			t.specials[attr] = tok
		}
	}
	if raw, ok := cfg["additional_special_tokens"]; ok && string(raw) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("chat: %s: additional_special_tokens: %w", path, err)
		}
		for _, r := range list {
			tok, err := tokenContent(r)
			if err != nil {
				return nil, fmt.Errorf("chat: %s: additional_special_tokens: %w", path, err)
			}
			t.additional = append(t.additional, tok)
		}
	}
	return t, nil
}

// tokenContent reads a special token written as a string, an AddedToken
// object ({"content": ...}) or null.
func tokenContent(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", fmt.Errorf("want a string or an object with \"content\", got %s", raw)
	}
	return *obj.Content, nil
}

// libLine finds the line number in an ardanlabs/jinja error message.
var libLine = regexp.MustCompile(`line (\d+)(?:, col \d+)?: ?`)

func compile(name, source string) (*program, error) {
	rewritten, err := translate(source)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Name = name
		}
		return nil, err
	}
	compiled, err := jinja.Compile(rewritten)
	if err != nil {
		se := &SyntaxError{Name: name, Msg: err.Error()}
		if m := libLine.FindStringSubmatchIndex(se.Msg); m != nil {
			se.Line, _ = strconv.Atoi(se.Msg[m[2]:m[3]])
			se.Msg = se.Msg[:m[0]] + se.Msg[m[1]:]
		}
		return nil, se
	}
	return &program{source: source, compiled: compiled}, nil
}

// Source returns the template source (the "default" one of a named set).
func (t *Template) Source() string { return t.main.source }

// Specials returns a copy of the special-token variables the template is
// rendered with, without additional_special_tokens.
func (t *Template) Specials() map[string]string {
	m := make(map[string]string, len(t.specials))
	for k, v := range t.specials {
		m[k] = v
	}
	return m
}

// AdditionalSpecialTokens returns a copy of additional_special_tokens as
// read by Load (nil for New).
func (t *Template) AdditionalSpecialTokens() []string {
	return append([]string(nil), t.additional...)
}

// Render renders messages with tools and documents None, as
// apply_chat_template(messages, tokenize=False,
// add_generation_prompt=addGenerationPrompt) does.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	return t.RenderWith(messages, Options{AddGenerationPrompt: addGenerationPrompt})
}

// reserved are the variables apply_chat_template passes itself.
var reserved = map[string]bool{"messages": true, "tools": true, "documents": true, "add_generation_prompt": true}

// RenderWith renders messages with the given options. A template's
// raise_exception call is returned as a *RaiseError (wrapped).
func (t *Template) RenderWith(messages []Message, opts Options) (string, error) {
	if len(messages) == 0 {
		return "", errors.New("chat: no messages") // transformers fails on conversation[0]
	}
	prog := t.main
	if opts.Tools != nil && t.toolUse != nil {
		prog = t.toolUse
	}

	data := make(map[string]jinja.Value, 16+len(opts.Vars))
	msgs := make([]jinja.Value, len(messages))
	for i, m := range messages {
		v, err := messageValue(m)
		if err != nil {
			return "", fmt.Errorf("chat: message %d: %w", i, err)
		}
		msgs[i] = v
	}
	data["messages"] = jinja.NewList(msgs)
	data["add_generation_prompt"] = jinja.NewBool(opts.AddGenerationPrompt)
	var err error
	if data["tools"], err = jsonList(opts.Tools); err != nil {
		return "", fmt.Errorf("chat: tools: %w", err)
	}
	if data["documents"], err = jsonList(opts.Documents); err != nil {
		return "", fmt.Errorf("chat: documents: %w", err)
	}

	for k, v := range t.specials {
		data[k] = jinja.NewString(v)
	}
	if len(t.additional) > 0 {
		items := make([]jinja.Value, len(t.additional))
		for i, s := range t.additional {
			items[i] = jinja.NewString(s)
		}
		data["additional_special_tokens"] = jinja.NewList(items)
	}

	now := t.now
	data["raise_exception"] = jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		msg := ""
		if len(args) > 0 {
			msg = pyStr(args[0])
		}
		return jinja.Undefined(), &RaiseError{Message: msg}
	})
	data["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), errors.New("strftime_now: want one string argument")
		}
		return jinja.NewString(strftime(args[0].AsString(), now())), nil
	})

	for k, v := range opts.Vars {
		if reserved[k] {
			return "", fmt.Errorf("chat: Vars[%q]: the variable is set by RenderWith", k)
		}
		if data[k], err = goValue(v); err != nil {
			return "", fmt.Errorf("chat: Vars[%q]: %w", k, err)
		}
	}

	data[strFunc] = jinja.NewCallable(strFunc, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 {
			return jinja.Undefined(), errors.New("internal: bad print")
		}
		return jinja.NewString(pyStr(args[0])), nil
	})
	data[tojsonFunc] = jinja.NewCallable("tojson", tojsonFilter)

	out, err := prog.compiled.RenderValues(data)
	if err != nil {
		name := t.name
		if name == "" {
			name = "chat template"
		}
		return "", fmt.Errorf("chat: render %s: %w", name, err)
	}
	return out, nil
}

// messageValue builds the dict a template sees for m.
func messageValue(m Message) (jinja.Value, error) {
	d := jinja.NewDict()
	dict := d.AsDict()
	dict.Set("role", jinja.NewString(m.Role))
	dict.Set("content", jinja.NewString(m.Content))
	for _, f := range m.Extra {
		if dict.Has(f.Key) {
			return jinja.Undefined(), fmt.Errorf("duplicate key %q", f.Key)
		}
		if f.JSON == nil {
			dict.Set(f.Key, jinja.NewString(f.Value))
			continue
		}
		v, err := decodeJSON(f.JSON)
		if err != nil {
			return jinja.Undefined(), fmt.Errorf("field %q: %w", f.Key, err)
		}
		dict.Set(f.Key, v)
	}
	return d, nil
}

// jsonList decodes a list of JSON documents; nil is None.
func jsonList(docs []json.RawMessage) (jinja.Value, error) {
	if docs == nil {
		return jinja.None(), nil
	}
	items := make([]jinja.Value, len(docs))
	for i, d := range docs {
		v, err := decodeJSON(d)
		if err != nil {
			return jinja.Undefined(), fmt.Errorf("item %d: %w", i, err)
		}
		items[i] = v
	}
	return jinja.NewList(items), nil
}
