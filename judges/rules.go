package judges

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule-based judges: deterministic preferences computed from the completion
// text alone (and, for ExactAnswer, a reference answer per prompt). None of
// them calls a model; all are safe for concurrent use once built.

// ---- shared helpers ----

// trimEOS removes from the end of s, repeatedly, any of the texts in strip
// (the EOS texts), until none of them ends s. Empty texts are ignored.
func trimEOS(s string, strip []string) string {
	for {
		n := len(s)
		for _, e := range strip {
			if e != "" {
				s = strings.TrimSuffix(s, e)
			}
		}
		if len(s) == n {
			return s
		}
	}
}

// hard maps two verdicts to a preference: 1 when only a holds, 0 when only b
// holds, 0.5 when both or neither do.
func hard(a, b bool) float64 {
	switch {
	case a && !b:
		return 1
	case b && !a:
		return 0
	}
	return 0.5
}

// ---- Rule ----

// Rule is a deterministic judge for tests and examples. It compares
// completions (EOS texts stripped from the end, as trimmed by Length) by a
// fixed rule:
//
//	"shorter":  the shorter completion (in runes) wins
//	"longer":   the longer one wins
//	"contains": the one containing Word (case-sensitive substring) wins
//
// A tie gives 0.5. Length is the same comparison with a margin.
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
	s = trimEOS(s, r.Strip)
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

// ---- ExactAnswer ----

// ExactAnswer judges by a reference answer per prompt. A completion is
// correct when its normalised text equals the normalisation of any of the
// prompt's references, or, with Contains, when a normalised reference occurs
// in it as a run of whole words. P(a ≻ b) is 1 when only a is correct, 0
// when only b is, and 0.5 when both or neither are.
//
// Normalisation (SQuAD's normalize_answer, plus the special texts):
//
//  1. remove every occurrence of each text in Strip (EOS and other special
//     texts; only for completions);
//  2. lower-case (strings.ToLower: Unicode simple case mapping);
//  3. delete every punctuation rune: Unicode category P, and the ASCII
//     symbols $ + < = > ^ ` | ~ (so all of Python's string.punctuation);
//     deleted, not replaced by a space: "state-of-the-art" → "stateoftheart";
//  4. split at Unicode white space, drop the words "a", "an" and "the", and
//     join the rest with single spaces (so the result is trimmed).
//
// A prompt without a reference (absent from the map, or with an empty list)
// fails that item with an *ItemError.
type ExactAnswer struct {
	// Contains also accepts a completion that contains a reference as a
	// whole-word substring (after normalisation).
	Contains bool
	// Strip lists special texts (the EOS text) removed from completions
	// before normalisation, wherever they occur.
	Strip []string

	refs map[string][]string // prompt → normalised references
}

// NewExactAnswer builds the judge from the references of each prompt, keyed
// by the prompt text exactly as the judge receives it (chat template
// applied). The map is copied, not retained. A reference that normalises to
// the empty string is an error.
func NewExactAnswer(answers map[string][]string) (*ExactAnswer, error) {
	refs := make(map[string][]string, len(answers))
	for p, as := range answers {
		norm := make([]string, len(as))
		for k, s := range as {
			norm[k] = NormalizeAnswer(s)
			if norm[k] == "" {
				return nil, fmt.Errorf("judge: exact answer: reference %q of prompt %q is empty after normalisation", s, p)
			}
		}
		refs[p] = norm
	}
	return &ExactAnswer{refs: refs}, nil
}

// NormalizeAnswer applies steps 2–4 of ExactAnswer's normalisation to s.
func NormalizeAnswer(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || (r < utf8.RuneSelf && unicode.IsSymbol(r)) {
			return -1
		}
		return r
	}, s)
	words := strings.Fields(s)
	kept := words[:0]
	for _, w := range words {
		if w != "a" && w != "an" && w != "the" {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ")
}

// Prefer implements Judge.
func (e *ExactAnswer) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]float64, len(a))
	for i := range a {
		refs := e.refs[prompts[i]]
		if len(refs) == 0 {
			return nil, &ItemError{Index: i, Err: fmt.Errorf("no reference answer for prompt %q", prompts[i])}
		}
		out[i] = hard(e.correct(a[i], refs), e.correct(b[i], refs))
	}
	return out, nil
}

