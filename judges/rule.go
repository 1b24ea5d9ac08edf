package judges

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Rule is a deterministic judge for tests and examples. It compares
// completions (EOS text stripped) by a fixed rule:
//
//	"shorter":  the shorter completion (in runes) wins
//	"longer":   the longer one wins
//	"contains": the one containing Word wins
//
// A tie gives 0.5.
type Rule struct {
	Mode string // "shorter", "longer" or "contains"
	Word string
	// Strip is removed from the end of completions before comparing (the EOS text).
	Strip []string
}

// NewRule validates a rule judge.
func NewRule(prefer, word string, strip []string) (*Rule, error) {
	switch prefer {
	case "shorter", "longer":
	case "contains":
		if word == "" {
			return nil, fmt.Errorf("judge rule \"contains\" needs a word")
		}
	default:
		return nil, fmt.Errorf("judge rule %q is unknown (want shorter, longer or contains)", prefer)
	}
	return &Rule{Mode: prefer, Word: word, Strip: strip}, nil
}

// Prefer implements Judge.
func (r *Rule) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	out := make([]float64, len(a))
	for i := range a {
		x, y := r.value(a[i]), r.value(b[i])
		switch {
		case x > y:
			out[i] = 1
		case x < y:
			out[i] = 0
		default:
			out[i] = 0.5
		}
	}
	return out, ctx.Err()
}

func (r *Rule) value(s string) float64 {
	for _, e := range r.Strip {
		s = strings.TrimSuffix(s, e)
	}
	switch r.Mode {
	case "shorter":
		return -float64(utf8.RuneCountInString(s))
	case "longer":
		return float64(utf8.RuneCountInString(s))
	}
	if strings.Contains(s, r.Word) {
		return 1
	}
	return 0
}
