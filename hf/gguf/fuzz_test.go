package gguf

import (
	"os"
	"testing"
	"unsafe"
)

// FuzzParse checks that Parse never panics and that whatever it accepts is
// self-consistent: every tensor's data lies inside the input, and tensors of
// supported types dequantise to Numel values. Seeds: the synthetic file (all
// value and tensor types), a truncated copy of the real SmolLM2 header and
// the small valid file of the hostile tests. (Larger seeds make the fuzzer
// spend its time minimising.)
func FuzzParse(f *testing.F) {
	for _, p := range []string{synthPath, "testdata/fuzz_seed_smollm2_head.bin"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add(valid())

	f.Fuzz(func(t *testing.T, buf []byte) {
		g, err := Parse(buf)
		if err != nil {
			return
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		for _, ti := range g.Tensors {
			d, err := g.TensorData(ti.Name)
			if err != nil {
				t.Fatalf("%q: %v", ti.Name, err)
			}
			if int64(len(d)) != ti.Size {
				t.Fatalf("%q: %d bytes, Size %d", ti.Name, len(d), ti.Size)
			}
			if len(d) > 0 {
				p := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
				if p < base || p+uintptr(len(d)) > base+uintptr(len(buf)) {
					t.Fatalf("%q: data outside the input", ti.Name)
				}
			}
			if CanDequantize(ti.Type) && ti.Numel() <= 1<<16 {
				v, err := g.Dequantize(ti.Name)
				if err != nil || int64(len(v)) != ti.Numel() {
					t.Fatalf("%q: Dequantize: %d values, %v", ti.Name, len(v), err)
				}
			}
		}
		for _, kv := range g.KV {
			if a, ok := kv.Value.(Array); ok && a.Len() < 0 {
				t.Fatal("negative length")
			}
		}
	})
}
