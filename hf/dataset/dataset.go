// Package dataset reads prompt-only datasets (Parquet shards or JSON Lines) and serves them in a
// shuffled, streaming order for the Nash-MD trainer.
//
// A prompt-only dataset has one column of prompts, named "prompt" unless Options.Column says
// otherwise, in one of TRL's two formats:
//
//   - standard: each prompt is a string;
//   - conversational: each prompt is a list of {role, content} messages, which the trainer
//     renders with the model's chat template.
//
// Rows are numbered 0, 1, … across the shards in file order (Prompt.Row); the Report written by
// Filter counts them from 1, as a person reads them.
//
// Parquet files are read one row group at a time and JSON Lines files in groups of lines, so a
// Dataset holds O(Options.CacheGroups row groups + Options.ReadAhead prompts) of prompt text, plus
// 8 bytes per row for an epoch's order and 8 per kept row after Filter, never the whole dataset.
package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Message is one turn of a conversational prompt.
type Message struct {
	Role    string
	Content string
}

// Prompt is one row of a prompt-only dataset.
type Prompt struct {
	// Row is the 0-based index of the row across all shards, in file order.
	Row int64
	// Text is the prompt of a standard dataset; "" in a conversational one.
	Text string
	// Messages is the prompt of a conversational dataset (non-nil there, possibly empty);
	// nil in a standard one.
	Messages []Message
}

// Empty reports whether the prompt has nothing to answer: a standard prompt that is empty or
// only white space, or a conversation with no messages or only empty (white space) contents.
// A null value in the file reads as an empty prompt.
func (p Prompt) Empty() bool {
	if p.Messages == nil {
		return strings.TrimSpace(p.Text) == ""
	}
	for _, m := range p.Messages {
		if strings.TrimSpace(m.Content) != "" {
			return false
		}
	}
	return true
}

// Format tells a standard dataset from a conversational one.
type Format int

const (
	Standard       Format = iota + 1 // prompts are strings
	Conversational                   // prompts are lists of {role, content}
)

