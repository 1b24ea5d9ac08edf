package judges

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultHTTPTemplate is the pairwise prompt of an HTTP judge, written in
// the spirit of TRL's PairwiseJudge prompt: a leaderboard request that asks
// for the identifier of the better response, here the letter A or B.
const DefaultHTTPTemplate = `I am building a leaderboard of large language models. Below is an instruction that was given to two models, followed by the output of each. Your task is to decide which output a thoughtful human reader would find better.

## Instruction

<<<
{prompt}
>>>

## Model outputs

The two outputs are listed in no particular order. Each has an identifier.

### Output A

<<<
{response_a}
>>>

### Output B

<<<
{response_b}
>>>

## Your task

Judge the outputs on how helpful, correct and relevant they are to the instruction, not on their length or on the order in which they appear. Reply with the identifier of the better output: the single letter A or B. Only the first character of your reply is read, so write nothing else: no quotes, no spaces, no explanation.`

// ErrBadAnswer is wrapped by the error for an answer that names neither A
// nor B.
var ErrBadAnswer = errors.New("answer is neither A nor B")

// HTTPConfig configures an HTTP judge. A zero field takes the default in
// brackets.
type HTTPConfig struct {
	// BaseURL is the server's root, e.g. "http://localhost:8000"; requests go
	// to BaseURL + "/v1/chat/completions" (a BaseURL ending in "/v1" is not
	// given a second one).
	BaseURL string
	// Model is the request's "model" field; it is part of the cache key.
	Model string
	// APIKeyEnv names the environment variable holding the API key, which is
	// read once by NewHTTP and sent only as "Authorization: Bearer <key>".
	// "" sends no key.
	APIKeyEnv string
	// Template is the pairwise prompt with the placeholders {prompt},
	// {response_a} and {response_b}, each required [DefaultHTTPTemplate].
	Template string
	// TemplateFile, when set, is read by NewHTTP in place of Template.
	TemplateFile string
	// Timeout bounds each attempt, reading the reply included [30s].
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt [5];
	// negative: none.
	MaxRetries int
	// BackoffBase and BackoffMax shape the retry delay, uniform in
	// [0, min(BackoffMax, BackoffBase·2^retry)] ("full jitter") unless the
	// server sent Retry-After [500ms, 30s].
	BackoffBase, BackoffMax time.Duration
	// Concurrency caps the requests in flight across all calls [4].
	Concurrency int
	// RPS caps the requests started per second across all calls
	// [0: unlimited].
	RPS float64
	// CacheDir holds one small JSON file per answered request, so that a
	// resumed run does not ask twice ["": no cache].
	CacheDir string
	// Temperature is the sampling temperature [0].
	Temperature float64
	// MaxTokens is the request's max_tokens [8].
	MaxTokens int
	// UseLogprobs asks for the top log-probabilities of the first answer
	// token and, when both labels are among them, returns
	// P = p(A) / (p(A) + p(B)); otherwise the text answer gives 1 or 0.
	// The zero value (false) uses the text answer only; configuration files
	// should default it to true.
	UseLogprobs bool
	// Logger, when set, receives one line per retry and per unreadable cache
	// entry. The API key never appears in it.
	Logger *log.Logger
}

// HTTP is a Judge that asks an LLM behind an OpenAI-compatible chat
// completions endpoint (vLLM, llama.cpp's server, Ollama, OpenAI) which of
// two completions is better, showing a as A and b as B. It is safe for
// concurrent use; wrap it in Swap to cancel a position bias.
type HTTP struct {
	cfg     HTTPConfig // defaults applied, Template resolved
	url     string
	key     *apiKey // nil: no key
	client  *http.Client
	sem     chan struct{} // one slot per request in flight
	limiter *rateLimiter  // nil: unlimited
	cache   *diskCache    // nil: no cache

	requests, retries, hits atomic.Int64
}

// apiKey sits behind a pointer so that printing an HTTP with %v, %+v or %#v
// shows an address, never the key.
type apiKey struct{ s string }

// HTTPStats counts an HTTP judge's work since NewHTTP.
type HTTPStats struct {
	Requests  int64 // requests sent, retries included
	Retries   int64 // attempts that failed and were retried
	CacheHits int64 // answers read from CacheDir instead of the network
}

// StatusError is a non-2xx reply of the judge server.
type StatusError struct {
	Code int
	Msg  string // the server's message, truncated, the API key redacted

	retryAfter time.Duration // from Retry-After; -1 when absent
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d %s: %q", e.Code, http.StatusText(e.Code), e.Msg)
}

