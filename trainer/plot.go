package trainer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image/color"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots of a run's metrics.jsonl, and the evaluation lines added to it.

// Keys of the evaluation lines that AppendEvalLine writes.
const (
	KeyEvalWinRate     = "eval/win_rate"
	KeyEvalWinRateLo   = "eval/win_rate_lo"
	KeyEvalWinRateHi   = "eval/win_rate_hi"
	KeyEvalAccuracy    = "eval/accuracy"
	KeyEvalRefAccuracy = "eval/ref_accuracy"
	KeyEvalMeanProb    = "eval/mean_prob"
	KeyEvalTies        = "eval/ties"
	KeyEvalN           = "eval/n"
)

// AppendEvalLine appends to the metrics file at metricsPath (created if
// missing) one JSON line for an evaluation made at the given step:
//
//	{"step", "eval/win_rate", "eval/win_rate_lo", "eval/win_rate_hi",
//	 "eval/mean_prob", "eval/ties", "eval/n",
//	 "eval/accuracy", "eval/ref_accuracy"}
//
// the two accuracies only when r has them (answers were given).
func AppendEvalLine(metricsPath string, step int, r EvalReport) error {
	m := map[string]any{
		"step":           step,
		KeyEvalWinRate:   r.WinRate,
		KeyEvalWinRateLo: r.WinRateCI.Lo,
		KeyEvalWinRateHi: r.WinRateCI.Hi,
		KeyEvalMeanProb:  r.MeanProb,
		KeyEvalTies:      r.Ties,
		KeyEvalN:         r.N,
	}
	if r.Accuracy != nil && r.RefAccuracy != nil {
		m[KeyEvalAccuracy] = r.Accuracy.Rate
		m[KeyEvalRefAccuracy] = r.RefAccuracy.Rate
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("trainer: eval line: %w", err)
	}
	f, err := os.OpenFile(metricsPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// metricPlot is one PNG: a metric against the optimizer step.
type metricPlot struct {
	file, key, title, ylabel string
	prob                     bool   // y in [0, 1] with a dashed line at 0.5
	lo, hi                   string // keys of the interval's bounds, for error bars
	optional                 bool   // skipped when no line has key
}

var metricPlots = []metricPlot{
	{file: "loss.png", key: "loss", title: "Nash-MD loss", ylabel: "loss"},
	{file: "kl.png", key: "loss/kl", title: "KL(policy || reference), per sequence", ylabel: "loss/kl"},
	{file: "probability.png", key: "rewards/probabilities", title: "judge P(policy beats mixture)", ylabel: "rewards/probabilities", prob: true},
	{file: "win_rate.png", key: KeyEvalWinRate, title: "win rate vs reference (95% Clopper–Pearson)", ylabel: "win rate", prob: true,
		lo: KeyEvalWinRateLo, hi: KeyEvalWinRateHi, optional: true},
}

// PlotMetrics reads a metrics.jsonl written by nashmd-train (the first line
// {"config": …}, the others objects with "step" and metric keys; lines
// without "step" are ignored, and where a step appears twice, as after a
// resume, the later line wins) and writes into outDir, created if needed:
//
//	loss.png         "loss"
//	kl.png           "loss/kl"
//	probability.png  "rewards/probabilities"
//	win_rate.png     "eval/win_rate" with its interval as error bars
//	                 ("eval/win_rate_lo", "eval/win_rate_hi"; see AppendEvalLine)
//
// It returns the paths written, in that order. The first three keys are
// required: if one of them is on no line, PlotMetrics returns an error
// naming the key and the file and writes nothing. win_rate.png is skipped
// when no line has "eval/win_rate". A line that is not a JSON object is an
// error naming file and line.
func PlotMetrics(metricsJSONL, outDir string) ([]string, error) {
	series, err := readMetrics(metricsJSONL)
	if err != nil {
		return nil, err
	}
	for _, mp := range metricPlots {
		if !mp.optional && len(series[mp.key]) == 0 {
			return nil, fmt.Errorf("trainer: plot: %s: no line has the metric %q", metricsJSONL, mp.key)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, mp := range metricPlots {
		pts := series[mp.key]
		if len(pts) == 0 {
			continue
		}
		path := filepath.Join(outDir, mp.file)
		if err := mp.draw(path, pts, series[mp.lo], series[mp.hi]); err != nil {
			return out, fmt.Errorf("trainer: plot %s: %w", path, err)
		}
		out = append(out, path)
	}
	return out, nil
}

// readMetrics returns, for each numeric key, its values by step.
func readMetrics(path string) (map[string]map[int]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	series := map[string]map[int]float64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("trainer: %s:%d: %w", path, line, err)
		}
		s, ok := m["step"].(float64)
		if !ok {
			continue
		}
		for k, v := range m {
			if f, ok := v.(float64); ok && k != "step" {
				if series[k] == nil {
					series[k] = map[int]float64{}
				}
				series[k][int(s)] = f
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trainer: %s: %w", path, err)
	}
	return series, nil
}

// draw writes one plot as a 6×4 inch PNG.
func (mp metricPlot) draw(path string, pts, lo, hi map[int]float64) error {
	p := plot.New()
	p.Title.Text = mp.title
	p.X.Label.Text = "step"
	p.Y.Label.Text = mp.ylabel
	p.Add(plotter.NewGrid())
	steps := slices.Sorted(maps.Keys(pts))
	xys := make(plotter.XYs, len(steps))
	for i, s := range steps {
		xys[i] = plotter.XY{X: float64(s), Y: pts[s]}
	}
	if mp.prob {
		p.Y.Min, p.Y.Max = 0, 1
		half := plotter.NewFunction(func(float64) float64 { return 0.5 })
		half.Color = color.Gray{Y: 128}
		half.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(half)
	}
	if len(steps) == 1 { // give a lone point an axis to sit on
		p.X.Min, p.X.Max = xys[0].X-1, xys[0].X+1
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	line.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	points.Color = line.Color
	points.Shape = draw.CircleGlyph{}
	p.Add(line, points)
	if lo != nil && hi != nil {
		var bars errorXYs
		for _, s := range steps {
			l, okL := lo[s]
			h, okH := hi[s]
			if okL && okH {
				y := pts[s]
				bars = append(bars, errorXY{XY: plotter.XY{X: float64(s), Y: y}, low: y - l, high: h - y})
			}
		}
		if len(bars) > 0 {
			eb, err := plotter.NewYErrorBars(bars)
			if err != nil {
				return err
			}
			eb.Color = line.Color
			p.Add(eb)
		}
	}
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}

// errorXYs are points with asymmetric error bars (plotter.XYer and YErrorer).
type errorXY struct {
	plotter.XY
	low, high float64
}

type errorXYs []errorXY

func (e errorXYs) Len() int                        { return len(e) }
func (e errorXYs) XY(i int) (float64, float64)     { return e[i].X, e[i].Y }
func (e errorXYs) YError(i int) (float64, float64) { return e[i].low, e[i].high }
