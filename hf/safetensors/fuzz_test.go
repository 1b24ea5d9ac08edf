package safetensors

import (
	"bytes"
	"os"
	"testing"
	"unsafe"
)

// FuzzParse checks that Parse never panics on arbitrary input and that
// whatever it accepts is self-consistent: every tensor's Data has exactly
// Numel()*DType.Size() bytes and lies inside the input buffer, and the
// tensors can be written back out and parsed again.
func FuzzParse(f *testing.F) {
	for _, p := range []string{refPath, "testdata/sharded/" + shard1Name, "testdata/sharded/" + shard2Name} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	four := make([]byte, 4)
	f.Add(file(`{}`, nil))
	f.Add(file(`{"__metadata__":{"a":"b"}}  `, nil))
	f.Add(file(`{`+entry1("a", "F32", "[1]", "[0,4]")+`}`, four))
	f.Add(file(`{`+entry1("a", "F32", "[2]", "[0,8]")+`,`+entry1("b", "F32", "[2]", "[4,12]")+`}`, make([]byte, 12)))
	f.Add(file(`{`+entry1("e", "U8", "[0]", "[0,0]")+`,`+entry1("a", "BF16", "[2]", "[0,4]")+`}`, four))
	f.Add(file(`{`+entry1("a", "F32", "[4294967296,4294967296]", "[0,4]")+`}`, four))
	f.Add(file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1},"a":{}}`, four))
	f.Add(le64(1 << 62))

	f.Fuzz(func(t *testing.T, buf []byte) {
		pf, err := Parse(buf)
		if err != nil {
			return
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		var tensors []Tensor
		for _, name := range pf.Names() {
			tn, err := pf.Tensor(name)
			if err != nil {
				t.Fatalf("Names lists %q but Tensor fails: %v", name, err)
			}
			n := tn.Numel()
			if n < 0 || tn.DType.Size() == 0 {
				t.Fatalf("%q: Numel %d, dtype %q", name, n, tn.DType)
			}
			if int64(len(tn.Data)) != n*int64(tn.DType.Size()) {
				t.Fatalf("%q: len(Data) = %d, Numel %d * size %d", name, len(tn.Data), n, tn.DType.Size())
			}
			if len(tn.Data) > 0 {
				p := uintptr(unsafe.Pointer(unsafe.SliceData(tn.Data)))
				if p < base || p+uintptr(len(tn.Data)) > base+uintptr(len(buf)) {
					t.Fatalf("%q: Data [%#x,+%d) outside buf [%#x,+%d)", name, p, len(tn.Data), base, len(buf))
				}
			}
			if name != "" {
				tensors = append(tensors, tn)
			}
		}
		// Whatever Parse accepts (minus empty names, which Write refuses)
		// must survive a Write/Parse round trip.
		var out bytes.Buffer
		if err := Write(&out, tensors, pf.Metadata()); err != nil {
			t.Fatalf("Write of parsed tensors: %v", err)
		}
		pf2, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("Parse of rewritten file: %v", err)
		}
		for _, want := range tensors {
			got, err := pf2.Tensor(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != want.DType || !bytes.Equal(got.Data, want.Data) || len(got.Shape) != len(want.Shape) {
				t.Fatalf("%q changed in round trip", want.Name)
			}
		}
	})
}
