package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// expected.json: per dataset, the rows as pyarrow 17 reads them back (gen_golden.py).
type wantRow struct {
	Row      int64      `json:"row"`
	Text     *string    `json:"text"`
	Messages *[]Message `json:"messages"`
}

func loadExpected(t *testing.T) map[string][]wantRow {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string][]wantRow
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// prompt is what the package must return for a pyarrow row: nulls read as empty prompts.
func (w wantRow) prompt(f Format) Prompt {
	p := Prompt{Row: w.Row}
	if w.Text != nil {
		p.Text = *w.Text
	}
	if f == Conversational {
		p.Messages = []Message{}
		if w.Messages != nil {
			p.Messages = *w.Messages
		}
	}
	return p
}

func open(t *testing.T, path string, o Options) *Dataset {
	t.Helper()
	d, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func collect(t *testing.T, it *Iterator) []Prompt {
	t.Helper()
	var out []Prompt
	for it.Next() {
		out = append(out, it.Prompt())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadGolden(t *testing.T) {
	exp := loadExpected(t)
	for _, c := range []struct {
		path   string
		want   string
		format Format
		files  int
		arrow  string // the prompt column's Arrow type, for parquet
	}{
		{"testdata/std", "std", Standard, 3, "utf8"}, // hub layout, the test split left out
		{"testdata/std/train-*.parquet", "std", Standard, 3, "utf8"},
		{"testdata/std.jsonl", "std", Standard, 1, ""},
		{"testdata/large.parquet", "large", Standard, 1, "large_utf8"},
		{"testdata/many.parquet", "many", Standard, 1, "utf8"},
		{"testdata/conv", "conv", Conversational, 2, // data/ layout
			"list<element: struct<role: utf8, content: utf8>, nullable>"},
		{"testdata/conv.jsonl", "conv", Conversational, 1, ""},
		{"testdata/conv_large.parquet", "conv_large", Conversational, 1,
			"large_list<element: struct<content: large_utf8, role: large_utf8>, nullable>"},
	} {
		t.Run(strings.ReplaceAll(c.path, "/", "_"), func(t *testing.T) {
			d := open(t, c.path, Options{CacheGroups: 1, ReadAhead: 5})
			want := exp[c.want]
			if len(want) == 0 {
				t.Fatalf("no expected rows for %s", c.want)
			}
			if d.Format() != c.format || len(d.Files()) != c.files || d.Len() != int64(len(want)) {
				t.Fatalf("format %v, files %v, len %d; want %v, %d files, %d rows", d.Format(), d.Files(), d.Len(),
					c.format, c.files, len(want))
			}
			if c.arrow != "" {
				for _, sh := range d.shards {
					if typ := sh.(*parquetShard).typ.String(); stripNullable(typ) != stripNullable(c.arrow) {
						t.Errorf("%s: prompt is %s, want %s", sh.path(), typ, c.arrow)
					}
				}
			}
			got := collect(t, d.All())
			if len(got) != len(want) {
				t.Fatalf("All yielded %d rows, want %d", len(got), len(want))
			}
			for i, w := range want {
				if wp := w.prompt(c.format); !reflect.DeepEqual(got[i], wp) {
					t.Errorf("row %d: got %+v, want %+v", i, got[i], wp)
				}
			}
			// Random access, backwards, through a one-group cache.
			for i := len(want) - 1; i >= 0; i-- {
				p, err := d.Row(int64(i))
				if err != nil {
					t.Fatal(err)
				}
				if wp := want[i].prompt(c.format); !reflect.DeepEqual(p, wp) {
					t.Errorf("Row(%d) = %+v, want %+v", i, p, wp)
				}
			}
		})
	}
}

func stripNullable(s string) string { return strings.ReplaceAll(s, " nullable", "") }

func TestSplits(t *testing.T) {
	d := open(t, "testdata/std", Options{Split: "test"})
	got := collect(t, d.All())
	if len(got) != 1 || got[0].Text != "a test-split prompt" {
		t.Errorf("split test: %+v", got)
	}
	for name, want := range map[string]bool{
		"train-00000-of-00003.parquet": true, "train.jsonl": true, "train_0.parquet": true, "train0.parquet": true,
		"training-00000.parquet": false, "train": false, "test-00000.parquet": false,
	} {
		if splitFile(name, "train") != want {
			t.Errorf("splitFile(%q, train) = %v", name, !want)
		}
	}
	// A folder named after the split (the hub's parquet-converter layout).
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "train"), 0o755)
	os.WriteFile(filepath.Join(dir, "train", "0000.jsonl"), []byte(`{"prompt": "a"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "train", "0001.jsonl"), []byte(`{"prompt": "b"}`+"\n"), 0o644)
	d = open(t, dir, Options{})
	if got := d.Files(); len(got) != 2 {
		t.Errorf("split folder: files %v", got)
	}
	if got := collect(t, d.All()); len(got) != 2 || got[0].Text != "a" || !reflect.DeepEqual(got[1], Prompt{Row: 1, Text: "b"}) {
		t.Errorf("split folder: %+v", got)
	}
	// A single .json file is read as JSON Lines.
	js := filepath.Join(dir, "x.json")
	os.WriteFile(js, []byte(`{"prompt": "a"}`+"\n"+`{"prompt": "b"}`), 0o644)
	if d := open(t, js, Options{}); d.Len() != 2 {
		t.Errorf("x.json: %d rows", d.Len())
	}
}

func TestShuffleGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/shuffle.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		N     int64   `json:"n"`
		Seed  uint64  `json:"seed"`
		Epoch int     `json:"epoch"`
		Perm  []int64 `json:"perm"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if got := shuffle(c.N, c.Seed, c.Epoch); !slices.Equal(got, c.Perm) {
			t.Errorf("shuffle(%d, %d, %d) differs from the Python re-implementation of its documented algorithm:\n got %v\nwant %v",
				c.N, c.Seed, c.Epoch, got[:min(10, len(got))], c.Perm[:min(10, len(c.Perm))])
		}
	}
}

func rowsOf(ps []Prompt) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.Row
	}
	return out
}