func (e *ExactAnswer) correct(completion string, refs []string) bool {
	for _, s := range e.Strip {
		if s != "" {
			completion = strings.ReplaceAll(completion, s, "")
		}
	}
	c := NormalizeAnswer(completion)
	padded := " " + c + " "
	for _, r := range refs {
		if c == r || (e.Contains && strings.Contains(padded, " "+r+" ")) {
			return true
		}
	}
	return false
}

// ---- Regex ----

// Regex judges by a Go regular expression (RE2 syntax, package regexp): a
// completion matches when the expression matches anywhere in it (anchor
// with ^ and $ to match all of it), after the EOS texts in Strip are trimmed
// from its end as by Length. P(a ≻ b) is 1 when only a matches, 0 when only
// b does, and 0.5 when both or neither do.
type Regex struct {
	Strip []string
	re    *regexp.Regexp
}

// NewRegex compiles pattern; the error names it.
func NewRegex(pattern string, strip []string) (*Regex, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("judge: regex %q: %w", pattern, err)
	}
	return &Regex{Strip: strip, re: re}, nil
}

// Prefer implements Judge.
func (r *Regex) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = hard(r.re.MatchString(trimEOS(a[i], r.Strip)), r.re.MatchString(trimEOS(b[i], r.Strip)))
	}
	return out, nil
}

// ---- Length ----

// Length prefers the shorter (or, with Longer, the longer) completion by
// rune count, after the EOS texts in Strip are trimmed from the end
// (repeatedly, so "x<e><e>" counts as "x"). With d = runes(a) − runes(b):
// |d| ≤ Margin gives 0.5; otherwise the preferred side gets 1 and the other
// 0.
type Length struct {
	Longer bool
	Margin int // ≥ 0
	Strip  []string
}

// NewLength validates prefer ("shorter" or "longer") and margin (≥ 0).
func NewLength(prefer string, margin int, strip []string) (*Length, error) {
	if margin < 0 {
		return nil, fmt.Errorf("judge: length margin %d is negative", margin)
	}
	switch prefer {
	case "shorter", "longer":
	default:
		return nil, fmt.Errorf("judge: length preference %q is unknown (want shorter or longer)", prefer)
	}
	return &Length{Longer: prefer == "longer", Margin: margin, Strip: strip}, nil
}

// Prefer implements Judge.
func (l *Length) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]float64, len(a))
	for i := range a {
		d := utf8.RuneCountInString(trimEOS(a[i], l.Strip)) - utf8.RuneCountInString(trimEOS(b[i], l.Strip))
		switch {
		case d <= l.Margin && d >= -l.Margin:
			out[i] = 0.5
		case (d < 0) != l.Longer:
			out[i] = 1
		default:
			out[i] = 0
		}
	}
	return out, nil
}

// ---- Lexicon ----

// Lexicon judges sentiment with VADER: each completion, EOS texts in Strip
// trimmed from its end as by Length, gets the score s = Vader.Compound(text)
// (in [−1, 1]), negated when Negative is set, and
//
//	P(a ≻ b) = σ(K·(s_a − s_b)),  σ(x) = 1/(1 + e^(−x)),
//
// a soft preference (equal scores give exactly 0.5). It implements Scorer
// with the (signed) scores.
type Lexicon struct {
	Vader    *Vader
	Negative bool    // prefer negative sentiment
	K        float64 // sigmoid steepness, > 0; NewLexicon sets 10
	Strip    []string
}

// NewLexicon builds a sentiment judge; prefer is "positive" or "negative".
func NewLexicon(v *Vader, prefer string, strip []string) (*Lexicon, error) {
	if v == nil {
		return nil, fmt.Errorf("judge: lexicon: no VADER lexicon")
	}
	switch prefer {
	case "positive", "negative":
	default:
		return nil, fmt.Errorf("judge: lexicon preference %q is unknown (want positive or negative)", prefer)
	}
	return &Lexicon{Vader: v, Negative: prefer == "negative", K: 10, Strip: strip}, nil
}

// Prefer implements Judge.
func (l *Lexicon) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	p, _, _, err := l.PreferScores(ctx, prompts, a, b)
	return p, err
}

