package chat

// Front end: a lexer that follows Jinja2 3.1's (jinja2/lexer.py) handling of
// delimiters, whitespace control and string literals for the environment
// transformers uses (trim_blocks=True, lstrip_blocks=True,
// keep_trailing_newline=False), and rewrites the template into an equivalent
// source for github.com/ardanlabs/jinja.
//
// Why: ardanlabs/jinja applies trim and lstrip rules to the nearest text
// segment even when a {{ }} tag stands between it and the block tag, strips
// only ASCII whitespace, keeps a template's trailing newline, decodes only a
// few string escapes, prints None as "" and floats with %g, and its tojson
// orders and spaces output differently from Python's json.dumps. The
// rewritten source has no text segments at all, so the library's own
// whitespace rules have nothing to act on:
//
//	text (after Jinja2's trimming)  → {{ 'text' }}   (quotes and backslashes escaped)
//	{{ expr }}                      → {{ __nashmd_str((expr)) }}   (Python str())
//	x | tojson                      → x | __nashmd_tojson          (Python json.dumps)
//	{%- stmt +%}                    → {% stmt %}
//	comments, stripped whitespace   → {# #} holding only the newlines they had
//
// Every newline of the source survives in the output, so line numbers in the
// library's parse errors still point into the original template.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names under which Render passes the helpers the rewritten source calls.
const (
	strFunc    = "__nashmd_str"
	tojsonFunc = "__nashmd_tojson"
)

type tagKind int

const (
	tagBlock tagKind = iota
	tagVar
	tagComment
)

// openBlock is a block statement waiting for its end tag.
type openBlock struct {
	keyword string
	line    int
}

// lexer holds the state of one translation.
type lexer struct {
	src          string
	pos          int
	line         int
	lineStarting bool // the previous match ended with "\n" (Jinja2's line_starting)
	out          strings.Builder
	stack        []openBlock
}

// translate rewrites a Jinja2 chat template into ardanlabs/jinja source with
// the same output. Errors are *SyntaxError with Name unset.
func translate(src string) (string, error) {
	// Jinja2 splits on \r\n, \r and \n, drops one trailing empty line
	// (keep_trailing_newline=False) and joins with "\n".
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	src = strings.TrimSuffix(src, "\n")

	lx := &lexer{src: src, line: 1, lineStarting: true}
	if err := lx.run(); err != nil {
		return "", err
	}
	if n := len(lx.stack); n > 0 {
		b := lx.stack[n-1]
		return "", lx.errorf(b.line, "unexpected end of template: %q block opened on line %d is never closed", b.keyword, b.line)
	}
	return lx.out.String(), nil
}