func isPermutation(rows []int64, of []int64) bool {
	a, b := slices.Clone(rows), slices.Clone(of)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestEpochOrder(t *testing.T) {
	d := open(t, "testdata/std", Options{ReadAhead: 8})
	all := rowsOf(collect(t, d.All()))
	byEpoch := map[int][]int64{}
	for epoch := range 4 {
		got := collect(t, d.Epoch(epoch, 42))
		rows := rowsOf(got)
		if !isPermutation(rows, all) {
			t.Fatalf("epoch %d is not a permutation of the rows: %v", epoch, rows)
		}
		for _, p := range got {
			q, _ := d.Row(p.Row)
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("epoch %d yielded %+v for row %d, Row gives %+v", epoch, p, p.Row, q)
			}
		}
		if again := rowsOf(collect(t, d.Epoch(epoch, 42))); !slices.Equal(rows, again) {
			t.Errorf("epoch %d: two iterations differ", epoch)
		}
		for e, prev := range byEpoch {
			if slices.Equal(prev, rows) {
				t.Errorf("epochs %d and %d have the same order", e, epoch)
			}
		}
		byEpoch[epoch] = rows
	}
	if slices.Equal(rowsOf(collect(t, d.Epoch(0, 43))), byEpoch[0]) {
		t.Error("seeds 42 and 43 give the same order")
	}
	// A fresh Dataset (another "run") gives the same order.
	d2 := open(t, "testdata/std.jsonl", Options{ReadAhead: 3})
	if got := rowsOf(collect(t, d2.Epoch(1, 42))); !slices.Equal(got, byEpoch[1]) {
		t.Error("the same (seed, epoch) gives another order on another Dataset")
	}
}