// PreferScores implements Scorer; the scores are the signed compound scores.
func (l *Lexicon) PreferScores(ctx context.Context, prompts, a, b []string) (prob, scoreA, scoreB []float64, err error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, nil, nil, err
	}
	if !(l.K > 0) || math.IsInf(l.K, 0) {
		return nil, nil, nil, fmt.Errorf("judge: lexicon steepness K = %v must be positive and finite", l.K)
	}
	if l.Vader == nil {
		return nil, nil, nil, fmt.Errorf("judge: lexicon: no VADER lexicon")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	n := len(a)
	prob, scoreA, scoreB = make([]float64, n), make([]float64, n), make([]float64, n)
	sign := 1.0
	if l.Negative {
		sign = -1
	}
	for i := range a {
		scoreA[i] = sign * l.Vader.Compound(trimEOS(a[i], l.Strip))
		scoreB[i] = sign * l.Vader.Compound(trimEOS(b[i], l.Strip))
		prob[i] = 1 / (1 + math.Exp(-l.K*(scoreA[i]-scoreB[i])))
	}
	return prob, scoreA, scoreB, nil
}

// ---- VADER ----

// Vader computes VADER's compound sentiment score (Hutto & Gilbert, 2014)
// from its lexicon. It follows the JavaScript port vader-sentiment 1.1.3
// (src/vaderSentiment.js, SentimentIntensityAnalyzer.polarity_scores)
// rule for rule, including its quirks, so its compound score equals that
// package's before rounding (the package rounds to 4 decimals):
//
//   - tokens: the text split at each JavaScript white-space character,
//     tokens of one UTF-16 unit dropped; a token that is a word of the
//     punctuation-free text with one of . ! ? , ; : - ' " !! !!! ?? ??? ?!?
//     !?! ?!?! !?!? before or after it becomes that word;
//   - each token's valence: its lexicon value (looked up lower-cased) or 0;
//     booster words and "kind" before "of" get 0;
//   - ALL-CAPS emphasis: a lexicon word in capitals while other tokens are
//     not moves ±0.733 away from 0;
//   - up to 3 preceding tokens that are not in the lexicon: boosters (±0.293,
//     their sign following the valence's, ±0.733 more when in capitals),
//     damped by 0.95 and 0.9 at distances 2 and 3; negations (NEGATE list
//     or a token containing "n't") scale by −0.74; "never so/this" scales by
//     1.5 (distance 2) or 1.25 (distance 3, or "so"/"this" just before);
//     at distance 3, the special-case idioms and the booster bigrams;
//   - "least" just before scales by −0.74 unless "at least"/"very least";
//   - "but" (or "BUT", first occurrence): valences before it ×0.5, after it
//     ×1.5;
//   - s = sum of valences, moved away from 0 by 0.292 per "!" (at most 4)
//     and, for 2–3 "?", 0.18 each (0.96 for more);
//   - compound = s/√(s² + 15), clamped to [−1, 1]; 0 without tokens.
//
// Lower-casing uses strings.ToLower, which differs from JavaScript's
// toLowerCase only on a few non-ASCII letters; the lexicon's keys that can
// match are ASCII. A Vader is safe for concurrent use.
type Vader struct {
	lex map[string]float64
}

// LoadVader reads a VADER lexicon file (vader_lexicon.txt: token, tab, mean
// valence, further tab-separated fields ignored).
func LoadVader(path string) (*Vader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("judge: vader lexicon: %w", err)
	}
	defer f.Close()
	v, err := ParseVader(f)
	if err != nil {
		return nil, fmt.Errorf("judge: vader lexicon %s: %w", path, err)
	}
	return v, nil
}

// ParseVader reads a lexicon in vader_lexicon.txt's format. Empty lines are
// skipped; of repeated tokens the last wins, as in the reference
// implementations.
func ParseVader(r io.Reader) (*Vader, error) {
	lex := make(map[string]float64)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimRight(sc.Text(), "\r")
		if t == "" {
			continue
		}
		f := strings.Split(t, "\t")
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: want token<TAB>valence, got %q", line, t)
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: valence: %w", line, err)
		}
		lex[f[0]] = x
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lex) == 0 {
		return nil, fmt.Errorf("empty lexicon")
	}
	return &Vader{lex: lex}, nil
}

const (
	vaderBIncr   = 0.293
	vaderBDecr   = -0.293
	vaderCIncr   = 0.733
	vaderNScalar = -0.74
)

var vaderPuncList = []string{".", "!", "?", ",", ";", ":", "-", "'", "\"",
	"!!", "!!!", "??", "???", "?!?", "!?!", "?!?!", "!?!?"}

var vaderNegate = setOf("aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt",
	"ain't", "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't",
	"dont", "hadnt", "hasnt", "havent", "isnt", "mightnt", "mustnt", "neither",
	"don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't",
	"neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing", "nowhere",
	"oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent",
	"oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't",
	"without", "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite")

