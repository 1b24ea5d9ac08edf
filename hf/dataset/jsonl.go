package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// jsonlGroupRows is how many rows of a JSON Lines file make one group (the unit read and
// cached, like a Parquet row group).
var jsonlGroupRows int64 = 16

// jsonlShard reads one JSON Lines file: one JSON object per line; blank lines are skipped.
// Open parses every line once and keeps only where each group of lines starts.
type jsonlShard struct {
	name   string
	column string
	fmt    Format
	f      *os.File
	size   int64
	groups []jsonlGroup
	sizes  []int64
}

type jsonlGroup struct {
	offset int64 // byte offset of the group's first line
	line   int64 // 1-based line number there
}

func openJSONL(path, column string) (*jsonlShard, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	s := &jsonlShard{name: path, column: column, f: f}
	if err := s.index(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// index parses every line, checks the prompt's type, and records where groups start.
func (s *jsonlShard) index() error {
	r := bufio.NewReaderSize(s.f, 1<<16)
	var off, line, rows int64
	var first int64 // line that fixed the format
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			line++
			if t := trimLine(b, line); len(t) > 0 {
				if rows%jsonlGroupRows == 0 {
					s.groups = append(s.groups, jsonlGroup{off, line})
					s.sizes = append(s.sizes, 0)
				}
				_, f, perr := s.parse(t, line)
				if perr != nil {
					return perr
				}
				if f != 0 && s.fmt == 0 {
					s.fmt, first = f, line
				} else if f != 0 && f != s.fmt {
					return &Error{File: s.name, Line: line, Kind: ErrColumnType, Msg: fmt.Sprintf(
						"%s: a %s prompt, but line %d holds a %s one", s.column, f, first, s.fmt)}
				}
				rows++
				s.sizes[len(s.sizes)-1]++
			}
			off += int64(len(b))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return &Error{File: s.name, Line: line + 1, Msg: "reading", Err: err}
		}
	}
	s.size = off
	if s.fmt == 0 {
		s.fmt = Standard // no rows, or only nulls
	}
	return nil
}

// trimLine strips white space, and a UTF-8 byte order mark on line 1.
func trimLine(b []byte, line int64) []byte {
	if line == 1 {
		b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	}
	return bytes.TrimSpace(b)
}

// parse reads the prompt from one non-blank line; its Format is 0 for a null prompt.
func (s *jsonlShard) parse(b []byte, line int64) (Prompt, Format, error) {
	fail := func(kind error, format string, a ...any) (Prompt, Format, error) {
		return Prompt{}, 0, &Error{File: s.name, Line: line, Kind: kind, Msg: fmt.Sprintf(format, a...)}
	}
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return fail(ErrNotJSON, "not JSON: %v", err)
	}
	if b[0] != '{' {
		return fail(ErrNotJSON, "want a JSON object, got %s", kindOf(b))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fail(ErrNotJSON, "%v", err)
	}
	v, ok := obj[s.column]
	if !ok {
		return fail(ErrMissingColumn, "no key %q", s.column)
	}
	switch v[0] {
	case 'n':
		return Prompt{}, 0, nil
	case '"':
		var t string
		if err := json.Unmarshal(v, &t); err != nil {
			return fail(ErrColumnType, "%s: %v", s.column, err)
		}
		return Prompt{Text: t}, Standard, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return fail(ErrColumnType, "%s: %v", s.column, err)
		}
		msgs := make([]Message, len(items))
		for i, it := range items {
			if it[0] != '{' {
				return fail(ErrColumnType, "%s[%d]: want a {role, content} object, got %s", s.column, i, kindOf(it))
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(it, &m); err != nil {
				return fail(ErrColumnType, "%s[%d]: %v", s.column, i, err)
			}
			for _, k := range []struct {
				name string
				dst  *string
			}{{"role", &msgs[i].Role}, {"content", &msgs[i].Content}} {
				raw, ok := m[k.name]
				if !ok {
					return fail(ErrColumnType, "%s[%d]: no key %q", s.column, i, k.name)
				}
				switch raw[0] {
				case 'n':
				case '"':
					if err := json.Unmarshal(raw, k.dst); err != nil {
						return fail(ErrColumnType, "%s[%d].%s: %v", s.column, i, k.name, err)
					}
				default:
					return fail(ErrColumnType, "%s[%d].%s: want a string, got %s", s.column, i, k.name, kindOf(raw))
				}
			}
		}
		return Prompt{Messages: msgs}, Conversational, nil
	}
	return fail(ErrColumnType, "%s: want a string or a list of {role, content}, got %s", s.column, kindOf(v))
}

// kindOf names the JSON type of a valid value.
func kindOf(v []byte) string {
	switch v[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func (s *jsonlShard) path() string        { return s.name }
func (s *jsonlShard) format() Format      { return s.fmt }
func (s *jsonlShard) groupSizes() []int64 { return s.sizes }

func (s *jsonlShard) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

func (s *jsonlShard) readGroup(g int, base int64) ([]Prompt, error) {
	end := s.size
	if g+1 < len(s.groups) {
		end = s.groups[g+1].offset
	}
	buf := make([]byte, end-s.groups[g].offset)
	if _, err := s.f.ReadAt(buf, s.groups[g].offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{File: s.name, Line: s.groups[g].line, Msg: "reading", Err: err}
	}
	out := make([]Prompt, 0, s.sizes[g])
	line := s.groups[g].line
	for len(buf) > 0 {
		b, rest, _ := bytes.Cut(buf, []byte{'\n'})
		buf = rest
		if t := trimLine(b, line); len(t) > 0 {
			p, f, err := s.parse(t, line)
			if err != nil {
				return nil, err
			}
			if f != 0 && f != s.fmt {
				return nil, &Error{File: s.name, Line: line, Kind: ErrColumnType, Msg: "file changed since Open"}
			}
			if s.fmt == Conversational && p.Messages == nil {
				p.Messages = []Message{}
			}
			p.Row = base + int64(len(out))
			out = append(out, p)
		}
		line++
	}
	if int64(len(out)) != s.sizes[g] {
		return nil, &Error{File: s.name, Line: s.groups[g].line, Msg: "file changed since Open"}
	}
	return out, nil
}