func (lx *lexer) errorf(line int, format string, args ...any) error {
	return &SyntaxError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (lx *lexer) run() error {
	for lx.pos < len(lx.src) {
		start, kind, sign, isRaw := lx.nextTag()
		if start < 0 {
			lx.emitText(lx.src[lx.pos:], "") // trailing data: no trimming
			return nil
		}
		text := lx.src[lx.pos:start]
		kept := text
		switch {
		case sign == '-':
			kept = strings.TrimRightFunc(text, isPySpace)
		case sign != '+' && kind != tagVar:
			// lstrip_blocks: drop the indentation before a block or comment
			// tag that is the first thing on its line.
			l := strings.LastIndexByte(text, '\n') + 1
			if (l > 0 || lx.lineStarting) && l < len(text) && allPySpace(text[l:]) {
				kept = text[:l]
			}
		}
		lx.emitText(kept, text[len(kept):])

		lx.pos = start + 2
		if sign != 0 {
			lx.pos++
		}
		var err error
		switch {
		case isRaw:
			err = lx.raw()
		case kind == tagComment:
			err = lx.comment()
		default:
			err = lx.tag(kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextTag finds the next "{{", "{%" or "{#" at or after lx.pos. sign is the
// whitespace-control character after the opener ('-', '+' or 0); isRaw
// reports a {% raw %} tag.
func (lx *lexer) nextTag() (start int, kind tagKind, sign byte, isRaw bool) {
	for i := lx.pos; ; {
		j := strings.IndexByte(lx.src[i:], '{')
		if j < 0 || i+j+1 >= len(lx.src) {
			return -1, 0, 0, false
		}
		i += j
		switch lx.src[i+1] {
		case '{':
			kind = tagVar
		case '%':
			kind = tagBlock
		case '#':
			kind = tagComment
		default:
			i++
			continue
		}
		p := i + 2
		if p < len(lx.src) && (lx.src[p] == '-' || lx.src[p] == '+') {
			sign = lx.src[p]
			p++
		}
		if kind == tagBlock {
			_, isRaw = lx.matchRawOpen(p)
		}
		return i, kind, sign, isRaw
	}
}

// matchRawOpen matches `\s*raw\s*(-%}\s*|%})` at p and returns the end of the match.
func (lx *lexer) matchRawOpen(p int) (int, bool) {
	p = skipPySpace(lx.src, p)
	if !strings.HasPrefix(lx.src[p:], "raw") {
		return 0, false
	}
	p = skipPySpace(lx.src, p+3)
	switch {
	case strings.HasPrefix(lx.src[p:], "-%}"):
		return skipPySpace(lx.src, p+3), true
	case strings.HasPrefix(lx.src[p:], "%}"):
		return p + 2, true
	}
	return 0, false
}

// raw handles {% raw %}...{% endraw %}: the body is data, trimmed by the
// endraw tag's whitespace control like text before any block tag.
func (lx *lexer) raw() error {
	openLine := lx.line
	end, _ := lx.matchRawOpen(lx.pos)
	lx.countNewlines(lx.src[lx.pos:end])
	lx.lineStarting = strings.HasSuffix(lx.src[:end], "\n")
	lx.pos = end

	for i := lx.pos; ; {
		j := strings.Index(lx.src[i:], "{%")
		if j < 0 {
			return lx.errorf(openLine, "missing end of raw directive")
		}
		i += j
		p := i + 2
		var sign byte
		if p < len(lx.src) && (lx.src[p] == '-' || lx.src[p] == '+') {
			sign = lx.src[p]
			p++
		}
		p = skipPySpace(lx.src, p)
		if !strings.HasPrefix(lx.src[p:], "endraw") {
			i += 2
			continue
		}
		p = skipPySpace(lx.src, p+len("endraw"))
		endEnd, ok := lx.matchBlockEnd(p)
		if !ok {
			i += 2
			continue
		}
		text := lx.src[lx.pos:i]
		kept := text
		switch {
		case sign == '-':
			kept = strings.TrimRightFunc(text, isPySpace)
		case sign != '+':
			l := strings.LastIndexByte(text, '\n') + 1
			if (l > 0 || lx.lineStarting) && l < len(text) && allPySpace(text[l:]) {
				kept = text[:l]
			}
		}
		lx.emitText(kept, text[len(kept):])
		lx.emitNewlines(lx.src[i:endEnd])
		lx.lineStarting = strings.HasSuffix(lx.src[:endEnd], "\n")
		lx.pos = endEnd
		return nil
	}
}

// matchBlockEnd matches `+%}`, `-%}\s*` or `%}\n?` at p (trim_blocks=True).
func (lx *lexer) matchBlockEnd(p int) (int, bool) {
	s := lx.src
	switch {
	case strings.HasPrefix(s[p:], "+%}"):
		return p + 3, true
	case strings.HasPrefix(s[p:], "-%}"):
		return skipPySpace(s, p+3), true
	case strings.HasPrefix(s[p:], "%}"):
		if p+2 < len(s) && s[p+2] == '\n' {
			return p + 3, true
		}
		return p + 2, true
	}
	return 0, false
}

// matchVarEnd matches `-}}\s*` or `}}` at p.
func (lx *lexer) matchVarEnd(p int) (int, bool) {
	s := lx.src
	switch {
	case strings.HasPrefix(s[p:], "-}}"):
		return skipPySpace(s, p+3), true
	case strings.HasPrefix(s[p:], "}}"):
		return p + 2, true
	}
	return 0, false
}

// comment skips a comment; its end follows the block-end rules.
func (lx *lexer) comment() error {
	s := lx.src
	j := strings.Index(s[lx.pos:], "#}")
	if j < 0 {
		return lx.errorf(lx.line, "missing end of comment tag")
	}
	i := lx.pos + j
	end := i + 2
	switch {
	case i > lx.pos && s[i-1] == '-':
		end = skipPySpace(s, end)
	case i > lx.pos && s[i-1] == '+':
	case end < len(s) && s[end] == '\n':
		end++
	}
	lx.emitNewlines(s[lx.pos:end])
	lx.lineStarting = strings.HasSuffix(s[:end], "\n")
	lx.pos = end
	return nil
}

// tag scans the inside of a {% %} or {{ }} tag the way Jinja2's tokenizer
// does (the end delimiter counts only outside brackets), re-encodes it, and
// writes the rewritten tag.
func (lx *lexer) tag(kind tagKind) error {
	s := lx.src
	openLine := lx.line
	var (
		body      strings.Builder
		brackets  []byte // expected closers
		tokens    int
		keyword   string
		afterPipe bool
		assign    bool // a top-level "=" (block set vs. set block)
	)
	put := func(tok string) {
		// ardanlabs/jinja ends a tag at the first "}}" or "%}" outside
		// quotes; keep those pairs apart inside the expression.
		if tok == "}" && body.Len() > 0 {
			if last := body.String()[body.Len()-1]; last == '}' || last == '%' {
				body.WriteByte(' ')
			}
		}
		body.WriteString(tok)
	}
	p := lx.pos
	for {
		if p >= len(s) {
			what := "block"
			if kind == tagVar {
				what = "variable"
			}
			return lx.errorf(openLine, "unexpected end of template: %s tag opened here is not closed", what)
		}
		if len(brackets) == 0 {
			var end int
			var ok bool
			if kind == tagVar {
				end, ok = lx.matchVarEnd(p)
			} else {
				end, ok = lx.matchBlockEnd(p)
			}
			if ok {
				lx.countNewlines(s[lx.pos:p])
				if tokens == 0 {
					if kind == tagVar {
						return lx.errorf(lx.line, "expected an expression, got end of print statement")
					}
					return lx.errorf(lx.line, "tag name expected")
				}
				if kind == tagVar {
					lx.out.WriteString("{{ " + strFunc + "((")
					lx.out.WriteString(body.String())
					lx.out.WriteString(")) }}")
				} else {
					if err := lx.structure(keyword, assign, openLine, lx.line); err != nil {
						return err
					}
					lx.out.WriteString("{% ")
					lx.out.WriteString(body.String())
					lx.out.WriteString(" %}")
				}
				lx.emitNewlines(s[p:end])
				lx.lineStarting = strings.HasSuffix(s[:end], "\n")
				lx.pos = end
				return nil
			}
		}
		r, _ := utf8.DecodeRuneInString(s[p:])
		switch {
		case isPySpace(r):
			q := skipPySpace(s, p)
			body.WriteString(s[p:q])
			p = q
			continue // whitespace does not end a pipe
		case r == '\'' || r == '"':
			lit, q, err := lx.stringLiteral(p)
			if err != nil {
				return err
			}
			put(lit)
			p = q
		case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			q := p
			for q < len(s) {
				r2, n := utf8.DecodeRuneInString(s[q:])
				if r2 != '_' && !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
					// a float like 1.5 or 1e-3 stays one piece for us too
					if r2 == '.' && q+1 < len(s) && isDigitByte(s[q+1]) && isDigitByte(s[p]) {
						q++
						continue
					}
					break
				}
				q += n
			}
			word := s[p:q]
			if tokens == 0 {
				keyword = word
			}
			if afterPipe && word == "tojson" && !(kind == tagBlock && keyword == "filter") {
				word = tojsonFunc
			}
			put(word)
			p = q
		default:
			op := operatorAt(s, p)
			if op == "" {
				lx.countNewlines(s[lx.pos:p])
				return lx.errorf(lx.line, "unexpected char %s", strconv.QuoteRune(r))
			}
			switch op {
			case "(", "[", "{":
				brackets = append(brackets, map[string]byte{"(": ')', "[": ']', "{": '}'}[op])
			case ")", "]", "}":
				if len(brackets) == 0 {
					lx.countNewlines(s[lx.pos:p])
					return lx.errorf(lx.line, "unexpected '%s'", op)
				}
				want := brackets[len(brackets)-1]
				if op[0] != want {
					lx.countNewlines(s[lx.pos:p])
					return lx.errorf(lx.line, "unexpected '%s', expected '%c'", op, want)
				}
				brackets = brackets[:len(brackets)-1]
			case "=":
				if len(brackets) == 0 {
					assign = true
				}
			}
			put(op)
			p += len(op)
			tokens++
			afterPipe = op == "|"
			continue
		}
		tokens++
		afterPipe = false
	}
}

// operators are Jinja2's, longest first.
var operators = []string{
	"//", "**", "==", "!=", ">=", "<=",
	"+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
	">", "<", "=", ".", ":", "|", ",", ";",
}

func operatorAt(s string, p int) string {
	for _, op := range operators {
		if strings.HasPrefix(s[p:], op) {
			return op
		}
	}
	return ""
}

// structure checks block nesting, so a bad template fails with the line of
// the offending tag rather than later without one.
func (lx *lexer) structure(keyword string, assign bool, openLine, line int) error {
	top := func() string {
		if len(lx.stack) == 0 {
			return ""
		}
		return lx.stack[len(lx.stack)-1].keyword
	}
	switch keyword {
	case "if", "for", "macro", "call", "filter", "generation":
		lx.stack = append(lx.stack, openBlock{keyword, openLine})
	case "set":
		if !assign {
			lx.stack = append(lx.stack, openBlock{"set", openLine})
		}
	case "elif":
		if top() != "if" {
			return lx.mismatch(keyword, line)
		}
	case "else":
		if t := top(); t != "if" && t != "for" {
			return lx.mismatch(keyword, line)
		}
	case "endif", "endfor", "endmacro", "endcall", "endfilter", "endgeneration", "endset":
		if top() != strings.TrimPrefix(keyword, "end") {
			return lx.mismatch(keyword, line)
		}
		lx.stack = lx.stack[:len(lx.stack)-1]
	}
	return nil
}

func (lx *lexer) mismatch(keyword string, line int) error {
	if len(lx.stack) == 0 {
		return lx.errorf(line, "unexpected '%s': no block is open", keyword)
	}
	b := lx.stack[len(lx.stack)-1]
	return lx.errorf(line, "unexpected '%s': the innermost open block is '%s' from line %d", keyword, b.keyword, b.line)
}

// stringLiteral scans the quoted string at p (Jinja2's string_re), decodes
// it as Jinja2 does (Python's unicode-escape after backslash-replacing
// non-ASCII), and re-encodes it for ardanlabs/jinja, whose decoder knows only
// \\ \' \" \n \t.
func (lx *lexer) stringLiteral(p int) (string, int, error) {
	s := lx.src
	quote := s[p]
	q := p + 1
	for q < len(s) && s[q] != quote {
		if s[q] == '\\' && q+1 < len(s) {
			q++
		}
		q++
	}
	if q >= len(s) {
		lx.countNewlines(s[lx.pos:p])
		return "", 0, lx.errorf(lx.line, "unexpected char %q: unterminated string", quote)
	}
	val, err := unescapePy(s[p+1 : q])
	if err != nil {
		lx.countNewlines(s[lx.pos:p])
		return "", 0, lx.errorf(lx.line, "string literal: %v", err)
	}
	return quoteLiteral(val), q + 1, nil
}

// quoteLiteral writes s as a single-quoted ardanlabs/jinja string literal.
// Newlines stay raw, so line numbers are kept.
func quoteLiteral(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// emitText writes kept as a literal output tag, then the newlines of the
// whitespace that trimming removed (for line numbers only).
func (lx *lexer) emitText(kept, stripped string) {
	if kept != "" {
		lx.out.WriteString("{{ ")
		lx.out.WriteString(quoteLiteral(kept))
		lx.out.WriteString(" }}")
		lx.countNewlines(kept)
	}
	lx.emitNewlines(stripped)
}

// emitNewlines writes a comment holding as many newlines as s has.
func (lx *lexer) emitNewlines(s string) {
	n := strings.Count(s, "\n")
	if n == 0 {
		return
	}
	lx.out.WriteString("{#")
	lx.out.WriteString(strings.Repeat("\n", n))
	lx.out.WriteString("#}")
	lx.line += n
}

func (lx *lexer) countNewlines(s string) { lx.line += strings.Count(s, "\n") }

// isPySpace reports whether Python's str.isspace() holds for r (which is
// also what \s matches in Jinja2's regular expressions).
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

func allPySpace(s string) bool {
	for _, r := range s {
		if !isPySpace(r) {
			return false
		}
	}
	return true
}

func skipPySpace(s string, p int) int {
	for p < len(s) {
		r, n := utf8.DecodeRuneInString(s[p:])
		if !isPySpace(r) {
			break
		}
		p += n
	}
	return p
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

// unescapePy decodes a Jinja2 string literal body: non-ASCII characters are
// first written as \x, \u or \U escapes (encode("ascii", "backslashreplace"))
// and the result is decoded with Python's "unicode-escape" codec.
func unescapePy(body string) (string, error) {
	var ascii strings.Builder
	for _, r := range body {
		switch {
		case r < 0x80:
			ascii.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&ascii, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&ascii, `\u%04x`, r)
		default:
			fmt.Fprintf(&ascii, `\U%08x`, r)
		}
	}
	s := ascii.String()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf(`\ at end of string`)
		}
		i++
		switch c = s[i]; c {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(c)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n, j := 0, i
			for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
				n = n*8 + int(s[j]-'0')
			}
			b.WriteRune(rune(n))
			i = j - 1
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+1+width > len(s) {
				return "", fmt.Errorf(`truncated \%cXX escape`, c)
			}
			n, err := strconv.ParseUint(s[i+1:i+1+width], 16, 32)
			if err != nil || strings.ContainsAny(s[i+1:i+1+width], "+-_") {
				return "", fmt.Errorf(`truncated \%cXX escape`, c)
			}
			if n > unicode.MaxRune {
				return "", fmt.Errorf(`illegal Unicode character`)
			}
			b.WriteRune(rune(n))
			i += width
		case 'N':
			return "", fmt.Errorf(`\N{...} escapes are not supported`)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