// TestShuffleUniform: the first element of the order, over many seeds (and over many epochs),
// is uniform by a chi-square test; a biased shuffle (e.g. j drawn from [0, i) instead of
// [0, i]) fails it.
func TestShuffleUniform(t *testing.T) {
	const n, trials = 10, 20000
	const crit = 27.877 // chi-square, 9 degrees of freedom, p = 0.001
	chi2 := func(first func(k int) int64) (float64, [n]int) {
		var counts [n]int
		for k := range trials {
			counts[first(k)]++
		}
		e := float64(trials) / n
		x := 0.0
		for _, c := range counts {
			x += (float64(c) - e) * (float64(c) - e) / e
		}
		return x, counts
	}
	if x, c := chi2(func(k int) int64 { return shuffle(n, uint64(k), 0)[0] }); x > crit {
		t.Errorf("first element over seeds: chi2 = %.1f > %.1f, counts %v", x, crit, c)
	}
	if x, c := chi2(func(k int) int64 { return shuffle(n, 7, k)[0] }); x > crit {
		t.Errorf("first element over epochs: chi2 = %.1f > %.1f, counts %v", x, crit, c)
	}
	if x, c := chi2(func(k int) int64 { return shuffle(n, uint64(k), 3)[n-1] }); x > crit {
		t.Errorf("last element over seeds: chi2 = %.1f > %.1f, counts %v", x, crit, c)
	}
}

// TestStreaming: a dataset of 40 row groups is read without ever holding more than
// CacheGroups of them, and an in-order pass decodes each group once.
func TestStreaming(t *testing.T) {
	for _, k := range []int{1, 2, 3} {
		d := open(t, "testdata/many.parquet", Options{CacheGroups: k, ReadAhead: 16})
		if n := len(d.groupStarts[0]) - 1; n != 40 {
			t.Fatalf("many.parquet has %d row groups, want 40", n)
		}
		got := collect(t, d.Epoch(0, 1))
		if len(got) != 200 {
			t.Fatalf("epoch yielded %d rows", len(got))
		}
		if d.cache.maxHeld > k {
			t.Errorf("CacheGroups %d: held %d row groups at once", k, d.cache.maxHeld)
		}
		// Each window of 16 prompts decodes each of its groups once: at most 16 reads per
		// window, and fewer when prompts share a group.
		if d.cache.reads > 200 || d.cache.reads < 40 {
			t.Errorf("CacheGroups %d: %d row-group reads for an epoch of 200 rows in 40 groups", k, d.cache.reads)
		}
		// A window spanning the whole epoch decodes every group exactly once.
		d.opts.ReadAhead = 200
		d.cache.reads = 0
		collect(t, d.Epoch(1, 1))
		if d.cache.reads != 40 {
			t.Errorf("CacheGroups %d: one window of 200 rows decoded %d groups, want 40", k, d.cache.reads)
		}
		d.cache.reads = 0
		collect(t, d.All())
		if d.cache.reads != 40 {
			t.Errorf("in-order pass decoded %d groups, want 40", d.cache.reads)
		}
	}
	// JSON Lines files are grouped the same way.
	defer func(n int64) { jsonlGroupRows = n }(jsonlGroupRows)
	jsonlGroupRows = 4
	d := open(t, "testdata/std.jsonl", Options{CacheGroups: 2, ReadAhead: 7})
	if n := len(d.groupStarts[0]) - 1; n != 16 {
		t.Fatalf("std.jsonl has %d groups of 4, want 16", n)
	}
	exp := loadExpected(t)["std"]
	for _, p := range collect(t, d.Epoch(3, 9)) {
		if w := exp[p.Row].prompt(Standard); !reflect.DeepEqual(p, w) {
			t.Errorf("row %d: %+v, want %+v", p.Row, p, w)
		}
	}
	if d.cache.maxHeld > 2 {
		t.Errorf("held %d groups", d.cache.maxHeld)
	}
}