func (f Format) String() string {
	switch f {
	case Standard:
		return "standard"
	case Conversational:
		return "conversational"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Column is the prompt column (JSON key). Default "prompt".
	Column string
	// Split selects the shards of a directory: files whose base name is the split name followed
	// by '-', '_', '.' or a digit (train-00000-of-00003.parquet, train.jsonl), in the directory,
	// in its data/ folder, or every file of a folder named after the split. Default "train".
	Split string
	// CacheGroups is how many decoded row groups a Dataset holds at once. Default 2.
	CacheGroups int
	// ReadAhead is how many prompts an Iterator decodes ahead of the caller, grouped by row
	// group so that one read of a group serves every prompt of the window that lives there.
	// Default 1024.
	ReadAhead int
}

func (o Options) withDefaults() Options {
	if o.Column == "" {
		o.Column = "prompt"
	}
	if o.Split == "" {
		o.Split = "train"
	}
	if o.CacheGroups <= 0 {
		o.CacheGroups = 2
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = 1024
	}
	return o
}

// Errors that Open and the readers wrap; test with errors.Is.
var (
	ErrNoFiles       = errors.New("no dataset files")
	ErrNotParquet    = errors.New("not a parquet file")
	ErrMissingColumn = errors.New("missing column")
	ErrColumnType    = errors.New("unsupported column type")
	ErrNotJSON       = errors.New("not a JSON object")
)

// Error is an error about one file of a dataset, and about one line of it for JSON Lines.
type Error struct {
	File string // the file as Open found it
	Line int64  // 1-based line of a JSON Lines file; 0 when the error is not about one line
	Kind error  // one of the Err* values above, or nil
	Msg  string // what was found and what was expected
	Err  error  // the underlying cause, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dataset: ")
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// shard is one file of a dataset, read a group of rows at a time.
type shard interface {
	path() string
	format() Format
	groupSizes() []int64
	// readGroup decodes group g; row numbers start at base.
	readGroup(g int, base int64) ([]Prompt, error)
	close() error
}

// Dataset is an opened prompt-only dataset. It is not safe for concurrent use: its Iterators
// share one row-group cache.
type Dataset struct {
	opts   Options
	format Format
	shards []shard
	// starts[s] is the global row of shard s's first row; starts[len(shards)] is the row count.
	starts []int64
	// groupStarts[s][g] is the first row of group g within shard s; one extra entry at the end.
	groupStarts [][]int64
	// keep lists the global rows still served, ascending; nil means every row.
	keep  []int64
	gen   int // bumped when Filter changes keep, to stop older Iterators
	cache groupCache
}

// Open opens a dataset at path: a .parquet file, a JSON Lines file (.jsonl, or .json holding
// JSON Lines as on the hub), a directory of .parquet or .jsonl shards for o.Split, or a glob
// pattern matching such files. It reads every Parquet footer and checks
// the column's type, and it parses every JSON Lines line, so a malformed file fails here
// (with an *Error naming the file, line and column) rather than in the middle of training.
// All shards must share one Format. Close the Dataset to release its files.
func Open(path string, o Options) (*Dataset, error) {
	o = o.withDefaults()
	files, err := shardFiles(path, o.Split)
	if err != nil {
		return nil, err
	}
	d := &Dataset{opts: o, starts: []int64{0}}
	d.cache.limit = o.CacheGroups
	for _, f := range files {
		var sh shard
		if ext := strings.ToLower(filepath.Ext(f)); ext == ".jsonl" || ext == ".json" {
			sh, err = openJSONL(f, o.Column)
		} else {
			sh, err = openParquet(f, o.Column)
		}
		if err != nil {
			d.Close()
			return nil, err
		}
		d.shards = append(d.shards, sh)
		if d.format == 0 {
			d.format = sh.format()
		} else if sh.format() != d.format {
			d.Close()
			return nil, &Error{File: f, Kind: ErrColumnType, Msg: fmt.Sprintf("%s: %s prompts, but %s holds %s ones",
				o.Column, sh.format(), files[0], d.format)}
		}
		gs := []int64{0}
		for _, n := range sh.groupSizes() {
			gs = append(gs, gs[len(gs)-1]+n)
		}
		d.groupStarts = append(d.groupStarts, gs)
		d.starts = append(d.starts, d.starts[len(d.starts)-1]+gs[len(gs)-1])
	}
	return d, nil
}

// shardFiles resolves Open's path to a sorted list of shard files.
func shardFiles(path, split string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.ContainsAny(path, "*?[") {
			m, gerr := filepath.Glob(path)
			if gerr != nil {
				return nil, fmt.Errorf("dataset: %s: %w", path, gerr)
			}
			m = dataFiles(m)
			if len(m) == 0 {
				return nil, &Error{File: path, Kind: ErrNoFiles, Msg: "no .parquet or .jsonl file matches"}
			}
			sort.Strings(m)
			return m, nil
		}
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var tried []string
	for _, dir := range []string{path, filepath.Join(path, "data")} {
		ents, _ := os.ReadDir(dir)
		var m []string
		for _, e := range ents {
			if !e.IsDir() && splitFile(e.Name(), split) {
				m = append(m, filepath.Join(dir, e.Name()))
			}
		}
		if m = dataFiles(m); len(m) > 0 {
			sort.Strings(m)
			return m, nil
		}
		tried = append(tried, filepath.Join(dir, split+"*"))
	}
	dir := filepath.Join(path, split)
	ents, _ := os.ReadDir(dir)
	var m []string
	for _, e := range ents {
		if !e.IsDir() {
			m = append(m, filepath.Join(dir, e.Name()))
		}
	}
	if m = dataFiles(m); len(m) > 0 {
		sort.Strings(m)
		return m, nil
	}
	tried = append(tried, filepath.Join(dir, "*"))
	return nil, &Error{File: path, Kind: ErrNoFiles, Msg: fmt.Sprintf("no .parquet or .jsonl file for split %q (looked for %s)",
		split, strings.Join(tried, ", "))}
}

// splitFile reports whether a base name belongs to the split, as the hub names shards:
// the split name, then '-', '_', '.' or a digit.
func splitFile(name, split string) bool {
	rest, ok := strings.CutPrefix(name, split)
	if !ok || rest == "" {
		return false
	}
	c := rest[0]
	return c == '-' || c == '_' || c == '.' || ('0' <= c && c <= '9')
}

// dataFiles keeps the .parquet and .jsonl names.
func dataFiles(names []string) []string {
	var out []string
	for _, n := range names {
		switch strings.ToLower(filepath.Ext(n)) {
		case ".parquet", ".jsonl":
			out = append(out, n)
		}
	}
	return out
}

// Len is the number of rows served: every row, or those Filter kept.
func (d *Dataset) Len() int64 {
	if d.keep != nil {
		return int64(len(d.keep))
	}
	return d.starts[len(d.starts)-1]
}

// Rows is the number of rows in the files, kept or not.
func (d *Dataset) Rows() int64 { return d.starts[len(d.starts)-1] }

// Format is the dataset's prompt format; 0 when it has no files.
func (d *Dataset) Format() Format { return d.format }

// Files lists the shards in row order.
func (d *Dataset) Files() []string {
	out := make([]string, len(d.shards))
	for i, s := range d.shards {
		out[i] = s.path()
	}
	return out
}

// Row reads the row with global 0-based index row, whether Filter kept it or not.
// The caller owns the returned Prompt.
func (d *Dataset) Row(row int64) (Prompt, error) {
	if d.shards == nil {
		return Prompt{}, errors.New("dataset: Row after Close")
	}
	if row < 0 || row >= d.Rows() {
		return Prompt{}, fmt.Errorf("dataset: row %d out of range [0, %d)", row, d.Rows())
	}
	s := sort.Search(len(d.shards), func(i int) bool { return d.starts[i+1] > row })
	in := row - d.starts[s]
	gs := d.groupStarts[s]
	g := sort.Search(len(gs)-1, func(i int) bool { return gs[i+1] > in })
	rows, err := d.cache.get(d.shards[s], s, g, d.starts[s]+gs[g])
	if err != nil {
		return Prompt{}, err
	}
	p := rows[in-gs[g]]
	if p.Messages != nil {
		p.Messages = append([]Message{}, p.Messages...)
	}
	return p, nil
}

// Close releases the dataset's files. It is idempotent.
func (d *Dataset) Close() error {
	var errs []error
	for _, s := range d.shards {
		errs = append(errs, s.close())
	}
	d.shards = nil
	d.cache.clear()
	return errors.Join(errs...)
}

// groupCache holds the most recently decoded row groups, least recently used out first.
type groupCache struct {
	limit   int
	entries []cacheEntry // most recent last
	reads   int64        // row groups decoded so far (for tests)
	maxHeld int          // most row groups ever held at once (for tests)
}

type cacheEntry struct {
	shard, group int
	rows         []Prompt
}

func (c *groupCache) get(sh shard, s, g int, base int64) ([]Prompt, error) {
	for i, e := range c.entries {
		if e.shard == s && e.group == g {
			copy(c.entries[i:], c.entries[i+1:])
			c.entries[len(c.entries)-1] = e
			return e.rows, nil
		}
	}
	// Evict before decoding so that no more than limit groups are ever alive.
	if len(c.entries) >= c.limit {
		c.entries[0] = cacheEntry{}
		c.entries = append(c.entries[:0], c.entries[1:]...)
	}
	rows, err := sh.readGroup(g, base)
	if err != nil {
		return nil, err
	}
	c.reads++
	c.entries = append(c.entries, cacheEntry{s, g, rows})
	c.maxHeld = max(c.maxHeld, len(c.entries))
	return rows, nil
}

func (c *groupCache) clear() { c.entries = nil }
