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
	"strings"
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
// included before omitted, and within a group the last alternative (the
// plain-ASCII one in these files) first.
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
		a = strings.Join(strings.Fields(a), " ")
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

const maxSpellings = 256

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
			if c == '[' { // the last alternative (plain ASCII) first
				for l, r := 0, len(alts)-1; l < r; l, r = l+1, r-1 {
					alts[l], alts[r] = alts[r], alts[l]
				}
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
