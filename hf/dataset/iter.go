package dataset

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Iterator yields a Dataset's prompts in one epoch's order. It reads ahead a window of
// Options.ReadAhead prompts at a time, visiting their row groups in file order, so one
// decoded group serves every prompt of the window that lives in it.
//
//	it := d.Epoch(epoch, seed)
//	for it.Next() {
//		p := it.Prompt()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	d     *Dataset
	gen   int     // d.gen when made
	order []int64 // positions into the served rows; nil means in order
	pos   int64   // next position to yield
	buf   []Prompt
	bufAt int64 // position of buf[0]
	cur   Prompt
	err   error
}

// Epoch returns an Iterator over every served row (Len of them) in an order that depends only
// on (seed, epoch) and Len: the same on every run and machine, and different from epoch to
// epoch. The order is a Fisher–Yates shuffle of 0 … Len-1 (for i from Len-1 down to 1, swap
// i with j = below(i+1)), drawing from splitmix64 seeded with fmix(seed) ^
// fmix(epoch + 0x632BE59BD9B4E019), where fmix is splitmix64's output function and
// below(n) is Lemire's multiply-shift with rejection; testdata/gen_golden.py re-implements it.
// The Iterator holds the order (8 bytes per row) and its read-ahead window. epoch must be ≥ 0.
func (d *Dataset) Epoch(epoch int, seed uint64) *Iterator {
	return &Iterator{d: d, gen: d.gen, order: shuffle(d.Len(), seed, epoch)}
}

// All returns an Iterator over every served row in file order.
func (d *Dataset) All() *Iterator { return &Iterator{d: d, gen: d.gen} }

// Next advances to the next prompt and reports whether there is one. It returns false at the
// end of the epoch or on an error (see Err).
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	if it.gen != it.d.gen {
		it.err = errors.New("dataset: Filter changed the dataset during iteration")
		return false
	}
	if it.pos >= it.d.Len() {
		return false
	}
	if it.pos < it.bufAt || it.pos >= it.bufAt+int64(len(it.buf)) {
		if it.err = it.fill(); it.err != nil {
			return false
		}
	}
	it.cur = it.buf[it.pos-it.bufAt]
	it.buf[it.pos-it.bufAt] = Prompt{} // the caller owns it now
	it.pos++
	return true
}

// Prompt is the current prompt; the caller owns it.
func (it *Iterator) Prompt() Prompt { return it.cur }

// Err is the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Pos is how many prompts the Iterator has yielded: the position to SetPos to when resuming.
func (it *Iterator) Pos() int64 { return it.pos }

// SetPos moves to position pos of the epoch's order (0 ≤ pos ≤ Len), so that Next yields the
// prompt that the pos-th call would have; use it to resume an epoch from a checkpoint.
func (it *Iterator) SetPos(pos int64) error {
	if pos < 0 || pos > it.d.Len() {
		return fmt.Errorf("dataset: SetPos(%d) out of range [0, %d]", pos, it.d.Len())
	}
	it.pos, it.buf, it.bufAt, it.err = pos, nil, 0, nil
	return nil
}

// row maps an epoch position to a global row.
func (it *Iterator) row(pos int64) int64 {
	i := pos
	if it.order != nil {
		i = it.order[pos]
	}
	if it.d.keep != nil {
		return it.d.keep[i]
	}
	return i
}

// fill decodes the window starting at it.pos, visiting rows in file order.
func (it *Iterator) fill() error {
	n := min(int64(it.d.opts.ReadAhead), it.d.Len()-it.pos)
	type slot struct{ row, k int64 }
	slots := make([]slot, n)
	for k := range n {
		slots[k] = slot{it.row(it.pos + k), k}
	}
	slices.SortFunc(slots, func(a, b slot) int { return cmp.Compare(a.row, b.row) })
	it.buf, it.bufAt = make([]Prompt, n), it.pos
	for _, s := range slots {
		p, err := it.d.Row(s.row)
		if err != nil {
			it.buf = nil
			return err
		}
		it.buf[s.k] = p
	}
	return nil
}

// shuffle is the permutation documented on Epoch.
func shuffle(n int64, seed uint64, epoch int) []int64 {
	r := splitmix64(fmix(seed) ^ fmix(uint64(epoch)+0x632BE59BD9B4E019))
	p := make([]int64, n)
	for i := range p {
		p[i] = int64(i)
	}
	for i := n - 1; i > 0; i-- {
		j := int64(r.below(uint64(i) + 1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// splitmix64 is Steele, Lea and Flood's SplitMix64 generator (the state is the counter).
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	return fmix(uint64(*s))
}

// fmix is SplitMix64's output function, a bijection on 64-bit words.
func fmix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// below returns a uniform integer in [0, n), n > 0, by Lemire's multiply-shift with
// rejection ("Fast random integer generation in an interval", 2019).
func (s *splitmix64) below(n uint64) uint64 {
	hi, lo := bits.Mul64(s.next(), n)
	if lo < n {
		t := -n % n
		for lo < t {
			hi, lo = bits.Mul64(s.next(), n)
		}
	}
	return hi
}