func TestSetPos(t *testing.T) {
	d := open(t, "testdata/conv", Options{ReadAhead: 4})
	full := collect(t, d.Epoch(2, 5))
	for _, k := range []int64{0, 3, 11, int64(len(full))} {
		it := d.Epoch(2, 5)
		if err := it.SetPos(k); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, it); !reflect.DeepEqual(got, full[k:]) && !(len(got) == 0 && k == int64(len(full))) {
			t.Errorf("SetPos(%d): got rows %v, want %v", k, rowsOf(got), rowsOf(full[k:]))
		}
		if it.Pos() != int64(len(full)) {
			t.Errorf("Pos at the end = %d", it.Pos())
		}
	}
	if err := d.Epoch(0, 0).SetPos(int64(len(full)) + 1); err == nil {
		t.Error("SetPos past the end: no error")
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := strings.Repeat(`{"prompt": "ok"}`+"\n", 16)
	cases := []struct {
		name  string
		path  string
		opts  Options
		kind  error
		parts []string // substrings the message must hold
	}{
		{"not found", "testdata/nope.parquet", Options{}, fs.ErrNotExist, []string{"nope.parquet"}},
		{"bad magic", write("bad.parquet", "this is not a parquet file at all"), Options{}, ErrNotParquet,
			[]string{"bad.parquet", "not a parquet file", `"PAR1"`, `"this"`}},
		{"tiny", write("tiny.parquet", "PAR1"), Options{}, ErrNotParquet, []string{"tiny.parquet"}},
		{"missing column", "testdata/std", Options{Column: "text"}, ErrMissingColumn,
			[]string{"train-00000-of-00003.parquet", `no column "text"`, "columns: id, prompt"}},
		{"int column", "testdata/int.parquet", Options{}, ErrColumnType,
			[]string{"int.parquet: prompt:", "want string", "got int64"}},
		{"list of strings", "testdata/list_string.parquet", Options{}, ErrColumnType,
			[]string{"list_string.parquet: prompt:", "got list<"}},
		{"struct without content", "testdata/no_content.parquet", Options{}, ErrColumnType,
			[]string{"no_content.parquet: prompt:", "text: utf8"}},
		{"jsonl not JSON", write("a.jsonl", good[:34]+"{prompt: 'x'}\n"), Options{}, ErrNotJSON,
			[]string{"a.jsonl:3: not JSON"}},
		{"jsonl not an object", write("b.jsonl", `["x"]`+"\n"), Options{}, ErrNotJSON,
			[]string{"b.jsonl:1: want a JSON object, got array"}},
		{"jsonl lacks the key", write("c.jsonl", `{"prompt": "x"}`+"\n"+`{"text": "x"}`+"\n"), Options{}, ErrMissingColumn,
			[]string{`c.jsonl:2: no key "prompt"`}},
		{"jsonl number", write("data.jsonl", good+`{"prompt": 3}`+"\n"), Options{}, ErrColumnType,
			[]string{"dataset: " + filepath.Join(dir, "data.jsonl") + ":17: prompt: want a string or a list of {role, content}, got number"}},
		{"jsonl object", write("d.jsonl", `{"q": {"a": 1}}`), Options{Column: "q"}, ErrColumnType,
			[]string{"d.jsonl:1: q: want a string or a list of {role, content}, got object"}},
		{"jsonl message not an object", write("e.jsonl", `{"prompt": [1]}`), Options{}, ErrColumnType,
			[]string{"e.jsonl:1: prompt[0]: want a {role, content} object, got number"}},
		{"jsonl message lacks role", write("f.jsonl", `{"prompt": [{"content": "hi"}]}`), Options{}, ErrColumnType,
			[]string{`f.jsonl:1: prompt[0]: no key "role"`}},
		{"jsonl content not a string", write("g.jsonl", `{"prompt": [{"role": "user", "content": [{"type": "text"}]}]}`),
			Options{}, ErrColumnType, []string{"g.jsonl:1: prompt[0].content: want a string, got array"}},
		{"jsonl mixed formats", write("h.jsonl", "\n"+`{"prompt": null}`+"\n"+`{"prompt": "x"}`+"\n"+`{"prompt": []}`+"\n"),
			Options{}, ErrColumnType, []string{"h.jsonl:4: prompt: a conversational prompt, but line 3 holds a standard one"}},
		{"shards of two formats", func() string {
			write("mix/train-0.jsonl", `{"prompt": "x"}`)
			write("mix/train-1.jsonl", `{"prompt": [{"role": "user", "content": "x"}]}`)
			return filepath.Join(dir, "mix")
		}(), Options{}, ErrColumnType, []string{"train-1.jsonl", "conversational", "train-0.jsonl"}},
		{"no split files", "testdata/std", Options{Split: "validation"}, ErrNoFiles,
			[]string{`split "validation"`, "validation*"}},
		{"glob without matches", "testdata/std/nothing-*.parquet", Options{}, ErrNoFiles, []string{"nothing-*"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Open(c.path, c.opts)
			if err == nil {
				d.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			for _, s := range c.parts {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestFilter(t *testing.T) {
	exp := loadExpected(t)["std"]
	const limit = 40
	long := func(p Prompt) (bool, string) {
		if len(p.Text) > limit {
			return false, fmt.Sprintf("longer than %d bytes", limit)
		}
		return true, ""
	}
	// The expected outcome, from pyarrow's rows.
	var wantKept, wantEmpty, wantLong []int64
	for _, w := range exp {
		switch {
		case w.Text == nil || *w.Text == "":
			wantEmpty = append(wantEmpty, w.Row+1)
		case len(*w.Text) > limit:
			wantLong = append(wantLong, w.Row+1)
		default:
			wantKept = append(wantKept, w.Row)
		}
	}
	if len(wantEmpty) != 2 || len(wantLong) < 11 || len(wantKept) < 10 {
		t.Fatalf("test data: %d empty, %d long, %d kept", len(wantEmpty), len(wantLong), len(wantKept))
	}

	t.Run("reject", func(t *testing.T) {
		d := open(t, "testdata/std", Options{})
		rep, err := d.Filter(long, Reject)
		var re *RejectedError
		if !errors.As(err, &re) || re.Report != rep {
			t.Fatalf("Filter(Reject) = %v, want a *RejectedError", err)
		}
		if d.Len() != int64(len(exp)) {
			t.Errorf("Reject changed the dataset: Len %d", d.Len())
		}
		if !strings.Contains(err.Error(), "empty prompt: 2 (rows 6, 24)") {
			t.Errorf("error %q does not list the empty rows", err)
		}
	})

	t.Run("skip", func(t *testing.T) {
		d := open(t, "testdata/std.jsonl", Options{})
		rep, err := d.Filter(long, Skip)
		if err != nil {
			t.Fatal(err)
		}
		want := &Report{Checked: int64(len(exp)), Rejected: int64(len(wantEmpty) + len(wantLong)), Reasons: []Reason{
			{Reason: "longer than 40 bytes", Count: int64(len(wantLong)), Rows: wantLong[:ReportRows]},
			{Reason: EmptyReason, Count: 2, Rows: wantEmpty},
		}}
		if wantEmpty[0] < wantLong[0] {
			want.Reasons[0], want.Reasons[1] = want.Reasons[1], want.Reasons[0]
		}
		if !reflect.DeepEqual(rep, want) {
			t.Errorf("report\n %+v\nwant\n %+v", rep, want)
		}
		s := rep.String()
		for _, part := range []string{
			fmt.Sprintf("checked %d prompts, rejected %d (row numbers are 1-based", len(exp), want.Rejected),
			"empty prompt: 2 (rows 6, 24)",
			fmt.Sprintf("and %d more)", len(wantLong)-ReportRows),
		} {
			if !strings.Contains(s, part) {
				t.Errorf("String() = %q lacks %q", s, part)
			}
		}
		if d.Len() != int64(len(wantKept)) {
			t.Fatalf("Len after Skip = %d, want %d", d.Len(), len(wantKept))
		}
		if got := rowsOf(collect(t, d.All())); !slices.Equal(got, wantKept) {
			t.Errorf("All after Skip = %v, want %v", got, wantKept)
		}
		ep := collect(t, d.Epoch(0, 42))
		if !isPermutation(rowsOf(ep), wantKept) {
			t.Errorf("epoch after Skip is not a permutation of the kept rows")
		}
		// Filtering again narrows further; a check with no reason still gets one.
		rep, err = d.Filter(func(p Prompt) (bool, string) { return p.Row != wantKept[0], "" }, Skip)
		if err != nil || rep.Checked != int64(len(wantKept)) || rep.Rejected != 1 ||
			rep.Reasons[0].Reason != "rejected by the check" || rep.Reasons[0].Rows[0] != wantKept[0]+1 {
			t.Errorf("second Filter: %+v, %v", rep, err)
		}
		if d.Len() != int64(len(wantKept)-1) {
			t.Errorf("Len after second Filter = %d", d.Len())
		}
		// An Iterator made before a Filter that drops rows stops with an error.
		it := d.Epoch(0, 1)
		it.Next()
		if _, err := d.Filter(func(p Prompt) (bool, string) { return p.Row != wantKept[1], "x" }, Skip); err != nil {
			t.Fatal(err)
		}
		if it.Next() || it.Err() == nil {
			t.Error("an Iterator went on after Filter changed the dataset")
		}
	})

	t.Run("conversational empties", func(t *testing.T) {
		d := open(t, "testdata/conv", Options{})
		rep, err := d.Filter(nil, Skip)
		if err != nil {
			t.Fatal(err)
		}
		// Rows 4 (no messages), 9 (one empty content) and 12 (null) of gen_golden.py.
		want := []Reason{{Reason: EmptyReason, Count: 3, Rows: []int64{5, 10, 13}}}
		if !reflect.DeepEqual(rep.Reasons, want) || d.Len() != 21 {
			t.Errorf("reasons %+v, Len %d; want %+v, 21", rep.Reasons, d.Len(), want)
		}
	})

	t.Run("nothing rejected", func(t *testing.T) {
		d := open(t, "testdata/many.parquet", Options{})
		rep, err := d.Filter(nil, Reject)
		if err != nil || rep.String() != "checked 200 prompts, rejected 0" || d.Len() != 200 {
			t.Errorf("Filter = %v, %v, Len %d", rep, err, d.Len())
		}
	})
}

func TestPromptEmpty(t *testing.T) {
	for _, c := range []struct {
		p    Prompt
		want bool
	}{
		{Prompt{}, true},
		{Prompt{Text: " \n\t"}, true},
		{Prompt{Text: "x"}, false},
		{Prompt{Messages: []Message{}}, true},
		{Prompt{Messages: []Message{{Role: "system", Content: ""}, {Role: "user", Content: " "}}}, true},
		{Prompt{Messages: []Message{{Role: "system", Content: ""}, {Role: "user", Content: "hi"}}}, false},
	} {
		if got := c.p.Empty(); got != c.want {
			t.Errorf("%+v.Empty() = %v", c.p, got)
		}
	}
}

func TestPolicyText(t *testing.T) {
	for _, p := range []Policy{Skip, Reject} {
		b, _ := p.MarshalText()
		var q Policy
		if err := q.UnmarshalText(b); err != nil || q != p {
			t.Errorf("%v round-trips to %v, %v", p, q, err)
		}
	}
	var q Policy
	if err := q.UnmarshalText([]byte("drop")); err == nil {
		t.Error(`UnmarshalText("drop"): no error`)
	}
}

func TestClose(t *testing.T) {
	d, err := Open("testdata/std", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Row(0); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Row(0); err == nil {
		t.Error("Row after Close: no error")
	}
	if it := d.Epoch(0, 0); it.Next() || it.Err() == nil {
		t.Error("Epoch after Close: no error")
	}
}
