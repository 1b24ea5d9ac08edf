package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/nashmd/nashmd/trainer"
)

// progress is a bar on a terminal and one plain line per logging step otherwise.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("nash-md"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) update(st trainer.State, line trainer.Stats, elapsed time.Duration) {
	desc := fmt.Sprintf("loss %.4f kl %.3f p %.3f", line["loss"], line["loss/kl"], line["rewards/probabilities"])
	if p.bar != nil {
		p.bar.Describe(desc)
		p.bar.Set(st.GlobalStep)
		return
	}
	fmt.Fprintf(p.w, "step %d/%d epoch %.2f %s lr %.3g grad_norm %.3g prompts/s %.2f (%s)\n",
		st.GlobalStep, st.MaxSteps, st.Epoch, desc, line["learning_rate"], line["grad_norm"], line["prompts_per_s"], elapsed.Round(time.Second))
}

func (p *progress) message(s string) {
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
