package dataset

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetShard reads the prompt column of one Parquet file, one row group at a time.
type parquetShard struct {
	name   string
	column string
	fmt    Format
	typ    arrow.DataType // the prompt column's Arrow type
	pf     *file.Reader
	fr     *pqarrow.FileReader
	leaves []int // the parquet leaf columns under the prompt field
	sizes  []int64
}

const wantType = "want string, large_string or a list of struct<role: string, content: string>"

func openParquet(path, column string) (*parquetShard, error) {
	if err := checkMagic(path); err != nil {
		return nil, err
	}
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, &Error{File: path, Msg: "reading the parquet footer", Err: err}
	}
	s := &parquetShard{name: path, column: column, pf: pf}
	if err := s.init(); err != nil {
		pf.Close()
		return nil, err
	}
	return s, nil
}

func (s *parquetShard) init() error {
	fr, err := pqarrow.NewFileReader(s.pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return &Error{File: s.name, Msg: "reading the parquet schema", Err: err}
	}
	s.fr = fr
	fi := -1
	var names []string
	for i, f := range fr.Manifest.Fields {
		names = append(names, f.Field.Name)
		if f.Field.Name == s.column && fi < 0 {
			fi = i
		}
	}
	if fi < 0 {
		return &Error{File: s.name, Kind: ErrMissingColumn,
			Msg: fmt.Sprintf("no column %q (columns: %s)", s.column, strings.Join(names, ", "))}
	}
	field := &fr.Manifest.Fields[fi]
	s.typ = field.Field.Type
	s.fmt = formatOf(s.typ)
	if s.fmt == 0 {
		return &Error{File: s.name, Kind: ErrColumnType,
			Msg: fmt.Sprintf("%s: %s, got %s", s.column, wantType, field.Field.Type)}
	}
	s.leaves = leaves(field, nil)
	for _, rg := range s.pf.MetaData().RowGroups {
		s.sizes = append(s.sizes, rg.GetNumRows())
	}
	return nil
}

// checkMagic tells a Parquet file by "PAR1" at both ends, before the footer parser sees it.
func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	var head, tail [4]byte
	_, _ = f.ReadAt(head[:min(4, fi.Size())], 0) // short files are judged below
	_, _ = f.ReadAt(tail[:min(4, fi.Size())], max(0, fi.Size()-4))
	if fi.Size() >= 12 && string(head[:]) == "PAR1" && string(tail[:]) == "PAR1" {
		return nil
	}
	return &Error{File: path, Kind: ErrNotParquet, Msg: fmt.Sprintf(
		"not a parquet file: want magic \"PAR1\" at both ends of at least 12 bytes, got %q … %q in %d bytes",
		bytes.TrimRight(head[:], "\x00"), bytes.TrimRight(tail[:], "\x00"), fi.Size())}
}

// leaves collects the parquet leaf column indices under a field.
func leaves(f *pqarrow.SchemaField, out []int) []int {
	if f.IsLeaf() {
		return append(out, f.ColIndex)
	}
	for i := range f.Children {
		out = leaves(&f.Children[i], out)
	}
	return out
}

// formatOf maps an Arrow type to the prompt format it holds, or 0 when unsupported.
func formatOf(t arrow.DataType) Format {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return Standard
	case arrow.LIST, arrow.LARGE_LIST:
		st, ok := t.(arrow.ListLikeType).Elem().(*arrow.StructType)
		if !ok {
			return 0
		}
		for _, name := range []string{"role", "content"} {
			f, ok := st.FieldByName(name)
			if !ok || formatOf(f.Type) != Standard {
				return 0
			}
		}
		return Conversational
	}
	return 0
}

func (s *parquetShard) path() string        { return s.name }
func (s *parquetShard) format() Format      { return s.fmt }
func (s *parquetShard) groupSizes() []int64 { return s.sizes }

func (s *parquetShard) close() error {
	if s.pf == nil {
		return nil
	}
	err := s.pf.Close()
	s.pf = nil
	return err
}

func (s *parquetShard) readGroup(g int, base int64) ([]Prompt, error) {
	tbl, err := s.fr.ReadRowGroups(context.Background(), s.leaves, []int{g})
	if err != nil {
		return nil, &Error{File: s.name, Msg: fmt.Sprintf("%s: reading row group %d", s.column, g), Err: err}
	}
	defer tbl.Release()
	out := make([]Prompt, 0, s.sizes[g])
	for _, chunk := range tbl.Column(0).Data().Chunks() {
		out, err = appendPrompts(out, chunk, base+int64(len(out)))
		if err != nil {
			return nil, &Error{File: s.name, Kind: ErrColumnType, Msg: fmt.Sprintf("%s: row group %d", s.column, g), Err: err}
		}
	}
	if int64(len(out)) != s.sizes[g] {
		return nil, &Error{File: s.name, Msg: fmt.Sprintf("%s: row group %d has %d values, its metadata says %d rows",
			s.column, g, len(out), s.sizes[g])}
	}
	return out, nil
}

// appendPrompts converts one Arrow array of prompts. Strings are copied out of Arrow's
// buffers; nulls read as empty prompts ("" or a conversation with no messages), and a null
// role or content reads as "".
func appendPrompts(out []Prompt, a arrow.Array, base int64) ([]Prompt, error) {
	switch a := a.(type) {
	case array.StringLike:
		for i := 0; i < a.Len(); i++ {
			out = append(out, Prompt{Row: base + int64(i), Text: str(a, i)})
		}
		return out, nil
	case array.ListLike:
		st, ok := a.ListValues().(*array.Struct)
		if !ok {
			return nil, fmt.Errorf("list of %s, want a list of structs", a.ListValues().DataType())
		}
		stt := st.DataType().(*arrow.StructType)
		ri, _ := stt.FieldIdx("role")
		ci, _ := stt.FieldIdx("content")
		role, ok1 := st.Field(ri).(array.StringLike)
		content, ok2 := st.Field(ci).(array.StringLike)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("got %s, want string role and content", stt)
		}
		for i := 0; i < a.Len(); i++ {
			msgs := []Message{}
			if a.IsValid(i) {
				start, end := a.ValueOffsets(i)
				for j := int(start); j < int(end); j++ {
					var m Message
					if st.IsValid(j) {
						m = Message{Role: str(role, j), Content: str(content, j)}
					}
					msgs = append(msgs, m)
				}
			}
			out = append(out, Prompt{Row: base + int64(i), Messages: msgs})
		}
		return out, nil
	}
	return nil, fmt.Errorf("got %s, %s", a.DataType(), wantType)
}

// str copies value i of a string array; null reads as "".
func str(a array.StringLike, i int) string {
	if a.IsNull(i) {
		return ""
	}
	return strings.Clone(a.Value(i))
}
