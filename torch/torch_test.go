package torch_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

func TestVersionAndRuntime(t *testing.T) {
	v := torch.Version()
	if !strings.HasPrefix(v, "1.13") && !strings.HasPrefix(v, "2.") {
		t.Fatalf("libtorch version %q: want 1.13 or 2.x", v)
	}
	if n := torch.NumThreads(); n < 1 {
		t.Fatalf("NumThreads = %d", n)
	}
	if err := torch.SetNumThreads(0); !errors.Is(err, torch.ErrArg) {
		t.Fatalf("SetNumThreads(0) = %v, want ErrArg", err)
	}
	t.Logf("libtorch %s, %d threads, CUDA %v (%d devices)", v, torch.NumThreads(), torch.CUDAAvailable(), torch.CUDADeviceCount())
}

func TestRoundTripHost(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	f := s.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	i := s.FromInt64([]int64{-1, 0, 1 << 40}, 3)
	b := s.FromBool([]bool{true, false, true, true})
	i32 := s.FromInt32([]int32{7, -8})
	d := s.FromFloat64([]float64{math.Pi})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got := f.Shape(); !slices.Equal(got, []int64{2, 3}) || f.DType() != torch.Float32 || f.Device() != torch.CPU {
		t.Fatalf("float tensor is %v", f)
	}
	if got, err := f.Float32s(); err != nil || !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("Float32s = %v, %v", got, err)
	}
	if got, err := i.Int64s(); err != nil || !slices.Equal(got, []int64{-1, 0, 1 << 40}) {
		t.Fatalf("Int64s = %v, %v", got, err)
	}
	if got, err := b.Bools(); err != nil || !slices.Equal(got, []bool{true, false, true, true}) {
		t.Fatalf("Bools = %v, %v", got, err)
	}
	if got, err := i32.Int32s(); err != nil || !slices.Equal(got, []int32{7, -8}) {
		t.Fatalf("Int32s = %v, %v", got, err)
	}
	if got, err := d.Item(); err != nil || got != math.Pi {
		t.Fatalf("Item = %v, %v", got, err)
	}
	// Transposed (non-contiguous) tensors read back row-major.
	if got, err := s.Transpose(f, 0, 1).Float32s(); err != nil || !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Fatalf("transposed Float32s = %v, %v", got, err)
	}
	// bfloat16 through raw bits: 1.5 is 0x3FC0, -2 is 0xC000.
	h := s.FromBytes([]byte{0xC0, 0x3F, 0x00, 0xC0}, torch.BFloat16, torch.CPU, 2)
	if got, err := s.To(h, torch.Float32, torch.CPU).Float32s(); err != nil || !slices.Equal(got, []float32{1.5, -2}) {
		t.Fatalf("bf16 = %v, %v", got, err)
	}
	// Reading with the wrong type is a dtype error, not garbage.
	if _, err := i.Float32s(); !errors.Is(err, torch.ErrDType) {
		t.Fatalf("Float32s on int64 = %v, want ErrDType", err)
	}
}

func TestCreation(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	z := s.Zeros([]int64{2, 2}, torch.Float32, torch.CPU)
	o := s.Ones([]int64{3}, torch.Int64, torch.CPU)
	f := s.Full([]int64{}, 2.5, torch.Float64, torch.CPU)
	a := s.Arange(0, 10, 3, torch.Int64, torch.CPU)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := z.Float32s(); !slices.Equal(got, []float32{0, 0, 0, 0}) {
		t.Errorf("Zeros = %v", got)
	}
	if got, _ := o.Int64s(); !slices.Equal(got, []int64{1, 1, 1}) {
		t.Errorf("Ones = %v", got)
	}
	if got, _ := f.Item(); got != 2.5 || f.Dim() != 0 {
		t.Errorf("Full = %v (dim %d)", got, f.Dim())
	}
	if got, _ := a.Int64s(); !slices.Equal(got, []int64{0, 3, 6, 9}) {
		t.Errorf("Arange = %v", got)
	}
}

func TestHostSizeMismatch(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	if x := s.FromFloat32([]float32{1, 2, 3}, 2, 2); x != nil {
		t.Fatal("got a tensor from 3 values for shape [2 2]")
	}
	var e *torch.Error
	if !errors.As(s.Err(), &e) || e.Code != torch.CodeShape || !strings.Contains(e.Msg, "12 bytes") {
		t.Fatalf("err = %v, want a shape error naming the byte count", s.Err())
	}
}

