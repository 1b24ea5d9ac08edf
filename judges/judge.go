// Package judges holds the preference models Nash-MD learns from: a Judge
// says how likely one completion is preferred to another for the same prompt.
package judges

import (
	"context"
	"fmt"

	"github.com/nashmd/nashmd/hf/chat"
)

// Judge returns, for each i, P(a[i] ≻ b[i] | prompts[i]) in [0, 1].
//
// prompts are the prompts as the policy saw them (chat template applied);
// completions carry the EOS token's text at their end when the model
// produced one (so a judge can penalise a missing EOS). Implementations do
// not retain the slices. A failure is an error — per item as *ItemError —
// never a sentinel value and never a silent 0.5.
type Judge interface {
	Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error)
}

// Scorer is a Judge built on a scalar reward: it also reports each side's
// score (after any missing-EOS penalty), which the trainer logs as
// rewards/chosen and rewards/rejected.
type Scorer interface {
	Judge
	PreferScores(ctx context.Context, prompts, a, b []string) (prob, scoreA, scoreB []float64, err error)
}

// ConversationJudge can also judge from the conversation itself (datasets in
// the conversational format), so that it can render prompt and completion
// with its own chat template rather than the policy's. The trainer calls it
// when the prompts are conversations; prompts are the policy-rendered texts
// of the same conversations. Completions are as for Judge.
type ConversationJudge interface {
	Judge
	PreferConversations(ctx context.Context, prompts []string, convs [][]chat.Message, a, b []string) (prob, scoreA, scoreB []float64, err error)
}

// ItemError is the failure of one item of a batch.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return fmt.Sprintf("judge: item %d: %v", e.Index, e.Err) }
func (e *ItemError) Unwrap() error { return e.Err }

// checkLens verifies that the three slices have equal lengths.
func checkLens(prompts, a, b []string) error {
	if len(prompts) != len(a) || len(a) != len(b) {
		return fmt.Errorf("judge: %d prompts, %d and %d completions: lengths must match", len(prompts), len(a), len(b))
	}
	return nil
}