// Retryable reports whether the request is worth repeating: 408, 429 and 5xx.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

const (
	maxRetryAfter = 5 * time.Minute // a longer Retry-After is cut to this
	maxReplyBytes = 8 << 20
	maxMsgBytes   = 200 // of a server message or answer quoted in an error
	topLogprobs   = 5
)

// NewHTTP validates cfg, applies its defaults, reads the template file and
// the API key, and opens the cache directory.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("judge: http: base_url %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Model == "" {
		return nil, errors.New("judge: http: model is empty")
	}
	if err := setHTTPDefaults(&cfg); err != nil {
		return nil, err
	}
	if cfg.TemplateFile != "" {
		data, err := os.ReadFile(cfg.TemplateFile)
		if err != nil {
			return nil, fmt.Errorf("judge: http: template: %w", err)
		}
		cfg.Template = string(data)
	}
	for _, p := range []string{"{prompt}", "{response_a}", "{response_b}"} {
		if !strings.Contains(cfg.Template, p) {
			return nil, fmt.Errorf("judge: http: template lacks the placeholder %s", p)
		}
	}
	h := &HTTP{
		cfg: cfg,
		url: strings.TrimSuffix(u.String(), "/"),
		sem: make(chan struct{}, cfg.Concurrency),
	}
	if strings.HasSuffix(h.url, "/v1") {
		h.url += "/chat/completions"
	} else {
		h.url += "/v1/chat/completions"
	}
	if cfg.APIKeyEnv != "" {
		k, ok := os.LookupEnv(cfg.APIKeyEnv)
		if !ok || k == "" {
			return nil, fmt.Errorf("judge: http: environment variable %s (the API key) is not set", cfg.APIKeyEnv)
		}
		h.key = &apiKey{k}
	}
	if cfg.RPS > 0 {
		h.limiter = &rateLimiter{every: time.Duration(float64(time.Second) / cfg.RPS)}
	}
	if cfg.CacheDir != "" {
		if h.cache, err = openDiskCache(cfg.CacheDir); err != nil {
			return nil, err
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	h.client = &http.Client{
		Transport: tr,
		// A redirect is an error (a 3xx StatusError): the key goes to BaseURL only.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h, nil
}

func setHTTPDefaults(c *HTTPConfig) error {
	switch {
	case c.Template != "" && c.TemplateFile != "":
		return errors.New("judge: http: set template or template_file, not both")
	case c.Timeout < 0 || c.BackoffBase < 0 || c.BackoffMax < 0:
		return errors.New("judge: http: timeout and backoff must not be negative")
	case c.Concurrency < 0:
		return fmt.Errorf("judge: http: concurrency %d is negative", c.Concurrency)
	case !(c.RPS >= 0) || math.IsInf(c.RPS, 1):
		return fmt.Errorf("judge: http: rps %v must be finite and >= 0", c.RPS)
	case !(c.Temperature >= 0) || math.IsInf(c.Temperature, 1):
		return fmt.Errorf("judge: http: temperature %v must be finite and >= 0", c.Temperature)
	case c.MaxTokens < 0:
		return fmt.Errorf("judge: http: max_tokens %d is negative", c.MaxTokens)
	}
	if c.Template == "" {
		c.Template = DefaultHTTPTemplate
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = 500 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.BackoffMax < c.BackoffBase {
		return fmt.Errorf("judge: http: backoff_max %v is below backoff_base %v", c.BackoffMax, c.BackoffBase)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = 8
	}
	return nil
}

// Stats returns the judge's counters.
func (h *HTTP) Stats() HTTPStats {
	return HTTPStats{Requests: h.requests.Load(), Retries: h.retries.Load(), CacheHits: h.hits.Load()}
}

// Prefer implements Judge. Items are asked concurrently (at most
// Concurrency requests in flight across all calls). The first item that
// fails for good cancels the others; the error joins the *ItemError of
// every item that failed for a reason of its own. A cancelled ctx returns
// its error.
func (h *HTTP) Prefer(ctx context.Context, prompts, a, b []string) ([]float64, error) {
	if err := checkLens(prompts, a, b); err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := make([]float64, len(a))
	errs := make([]error, len(a))
	var wg sync.WaitGroup
	for i := range a {
		wg.Go(func() {
			v, err := h.ask(ctx, i, prompts[i], a[i], b[i])
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			p[i] = v
		})
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	var failed []error
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) { // Canceled: stopped by another item's failure
			failed = append(failed, &ItemError{Index: i, Err: err})
		}
	}
	if len(failed) > 0 {
		return nil, errors.Join(failed...)
	}
	return p, nil
}

// ask returns P(first ≻ second) for one prompt, from the cache or the
// server, retrying as the config says.
func (h *HTTP) ask(ctx context.Context, item int, prompt, first, second string) (float64, error) {
	key := h.cacheKey(prompt, first, second)
	if h.cache != nil {
		if v, ok, err := h.cache.get(key); ok {
			h.hits.Add(1)
			return v, nil
		} else if err != nil {
			h.logf("judge: item %d: cache entry unreadable, asking again: %v", item, err)
		}
	}
	body, err := json.Marshal(h.request(prompt, first, second))
	if err != nil {
		return 0, err
	}
	for retry := 0; ; retry++ {
		v, answer, err := h.attempt(ctx, body)
		if err == nil {
			if h.cache != nil {
				if err := h.cache.put(key, cacheEntry{P: v, Answer: h.clean(answer), Model: h.cfg.Model}); err != nil {
					return 0, err
				}
			}
			return v, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		var se *StatusError
		if errors.As(err, &se) && !se.Retryable() {
			return 0, err
		}
		if retry >= h.cfg.MaxRetries {
			return 0, fmt.Errorf("%d attempts failed; last: %w", retry+1, err)
		}
		wait := h.backoff(retry)
		if se != nil && se.retryAfter >= 0 {
			wait = se.retryAfter
		}
		h.retries.Add(1)
		h.logf("judge: item %d: attempt %d failed (%v); retrying in %v", item, retry+1, err, wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
}

// attempt sends one request and reads P(A) and the answer text from the
// reply. Every error but a StatusError that is not Retryable is worth
// retrying.
func (h *HTTP) attempt(ctx context.Context, body []byte) (float64, string, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, "", ctx.Err()
	}
	defer func() { <-h.sem }()
	if h.limiter != nil {
		if err := h.limiter.wait(ctx); err != nil {
			return 0, "", err
		}
	}
	actx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if h.key != nil {
		req.Header.Set("Authorization", "Bearer "+h.key.s)
	}
	h.requests.Add(1)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, "", h.transportError(ctx, actx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return 0, "", h.transportError(ctx, actx, err)
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Code: resp.StatusCode, Msg: h.clean(serverMessage(data)), retryAfter: -1}
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			se.retryAfter = d
		}
		return 0, "", se
	}
	return h.parseReply(data)
}

func (h *HTTP) transportError(ctx, actx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no reply within %v: %w", h.cfg.Timeout, err)
	}
	return err
}

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens"`
	Logprobs    bool          `json:"logprobs,omitempty"`
	TopLogprobs int           `json:"top_logprobs,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatReply is the part of a chat completion the judge reads.
type chatReply struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token       string `json:"token"`
				TopLogprobs []struct {
					Token   string  `json:"token"`
					Logprob float64 `json:"logprob"`
				} `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
}