var vaderBoosters = func() map[string]float64 {
	m := make(map[string]float64)
	for _, w := range strings.Fields(`absolutely amazingly awfully completely considerably decidedly
		deeply effing enormously entirely especially exceptionally extremely fabulously flipping
		flippin fricking frickin frigging friggin fully fucking greatly hella highly hugely
		incredibly intensely majorly more most particularly purely quite really remarkably so
		substantially thoroughly totally tremendously uber unbelievably unusually utterly very`) {
		m[w] = vaderBIncr
	}
	for _, w := range []string{"almost", "barely", "hardly", "just enough", "kind of", "kinda",
		"kindof", "kind-of", "less", "little", "marginally", "occasionally", "partly", "scarcely",
		"slightly", "somewhat", "sort of", "sorta", "sortof", "sort-of"} {
		m[w] = vaderBDecr
	}
	return m
}()

var vaderIdioms = map[string]float64{
	"the shit": 3, "the bomb": 3, "bad ass": 1.5, "yeah right": -2,
	"cut the mustard": 2, "kiss of death": -1.5, "hand to mouth": -2,
}

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// Compound returns text's VADER compound score in [−1, 1].
func (v *Vader) Compound(text string) float64 {
	words := vaderTokens(text)
	capDiff := vaderCapDifferential(words)
	sent := make([]float64, len(words)) // (len(words)) valence per token
	for i, w := range words {
		lw := strings.ToLower(w)
		if _, ok := vaderBoosters[lw]; ok || (i < len(words)-1 && lw == "kind" && strings.ToLower(words[i+1]) == "of") {
			continue
		}
		sent[i] = v.valence(words, i, capDiff)
	}
	vaderButCheck(words, sent)
	if len(sent) == 0 {
		return 0
	}
	sum := 0.0
	for _, s := range sent {
		sum += s
	}
	amp := vaderPunctuationEmphasis(text)
	if sum > 0 {
		sum += amp
	} else if sum < 0 {
		sum -= amp
	}
	c := sum / math.Sqrt(float64(sum*sum)+15)
	return math.Max(-1, math.Min(1, c))
}

// valence is sentiment_valence for token i.
func (v *Vader) valence(words []string, i int, capDiff bool) float64 {
	item := words[i]
	val, ok := v.lex[strings.ToLower(item)]
	if !ok {
		return 0
	}
	if vaderIsUpper(item) && capDiff {
		if val > 0 {
			val += vaderCIncr
		} else {
			val -= vaderCIncr
		}
	}
	for s := 0; s < 3; s++ {
		if i <= s {
			continue
		}
		prev := words[i-(s+1)]
		if _, inLex := v.lex[strings.ToLower(prev)]; inLex {
			continue
		}
		sc := vaderScalarIncDec(prev, val, capDiff)
		if s == 1 && sc != 0 {
			sc = float64(sc * 0.95)
		} else if s == 2 && sc != 0 {
			sc = float64(sc * 0.9)
		}
		val += sc
		val = vaderNeverCheck(val, words, s, i)
		if s == 2 {
			val = vaderIdiomsCheck(val, words, i)
		}
	}
	return v.leastCheck(val, words, i)
}

func (v *Vader) leastCheck(val float64, words []string, i int) float64 {
	_, leastInLex := v.lex["least"]
	switch {
	case i > 1 && strings.ToLower(words[i-1]) == "least" && !leastInLex:
		if p := strings.ToLower(words[i-2]); p != "at" && p != "very" {
			val = float64(val * vaderNScalar)
		}
	case i > 0 && strings.ToLower(words[i-1]) == "least" && !leastInLex:
		val = float64(val * vaderNScalar)
	}
	return val
}

// vaderScalarIncDec is the booster (or dampener) contribution of word to a
// valence.
func vaderScalarIncDec(word string, val float64, capDiff bool) float64 {
	scalar, ok := vaderBoosters[strings.ToLower(word)]
	if !ok {
		return 0
	}
	if val < 0 {
		scalar = -scalar
	}
	if capDiff && vaderIsUpper(word) {
		if val > 0 {
			scalar += vaderCIncr
		} else {
			scalar -= vaderCIncr
		}
	}
	return scalar
}

// vaderNegated is negated([word]) for one word: in NEGATE or containing "n't".
func vaderNegated(word string) bool {
	return vaderNegate[word] || strings.Contains(word, "n't")
}

