package dataset

import (
	"fmt"
	"strings"
)

// Check decides whether a prompt is usable; when it is not, reason says why, in a few words
// shared by every row rejected for that reason ("longer than 512 tokens"), since the Report
// groups rows by reason. An empty reason reads as "rejected by the check".
type Check func(p Prompt) (ok bool, reason string)

// EmptyReason is the reason Filter gives for empty prompts (see Prompt.Empty).
const EmptyReason = "empty prompt"

// ReportRows is how many row numbers a Report keeps per reason.
const ReportRows = 10

// Policy says what Filter does with rejected rows.
type Policy int

const (
	Skip   Policy = iota // drop them from the dataset and report them
	Reject               // fail with a *RejectedError that reports them
)

func (p Policy) String() string {
	switch p {
	case Skip:
		return "skip"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// UnmarshalText reads "skip" or "reject", for configuration files.
func (p *Policy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "skip":
		*p = Skip
	case "reject":
		*p = Reject
	default:
		return fmt.Errorf("dataset: policy %q: want \"skip\" or \"reject\"", b)
	}
	return nil
}

// MarshalText writes the policy's name.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Report says what Filter rejected. Row numbers in it are 1-based (row 1 is Prompt.Row 0),
// counted across the shards in file order, as a person reads them.
type Report struct {
	Checked  int64    // rows examined
	Rejected int64    // rows that failed; under Skip, Checked-Rejected rows remain
	Reasons  []Reason // one per reason, in order of first appearance
}

// Reason counts the rows rejected for one reason.
type Reason struct {
	Reason string
	Count  int64
	Rows   []int64 // the first ReportRows of them, 1-based
}

// String is a one-line summary for logs.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d prompts, rejected %d", r.Checked, r.Rejected)
	if r.Rejected == 0 {
		return b.String()
	}
	b.WriteString(" (row numbers are 1-based across shards)")
	for i, c := range r.Reasons {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %d (row", c.Reason, c.Count)
		if len(c.Rows) > 1 {
			b.WriteString("s")
		}
		for j, row := range c.Rows {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %d", row)
		}
		if more := c.Count - int64(len(c.Rows)); more > 0 {
			fmt.Fprintf(&b, " and %d more", more)
		}
		b.WriteString(")")
	}
	return b.String()
}

func (r *Report) add(reason string, row int64) {
	r.Rejected++
	for i := range r.Reasons {
		if c := &r.Reasons[i]; c.Reason == reason {
			c.Count++
			if len(c.Rows) < ReportRows {
				c.Rows = append(c.Rows, row+1)
			}
			return
		}
	}
	r.Reasons = append(r.Reasons, Reason{Reason: reason, Count: 1, Rows: []int64{row + 1}})
}

// RejectedError is Filter's error under the Reject policy.
type RejectedError struct {
	Report *Report
}

func (e *RejectedError) Error() string { return "dataset: prompts rejected: " + e.Report.String() }

// Filter reads every served row in file order and checks it: first whether it is empty
// (rejected with EmptyReason), then with check, which may be nil. Nothing is dropped without
// appearing in the Report. Under Skip the dataset then serves only the rows that passed, and
// Filter returns the Report. Under Reject, when any row failed, the dataset is unchanged and
// the error is a *RejectedError holding the Report. On a read error the dataset is unchanged.
// Filtering twice narrows further. Iterators made before a Filter that dropped rows stop with
// an error.
func (d *Dataset) Filter(check Check, policy Policy) (*Report, error) {
	if policy != Skip && policy != Reject {
		return nil, fmt.Errorf("dataset: Filter: unknown %v", policy)
	}
	rep := &Report{}
	keep := make([]int64, 0, d.Len())
	it := d.All()
	for it.Next() {
		p := it.Prompt()
		rep.Checked++
		ok, reason := !p.Empty(), EmptyReason
		if ok && check != nil {
			ok, reason = check(p)
			if !ok && reason == "" {
				reason = "rejected by the check"
			}
		}
		if ok {
			keep = append(keep, p.Row)
		} else {
			rep.add(reason, p.Row)
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if rep.Rejected > 0 && policy == Reject {
		return rep, &RejectedError{rep}
	}
	if rep.Rejected > 0 {
		d.keep = keep
		d.gen++
	}
	return rep, nil
}
