// Package quiz reads the question/answer files of Debian's bsdgames quiz
// (/usr/share/games/bsdgames/quiz), for prompts with verifiable answers.
//
// A line is "field:field[:…]"; in a field, "a|b" are alternatives, "[a|b]"
// an alternative group inside a word, "{x}" an optional part, and "\:" a
// literal colon. Expand gives every spelling a field allows.
package quiz

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// Dir is where Debian's bsdgames installs the quiz files.
const Dir = "/usr/share/games/bsdgames/quiz"

// Item is one line: its fields, each expanded to all its spellings
// (the first is the fullest ASCII spelling, for showing).
type Item struct {
	Fields [][]string
}

// Read parses a quiz file; errors name the file and line.
func Read(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []Item
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var it Item
		for _, field := range splitFields(text) {
			alts, err := Expand(field)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", filepath.Base(path), line, err)
			}
			it.Fields = append(it.Fields, alts)
		}
		items = append(items, it)
	}
	return items, sc.Err()
}

// splitFields splits at ':' outside brackets and braces.
func splitFields(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ':':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// Expand lists the spellings of one field, fullest first: optional parts
// included before omitted, and within a group the alternatives made only of
// letters first (the files write accents as overstrikes, "e\b'").
func Expand(field string) ([]string, error) {
	alts, rest, err := parseAlts(field, 0)
	if err != nil {
		return nil, err
	}
	if rest != len(field) {
		return nil, fmt.Errorf("unbalanced %q in %q", field[rest], field)
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range alts {
		a = strings.Join(strings.Fields(overstrike(a)), " ")
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty field %q", field)
	}
	return out, nil
}

// overstrike resolves the files' backspace accents ("'\bi", "i\b'"): of the
// two characters around a backspace, the letter stays.
func overstrike(s string) string {
	if !strings.Contains(s, "\b") {
		return s
	}
	r := []rune(s)
	var out []rune
	for i := 0; i < len(r); i++ {
		if r[i] == '\b' {
			if i+1 < len(r) && len(out) > 0 && !unicode.IsLetter(out[len(out)-1]) {
				out[len(out)-1] = r[i+1]
			}
			i++ // the character after the backspace is merged (or dropped)
			continue
		}
		out = append(out, r[i])
	}
	return string(out)
}

const maxSpellings = 256

func lettersOnly(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && r != ' ' {
			return false
		}
	}
	return true
}

// parseAlts parses "seq|seq|…" from i up to a closing ']' or '}' (not
// consumed) or the end.
func parseAlts(s string, i int) ([]string, int, error) {
	var all []string
	for {
		seq, j, err := parseSeq(s, i)
		if err != nil {
			return nil, 0, err
		}
		all = append(all, seq...)
		if j < len(s) && s[j] == '|' {
			i = j + 1
			continue
		}
		return all, j, nil
	}
}

// parseSeq parses literals, [groups] and {optionals} up to '|', ']', '}' or the end.
func parseSeq(s string, i int) ([]string, int, error) {
	out := []string{""}
	join := func(parts []string) {
		var next []string
		for _, a := range out {
			for _, b := range parts {
				if len(next) < maxSpellings {
					next = append(next, a+b)
				}
			}
		}
		out = next
	}
	for i < len(s) {
		switch c := s[i]; c {
		case '|', ']', '}':
			return out, i, nil
		case '[', '{':
			alts, j, err := parseAlts(s, i+1)
			if err != nil {
				return nil, 0, err
			}
			want := byte(']')
			if c == '{' {
				want = '}'
			}
			if j >= len(s) || s[j] != want {
				return nil, 0, fmt.Errorf("unclosed %q in %q", c, s)
			}
			if c == '[' { // alternatives made only of letters (no accents) first
				sort.SliceStable(alts, func(a, b int) bool { return lettersOnly(alts[a]) && !lettersOnly(alts[b]) })
			} else {
				alts = append(alts, "") // optional: with it, then without
			}
			join(alts)
			i = j + 1
		case '\\':
			if i+1 < len(s) {
				join([]string{s[i+1 : i+2]})
			}
			i += 2
		default:
			join([]string{s[i : i+1]})
			i++
		}
	}
	return out, i, nil
}