func vaderNeverCheck(val float64, w []string, s, i int) float64 {
	switch s {
	case 0:
		if vaderNegated(w[i-1]) {
			val = float64(val * vaderNScalar)
		}
	case 1:
		if w[i-2] == "never" && (w[i-1] == "so" || w[i-1] == "this") {
			val = float64(val * 1.5)
		} else if vaderNegated(w[i-2]) {
			val = float64(val * vaderNScalar)
		}
	case 2:
		if (w[i-3] == "never" && (w[i-2] == "so" || w[i-2] == "this")) || w[i-1] == "so" || w[i-1] == "this" {
			val = float64(val * 1.25)
		} else if vaderNegated(w[i-3]) {
			val = float64(val * vaderNScalar)
		}
	}
	return val
}

// vaderIdiomsCheck is idioms_check; i ≥ 3.
func vaderIdiomsCheck(val float64, w []string, i int) float64 {
	oneZero := w[i-1] + " " + w[i]
	twoOneZero := w[i-2] + " " + w[i-1] + " " + w[i]
	twoOne := w[i-2] + " " + w[i-1]
	threeTwoOne := w[i-3] + " " + w[i-2] + " " + w[i-1]
	threeTwo := w[i-3] + " " + w[i-2]
	for _, seq := range []string{oneZero, twoOneZero, twoOne, threeTwoOne, threeTwo} {
		if x, ok := vaderIdioms[seq]; ok {
			val = x
			break
		}
	}
	if len(w)-1 > i {
		if x, ok := vaderIdioms[w[i]+" "+w[i+1]]; ok {
			val = x
		}
	}
	if len(w)-1 > i+1 {
		if x, ok := vaderIdioms[w[i]+" "+w[i+1]+" "+w[i+2]]; ok {
			val = x
		}
	}
	_, b1 := vaderBoosters[threeTwo]
	_, b2 := vaderBoosters[twoOne]
	if b1 || b2 {
		val += vaderBDecr
	}
	return val
}

// vaderButCheck scales the valences around the first "but" (else "BUT").
func vaderButCheck(words []string, sent []float64) {
	b := vaderIndex(words, "but")
	if b < 0 {
		b = vaderIndex(words, "BUT")
	}
	if b < 0 {
		return
	}
	for i := range sent {
		if i < b {
			sent[i] = float64(sent[i] * 0.5)
		} else if i > b {
			sent[i] = float64(sent[i] * 1.5)
		}
	}
}

func vaderIndex(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

func vaderPunctuationEmphasis(text string) float64 {
	ep := min(strings.Count(text, "!"), 4)
	amp := float64(float64(ep) * 0.292)
	if qm := strings.Count(text, "?"); qm > 1 {
		if qm <= 3 {
			amp += float64(float64(qm) * 0.18)
		} else {
			amp += 0.96
		}
	}
	return amp
}

// vaderIsUpper is Python's str.isupper as the port has it: some ASCII
// capital and no ASCII small letter.
func vaderIsUpper(w string) bool {
	upper := false
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case 'a' <= c && c <= 'z':
			return false
		case 'A' <= c && c <= 'Z':
			upper = true
		}
	}
	return upper
}

// vaderCapDifferential reports whether some but not all tokens are ALL CAPS.
func vaderCapDifferential(words []string) bool {
	caps := 0
	for _, w := range words {
		if vaderIsUpper(w) {
			caps++
		}
	}
	d := len(words) - caps
	return d > 0 && d < len(words)
}

// vaderTokens is SentiText.get_words_and_emoticons.
func vaderTokens(text string) []string {
	words := jsFields(text)
	bare := make(map[string]bool)
	for _, w := range jsFields(strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && strings.ContainsRune(`!"#$%&'()*+,-./:;<=>?@[\]^_`+"`"+`{|}~`, r) {
			return -1
		}
		return r
	}, text)) {
		bare[w] = true
	}
	for k, w := range words {
		for _, p := range vaderPuncList {
			if x, ok := strings.CutPrefix(w, p); ok && bare[x] {
				words[k] = x
				break
			}
			if x, ok := strings.CutSuffix(w, p); ok && bare[x] {
				words[k] = x
				break
			}
		}
	}
	return words
}

// jsFields splits s at each character JavaScript's /\s/ matches and keeps
// the pieces longer than one UTF-16 code unit.
func jsFields(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, jsSpace) {
		n := 0
		for _, r := range f {
			n++
			if r >= 0x10000 {
				n++
			}
		}
		if n > 1 {
			out = append(out, f)
		}
	}
	return out
}

func jsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return 0x2000 <= r && r <= 0x200a
}