func (h *HTTP) request(prompt, first, second string) chatRequest {
	// One pass, so a placeholder inside a completion is left as it is.
	text := strings.NewReplacer("{prompt}", prompt, "{response_a}", first, "{response_b}", second).Replace(h.cfg.Template)
	r := chatRequest{
		Model:       h.cfg.Model,
		Messages:    []chatMessage{{Role: "user", Content: text}},
		Temperature: h.cfg.Temperature,
		MaxTokens:   h.cfg.MaxTokens,
	}
	if h.cfg.UseLogprobs {
		r.Logprobs, r.TopLogprobs = true, topLogprobs
	}
	return r
}

// parseReply returns P(A) from a 2xx body: from the log-probabilities of
// the first non-blank answer token when both labels are among its top
// alternatives, else 1 or 0 from the text answer.
func (h *HTTP) parseReply(data []byte) (float64, string, error) {
	var r chatReply
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, "", fmt.Errorf("malformed reply (%v): %q", err, h.clean(string(data)))
	}
	if len(r.Choices) == 0 {
		return 0, "", fmt.Errorf("malformed reply (no choices): %q", h.clean(string(data)))
	}
	c := r.Choices[0]
	text := c.Message.Content
	if h.cfg.UseLogprobs && c.Logprobs != nil {
		for _, t := range c.Logprobs.Content {
			if strings.TrimSpace(t.Token) == "" {
				continue
			}
			var la, lb []float64
			for _, alt := range t.TopLogprobs {
				switch strings.ToUpper(strings.TrimSpace(alt.Token)) {
				case "A":
					la = append(la, alt.Logprob)
				case "B":
					lb = append(lb, alt.Logprob)
				}
			}
			if len(la) > 0 && len(lb) > 0 {
				// exp(lA) / (exp(lA) + exp(lB)) = σ(lA − lB)
				return 1 / (1 + math.Exp(logSumExp(lb)-logSumExp(la))), text, nil
			}
			break
		}
	}
	switch parseAnswer(text) {
	case 'A':
		return 1, text, nil
	case 'B':
		return 0, text, nil
	}
	return 0, text, fmt.Errorf("%w: %q", ErrBadAnswer, h.clean(text))
}

