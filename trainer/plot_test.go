package trainer

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeMetrics writes a metrics file as nashmd-train does: the config line
// through JSONL.Header, then steps through JSONL.Log.
func writeMetrics(t *testing.T, path string, steps int, drop string) {
	t.Helper()
	var buf bytes.Buffer
	sink := JSONL{W: &buf}
	cfg := Default()
	cfg.OutputDir, cfg.Model.Path, cfg.Judge.Kind, cfg.Dataset.Path = "out", "m", "rule", "d"
	if err := sink.Header(cfg); err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= steps; s++ {
		st := Stats{"loss": 1 / float64(s), "loss/kl": 0.01 * float64(s), "rewards/probabilities": 0.5 + 0.02*float64(s), "grad_norm": 1}
		delete(st, drop)
		if err := sink.Log(s*10, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkPNG decodes path as a PNG and checks it is a real picture: the
// expected size and more than a few distinct colours.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if sz := img.Bounds().Size(); sz != (image.Point{576, 384}) || len(b) < 5000 {
		t.Errorf("%s: %v pixels, %d bytes; want 576×384 and > 5000 bytes", path, sz, len(b))
	}
	colours := map[[4]uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 3 {
		for x := 0; x < img.Bounds().Dx(); x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 8 {
		t.Errorf("%s: only %d colours: blank?", path, len(colours))
	}
}

// TestPlotMetrics: a training run's metrics give three plots; adding eval
// lines with AppendEvalLine gives the win-rate plot as well.
func TestPlotMetrics(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	writeMetrics(t, metrics, 6, "")
	out := filepath.Join(dir, "plots")
	got, err := PlotMetrics(metrics, out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(out, "loss.png"), filepath.Join(out, "kl.png"), filepath.Join(out, "probability.png")}
	if !slices.Equal(got, want) {
		t.Fatalf("wrote %v, want %v", got, want)
	}
	for _, p := range got {
		checkPNG(t, p)
	}

	// Eval lines at steps 0 and 60; the second without accuracy.
	yes := Proportion{K: 3, N: 4, Rate: 0.75}
	r0 := summarize([]EvalPair{{P: 0.5}, {P: 0.5}}, false)
	r0.Accuracy, r0.RefAccuracy = &yes, &yes
	r1 := summarize([]EvalPair{{P: 1}, {P: 1}, {P: 0}, {P: 0.9}}, false)
	for i, r := range []EvalReport{r0, r1} {
		if err := AppendEvalLine(metrics, 60*i, r); err != nil {
			t.Fatal(err)
		}
	}
	series, err := readMetrics(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if series[KeyEvalWinRate][60] != 0.75 || series[KeyEvalWinRateLo][60] != r1.WinRateCI.Lo || series[KeyEvalWinRateHi][0] != 1 ||
		series[KeyEvalAccuracy][0] != 0.75 || series[KeyEvalRefAccuracy][0] != 0.75 || series[KeyEvalTies][0] != 2 || series[KeyEvalN][60] != 4 {
		t.Errorf("eval lines read back as %v", series)
	}
	if _, ok := series[KeyEvalAccuracy][60]; ok {
		t.Errorf("an eval line without answers has an accuracy")
	}
	got, err = PlotMetrics(metrics, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[3] != filepath.Join(out, "win_rate.png") {
		t.Fatalf("wrote %v, want the three plots and win_rate.png", got)
	}
	checkPNG(t, got[3])
}

// TestPlotMetricsOnePoint: a single logged step still makes a plot.
func TestPlotMetricsOnePoint(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	writeMetrics(t, metrics, 1, "")
	got, err := PlotMetrics(metrics, dir)
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	checkPNG(t, got[0])
}

// TestPlotMetricsMissing: a required metric on no line is an error naming
// it and the file, and nothing is written; a malformed line names its line.
func TestPlotMetricsMissing(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "metrics.jsonl")
	writeMetrics(t, metrics, 3, "loss/kl")
	out := filepath.Join(dir, "plots")
	_, err := PlotMetrics(metrics, out)
	if err == nil || !strings.Contains(err.Error(), `"loss/kl"`) || !strings.Contains(err.Error(), metrics) {
		t.Errorf("error %v, want it to name loss/kl and %s", err, metrics)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output directory exists after the error")
	}

	f, _ := os.OpenFile(metrics, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{\"step\": 40, \"loss\": \n")
	f.Close()
	if _, err := PlotMetrics(metrics, out); err == nil || !strings.Contains(err.Error(), metrics+":5:") {
		t.Errorf("error %v, want it to name %s:5", err, metrics)
	}
}