// TestShapeErrorFromLibtorch: libtorch's own message reaches Go, typed.
func TestShapeErrorFromLibtorch(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	a := s.Zeros([]int64{2, 3}, torch.Float32, torch.CPU)
	b := s.Zeros([]int64{4, 5}, torch.Float32, torch.CPU)
	if c := s.Matmul(a, b); c != nil {
		t.Fatal("Matmul of 2x3 by 4x5 returned a tensor")
	}
	var e *torch.Error
	if !errors.As(s.Err(), &e) {
		t.Fatalf("err = %#v, want *torch.Error", s.Err())
	}
	if e.Op != "Matmul" || e.Code != torch.CodeShape || !errors.Is(e, torch.ErrShape) {
		t.Errorf("err = %+v, want Op Matmul, CodeShape", e)
	}
	if !strings.Contains(e.Msg, "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)") {
		t.Errorf("message %q does not carry libtorch's text", e.Msg)
	}
	if strings.Contains(e.Msg, "Exception raised from") {
		t.Errorf("message carries libtorch's backtrace: %q", e.Msg)
	}
	// The Scope is now stuck: later calls do nothing and keep the first error.
	if x := s.Add(a, a); x != nil || s.Err() != e {
		t.Errorf("call after an error ran: %v, err %v", x, s.Err())
	}
}

// TestErrorsInParallel: 1,000 goroutines (not locked to OS threads) each get
// their own libtorch error back, with their own sizes in the message.
func TestErrorsInParallel(t *testing.T) {
	const n = 1000
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := torch.NewScope()
			defer s.Close()
			a := s.Zeros([]int64{int64(i + 1), 3}, torch.Float32, torch.CPU)
			b := s.Zeros([]int64{int64(i + 4), 2}, torch.Float32, torch.CPU)
			s.Matmul(a, b)
			errs[i] = s.Err()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		want := fmt.Sprintf("(%dx3 and %dx2)", i+1, i+4)
		var e *torch.Error
		if !errors.As(err, &e) || !strings.Contains(e.Msg, want) || e.Code != torch.CodeShape {
			t.Fatalf("goroutine %d: err = %v, want a shape error containing %q", i, err, want)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2})
	ids := s.FromFloat32([]float32{0})
	type errCase struct {
		name string
		do   func(s *torch.Scope)
		want error
	}
	cases := []errCase{
		{"nil input", func(s *torch.Scope) { s.Exp(nil) }, torch.ErrArg},
		{"bad dim", func(s *torch.Scope) { s.SumDim(x, 5, false) }, torch.ErrShape},
		{"index out of range", func(s *torch.Scope) { s.IndexSelect(x, 0, s.FromInt64([]int64{7})) }, torch.ErrShape},
		{"gather float index", func(s *torch.Scope) { s.Gather(x, 0, ids) }, torch.ErrDType},
		{"cuda", func(s *torch.Scope) { s.To(x, torch.Float32, torch.CUDA(0)) }, torch.ErrNoCUDA},
		{"view needs copy", func(s *torch.Scope) {
			s.View(s.Transpose(s.Zeros([]int64{2, 3}, torch.Float32, torch.CPU), 0, 1), 6)
		}, torch.ErrShape},
		{"empty cat", func(s *torch.Scope) { s.Cat(0) }, torch.ErrArg},
	}
	if torch.CUDAAvailable() {
		cases = slices.DeleteFunc(cases, func(c errCase) bool { return c.name == "cuda" })
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := torch.NewScope()
			defer cs.Close()
			c.do(cs)
			if !errors.Is(cs.Err(), c.want) {
				t.Fatalf("err = %v, want %v", cs.Err(), c.want)
			}
			t.Log(cs.Err())
		})
	}
}