// logSumExp returns log Σ exp(x) (the tokens " A" and "A" both count for A).
func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// parseAnswer returns 'A' or 'B' when the answer's first word is that label
// (case-insensitive), after a leading <think>…</think> block, wrappers such
// as quotes, brackets and "**", and prefixes such as "Answer:" or "Output";
// else 0. "A." and "B)" count; "Apple" and "Both" do not.
func parseAnswer(s string) byte {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "<think>"); ok {
		_, after, ok := strings.Cut(rest, "</think>")
		if !ok {
			return 0
		}
		s = after
	}
	for range 4 {
		s = strings.TrimLeft(s, " \t\r\n*\"'`([{#_")
		low := strings.ToLower(s)
		cut := false
		for _, w := range []string{"answer", "output", "response", "model", "assistant", "identifier"} {
			if strings.HasPrefix(low, w) {
				s = strings.TrimLeft(s[len(w):], " \t:=-")
				cut = true
				break
			}
		}
		if !cut {
			break
		}
	}
	if s == "" {
		return 0
	}
	c := s[0] &^ 0x20 // upper case for ASCII letters
	if c != 'A' && c != 'B' {
		return 0
	}
	if next, _ := utf8.DecodeRuneInString(s[1:]); next != utf8.RuneError && (unicode.IsLetter(next) || unicode.IsDigit(next)) {
		return 0
	}
	return c
}

// serverMessage returns the message of an error body in OpenAI's
// ({"error": {"message": …}}), Ollama's ({"error": "…"}) or a plain
// ({"message": …}) shape, else the body itself.
func serverMessage(data []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			return obj.Message
		case json.Unmarshal(e.Error, &s) == nil && s != "":
			return s
		case e.Message != "":
			return e.Message
		}
	}
	return strings.TrimSpace(string(data))
}

// clean redacts the API key from text the server sent, then truncates it.
func (h *HTTP) clean(s string) string {
	if h.key != nil {
		s = strings.ReplaceAll(s, h.key.s, "[redacted]")
	}
	if len(s) <= maxMsgBytes {
		return s
	}
	i := maxMsgBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date,
// as a wait from now, at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// backoff is the full-jitter delay before retry number retry+1.
func (h *HTTP) backoff(retry int) time.Duration {
	d := h.cfg.BackoffBase
	for range retry {
		if d >= h.cfg.BackoffMax/2 {
			d = h.cfg.BackoffMax
			break
		}
		d *= 2
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// cacheKey is the sha256 of everything that decides the answer, the
// position of each completion included (first is shown as A).
func (h *HTTP) cacheKey(prompt, first, second string) string {
	s := sha256.New()
	logprobs := "text"
	if h.cfg.UseLogprobs {
		logprobs = "logprobs"
	}
	for _, f := range []string{
		"nashmd http judge v1", h.cfg.Model, h.cfg.Template,
		strconv.FormatFloat(h.cfg.Temperature, 'g', -1, 64), strconv.Itoa(h.cfg.MaxTokens), logprobs,
		prompt, first, second,
	} {
		s.Write(binary.AppendUvarint(nil, uint64(len(f))))
		s.Write([]byte(f))
	}
	return hex.EncodeToString(s.Sum(nil))
}

func (h *HTTP) logf(format string, args ...any) {
	if h.cfg.Logger != nil {
		h.cfg.Logger.Printf(format, args...)
	}
}

// rateLimiter spaces request starts by every: a token bucket holding one
// token, refilled at 1/every.
type rateLimiter struct {
	mu    sync.Mutex
	next  time.Time // when the next token is available
	every time.Duration
}

// wait blocks until the caller may start a request or ctx is done.
func (l *rateLimiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	t := l.next
	if t.Before(now) {
		t = now
	}
	l.next = t.Add(l.every)
	l.mu.Unlock()
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
