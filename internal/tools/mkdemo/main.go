// Command mkdemo writes the demo's prompts: questions with known answers
// from Debian's bsdgames quiz files (capitals of four continents, chemical
// element symbols), split into train and held-out test sets by a fixed seed,
// as a parquet dataset in the Hugging Face layout (data/train-*.parquet,
// data/test-*.parquet, conversational "prompt" column, "answer" column) plus
// answers.jsonl for the exact_answer judge.
//
//	go run ./internal/tools/mkdemo demo/data
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/nashmd/nashmd/internal/quiz"
)

// testShare of the questions is held out for evaluation.
const (
	testShare = 0.3
	seed      = 20261204
	suffix    = " Answer with the name only."
)

type question struct {
	text    string
	answers []string
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkdemo DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkdemo:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	var qs []question
	for _, f := range []string{"africa", "america", "asia", "europe"} {
		items, err := quiz.Read(filepath.Join(quiz.Dir, f))
		if err != nil {
			return fmt.Errorf("%w (install Debian's bsdgames: make deps)", err)
		}
		for _, it := range items {
			qs = append(qs, question{"What is the capital of " + it.Fields[0][0] + "?" + suffix, it.Fields[1]})
		}
	}
	items, err := quiz.Read(filepath.Join(quiz.Dir, "elements"))
	if err != nil {
		return err
	}
	for _, it := range items { // symbol:number:weight:element
		qs = append(qs, question{"Which chemical element has the symbol " + it.Fields[0][0] + "?" + suffix, it.Fields[3]})
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	nTest := int(float64(len(qs)) * testShare)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return err
	}
	for _, part := range []struct {
		name string
		qs   []question
	}{{"test", qs[:nTest]}, {"train", qs[nTest:]}} {
		if err := writeParquet(filepath.Join(dir, "data", part.name+"-00000-of-00001.parquet"), part.qs); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "answers.jsonl"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for _, q := range qs {
		enc.Encode(map[string]any{"prompt": []map[string]string{{"role": "user", "content": q.text}}, "answer": q.answers})
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("mkdemo: %d train and %d test questions in %s\n", len(qs)-nTest, nTest, dir)
	return nil
}

func writeParquet(path string, qs []question) error {
	msg := arrow.StructOf(arrow.Field{Name: "role", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "content", Type: arrow.BinaryTypes.String})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "prompt", Type: arrow.ListOf(msg)},
		{Name: "answer", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	pl := b.Field(0).(*array.ListBuilder)
	ps := pl.ValueBuilder().(*array.StructBuilder)
	al := b.Field(1).(*array.ListBuilder)
	as := al.ValueBuilder().(*array.StringBuilder)
	for _, q := range qs {
		pl.Append(true)
		ps.Append(true)
		ps.FieldBuilder(0).(*array.StringBuilder).Append("user")
		ps.FieldBuilder(1).(*array.StringBuilder).Append(q.text)
		al.Append(true)
		for _, a := range q.answers {
			as.Append(a)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(64)), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