// TestLeaks: 10,000 op calls inside scopes, some failing, leave the live
// handle count where it started.
func TestLeaks(t *testing.T) {
	before := torch.LiveTensors()
	w := func() *torch.Tensor {
		s := torch.NewScope()
		defer s.Close()
		return s.Keep(s.Randn(nil, []int64{4, 4}, torch.Float32, torch.CPU))
	}()
	if torch.LiveTensors() != before+1 {
		t.Fatalf("after Keep: %d live, want %d", torch.LiveTensors(), before+1)
	}
	calls := 0
	for i := range 200 {
		s := torch.NewScope()
		x := s.FromFloat32([]float32{1, 2, 3, 4}, 4, 1)
		calls++
		for j := range 49 {
			switch j % 7 {
			case 0:
				x = s.Add(s.Matmul(w, x), x)
				calls += 2
			case 1:
				x = s.Sigmoid(x)
				calls++
			case 2:
				s.Keep(s.Exp(x)).Close() // kept, then closed by hand
				calls++
			case 3:
				lp := s.LogSoftmax(s.Reshape(x, 1, 4), 1)
				s.Sum(lp)
				calls += 3
			case 4:
				s.Cat(0, x, x)
				calls++
			case 5:
				if i%10 == 0 {
					// A failing call in a fresh scope: no handle escapes.
					bad := torch.NewScope()
					bad.Matmul(x, x)
					bad.Close()
					calls++
				} else {
					s.MulScalar(x, 0.5)
					calls++
				}
			case 6:
				s.Transpose(x, 0, 1)
				calls++
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	w.Close()
	w.Close() // idempotent
	if calls < 10000 {
		t.Fatalf("only %d calls", calls)
	}
	if after := torch.LiveTensors(); after != before {
		t.Fatalf("%d calls: live tensors %d -> %d", calls, before, after)
	}
	t.Logf("%d calls, live tensors %d -> %d", calls, before, torch.LiveTensors())
}

func TestAutogradAndNoGrad(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2, 3})
	if err := x.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	y := s.Sum(s.Mul(x, x)) // d/dx = 2x
	if err := y.Backward(nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Grad(x).Float32s(); !slices.Equal(got, []float32{2, 4, 6}) {
		t.Fatalf("grad = %v, want [2 4 6]", got)
	}
	// A second backward accumulates.
	if err := s.Sum(x).Backward(nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Grad(x).Float32s(); !slices.Equal(got, []float32{3, 5, 7}) {
		t.Fatalf("accumulated grad = %v, want [3 5 7]", got)
	}
	if err := x.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	if g := s.Grad(x); g != nil || s.Err() != nil {
		t.Fatalf("grad after ZeroGrad = %v, %v", g, s.Err())
	}
	// Non-scalar backward needs a gradient.
	v := s.Mul(x, x)
	if err := v.Backward(nil); !errors.Is(err, torch.ErrTorch) && !errors.Is(err, torch.ErrShape) {
		t.Fatalf("Backward of a vector without grad = %v", err)
	}
	if err := v.Backward(s.Ones([]int64{3}, torch.Float32, torch.CPU)); err != nil {
		t.Fatal(err)
	}
	// Under NoGrad, results do not require grad; afterwards they do again.
	err := torch.NoGrad(func() error {
		if torch.GradEnabled() {
			return errors.New("grad enabled inside NoGrad")
		}
		if s.Mul(x, x).RequiresGrad() {
			return errors.New("result requires grad inside NoGrad")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Mul(x, x).RequiresGrad() {
		t.Fatal("grad mode not restored after NoGrad")
	}
}

// TestMultinomialStatistics: seeded multinomial is not golden (RNGs differ
// between implementations); its frequencies must fit the probabilities.
func TestMultinomialStatistics(t *testing.T) {
	probs := []float32{0.1, 0.2, 0.3, 0.4, 0} // unnormalised is allowed; 0 never drawn
	const n = 20000
	draw := func(seed uint64) []int64 {
		g, err := torch.NewGenerator(seed, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		s := torch.NewScope()
		defer s.Close()
		p := s.MulScalar(s.FromFloat32(probs), 3)
		ids, err := s.Multinomial(p, n, true, g).Int64s()
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	ids := draw(7)
	counts := make([]float64, len(probs))
	for _, id := range ids {
		counts[id]++
	}
	if counts[4] != 0 {
		t.Fatalf("zero-probability category drawn %v times", counts[4])
	}
	chi2 := 0.0
	for k := range 4 {
		e := n * float64(probs[k])
		chi2 += (counts[k] - e) * (counts[k] - e) / e
	}
	// 3 degrees of freedom; P(chi2 > 16.27) = 0.001.
	if chi2 > 16.27 {
		t.Fatalf("chi-square %.2f over 3 dof: counts %v do not fit %v", chi2, counts, probs)
	}
	if !slices.Equal(draw(7), ids) {
		t.Fatal("same seed gave different samples")
	}
	if slices.Equal(draw(8), ids) {
		t.Fatal("different seeds gave the same samples")
	}
	t.Logf("counts %v, chi2 %.2f", counts, chi2)
}

func TestRandnStatistics(t *testing.T) {
	g, err := torch.NewGenerator(1, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s := torch.NewScope()
	defer s.Close()
	x, err := s.Randn(g, []int64{100000}, torch.Float64, torch.CPU).Float64s()
	if err != nil {
		t.Fatal(err)
	}
	var m, v float64
	for _, e := range x {
		m += e
	}
	m /= float64(len(x))
	for _, e := range x {
		v += (e - m) * (e - m)
	}
	v /= float64(len(x) - 1)
	// Standard errors: mean 0.0032, variance 0.0045; allow 5 of them.
	if math.Abs(m) > 0.016 || math.Abs(v-1) > 0.023 {
		t.Fatalf("randn mean %.4f variance %.4f", m, v)
	}
	if bf := s.Randn(g, []int64{3}, torch.BFloat16, torch.CPU); bf.DType() != torch.BFloat16 {
		t.Fatalf("bf16 randn is %v", bf)
	}
}

// TestSafetensorsThroughTorch: bf16/f16/f32/i64 go tensor → file → tensor unchanged.
func TestSafetensorsThroughTorch(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	src := s.Randn(nil, []int64{3, 5}, torch.Float32, torch.CPU)
	tensors := map[string]*torch.Tensor{
		"f32":  src,
		"bf16": s.To(src, torch.BFloat16, torch.CPU),
		"f16":  s.To(src, torch.Float16, torch.CPU),
		"i64":  s.Arange(-5, 5, 1, torch.Int64, torch.CPU),
	}
	var list []safetensors.Tensor
	for _, name := range []string{"f32", "bf16", "f16", "i64"} {
		st, err := tensors[name].Safetensor(name)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, st)
	}
	path := t.TempDir() + "/x.safetensors"
	if err := safetensors.WriteFile(path, list, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, want := range tensors {
		st, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		got := s.FromSafetensors(st, torch.CPU)
		eq, err := s.All(s.Eq(got, want)).Item()
		if err != nil || eq != 1 || got.DType() != want.DType() || !slices.Equal(got.Shape(), want.Shape()) {
			t.Errorf("%s: got %v, want %v (equal %v, %v)", name, got, want, eq, err)
		}
	}
}

// TestHostBufferSources: tensors streamed through one reused HostBuffer
// (largest in the middle, then smaller ones, a transposed view, a scalar and
// an empty tensor) give the same file as Write of their Safetensor copies,
// without leaking tensors; a closed tensor is refused.
func TestHostBufferSources(t *testing.T) {
	live := torch.LiveTensors()
	s := torch.NewScope()
	big := s.Randn(nil, []int64{64, 33}, torch.Float32, torch.CPU)
	ts := []*torch.Tensor{
		s.To(s.Randn(nil, []int64{4, 3}, torch.Float32, torch.CPU), torch.BFloat16, torch.CPU),
		big,
		s.Arange(-5, 5, 1, torch.Int64, torch.CPU),
		s.Transpose(s.Randn(nil, []int64{5, 7}, torch.Float32, torch.CPU), 0, 1),
		s.To(s.Randn(nil, []int64{6}, torch.Float32, torch.CPU), torch.Float16, torch.CPU),
		s.Zeros([]int64{}, torch.Float64, torch.CPU),
		s.Zeros([]int64{0, 3}, torch.Float32, torch.CPU),
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	var buf torch.HostBuffer
	var srcs []safetensors.Source
	var want []safetensors.Tensor
	for i, x := range ts {
		name := fmt.Sprintf("t%d", i)
		src, err := buf.Source(name, x)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
		st, err := x.Safetensor(name)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, st)
	}
	var got, exp bytes.Buffer
	if err := safetensors.WriteStream(&got, srcs, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(&exp, want, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), exp.Bytes()) {
		t.Error("streamed file differs from Write of the Safetensor copies")
	}

	closed := s.Zeros([]int64{2}, torch.Float32, torch.CPU)
	s.Keep(closed)
	closed.Close()
	if _, err := buf.Source("closed", closed); err == nil {
		t.Error("HostBuffer.Source of a closed tensor succeeded")
	}
	s.Close()
	if grew := torch.LiveTensors() - live; grew != 0 {
		t.Errorf("%d tensors leaked", grew)
	}
}
