package judges

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seenRequest is a request as the fake server decodes it, independently of
// the judge's own types; pointers tell an absent field from a zero one.
type seenRequest struct {
	Method, Path, Auth, ContentType string

	Model       string   `json:"model"`
	Temperature *float64 `json:"temperature"`
	MaxTokens   *int     `json:"max_tokens"`
	Logprobs    *bool    `json:"logprobs"`
	TopLogprobs *int     `json:"top_logprobs"`
	Messages    []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// content is the text of the single user message.
func (r *seenRequest) content() string {
	if len(r.Messages) != 1 || r.Messages[0].Role != "user" {
		return ""
	}
	return r.Messages[0].Content
}

// field reads "X=value" lines of testTemplate's rendering.
func (r *seenRequest) field(name string) string {
	for _, l := range strings.Split(r.content(), "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return v
		}
	}
	return ""
}

const testTemplate = "P={prompt}\nA={response_a}\nB={response_b}"

// fakeLLM is a scripted chat-completions server that counts requests and
// the most it saw in flight at once.
type fakeLLM struct {
	*httptest.Server
	calls                 atomic.Int64
	inflight, maxInflight atomic.Int64
}

// newFake serves handle(w, r, n, req), n counting requests from 1.
func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest)) *fakeLLM {
	f := &fakeLLM{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for {
			m := f.maxInflight.Load()
			if now <= m || f.maxInflight.CompareAndSwap(m, now) {
				break
			}
		}
		n := f.calls.Add(1)
		req := &seenRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
		if err := json.NewDecoder(r.Body).Decode(req); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		handle(w, r, n, req)
	}))
	t.Cleanup(f.Close)
	return f
}

// tokLP is one top_logprobs alternative.
type tokLP struct {
	tok string
	lp  float64
}

// writeAnswer writes a chat completion whose message is text; each element
// of tokens is one content token (its own text first) with its top
// alternatives. nil tokens: no logprobs field.
func writeAnswer(w http.ResponseWriter, text string, tokens ...[]tokLP) {
	choice := map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}
	if tokens != nil {
		var content []any
		for _, alts := range tokens {
			var top []any
			for _, a := range alts {
				top = append(top, map[string]any{"token": a.tok, "logprob": a.lp, "bytes": []byte(a.tok)})
			}
			content = append(content, map[string]any{"token": alts[0].tok, "logprob": alts[0].lp, "top_logprobs": top})
		}
		choice["logprobs"] = map[string]any{"content": content}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "choices": []any{choice}})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"x"}}`, msg)
}

func testConfig(url string) HTTPConfig {
	return HTTPConfig{
		BaseURL: url, Model: "judge-m", Template: testTemplate,
		Timeout: 5 * time.Second, MaxRetries: 3,
		BackoffBase: time.Millisecond, BackoffMax: 4 * time.Millisecond,
	}
}

func mustHTTP(t *testing.T, cfg HTTPConfig) *HTTP {
	t.Helper()
	h, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func prefer1(h *HTTP, a, b string) (float64, error) {
	p, err := h.Prefer(context.Background(), []string{"q"}, []string{a}, []string{b})
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func TestHTTPParseAnswer(t *testing.T) {
	for _, c := range []struct {
		in   string
		want byte
	}{
		{"A", 'A'}, {"B", 'B'}, {" b \n", 'B'}, {"a", 'A'}, {"A.", 'A'}, {"B) it is better", 'B'},
		{"Answer: B", 'B'}, {"answer:A", 'A'}, {"**A**", 'A'}, {"\"B\"", 'B'}, {"[[A]]", 'A'},
		{"Output B", 'B'}, {"Answer: **Output A**", 'A'}, {"<think>A or B?</think>\nB", 'B'},
		{"C", 0}, {"", 0}, {"Apple", 0}, {"Both are fine", 0}, {"B2", 0}, {"Answer:", 0},
		{"<think>A", 0}, {"1", 0}, {"Ä", 0},
	} {
		if got := parseAnswer(c.in); got != c.want {
			t.Errorf("parseAnswer(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestHTTPParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true}, {" 0 ", 0, true},
		{"Sat, 01 Mar 2025 12:00:10 GMT", 10 * time.Second, true},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true}, // in the past: now
		{"99999999999999", maxRetryAfter, true},
		{"", 0, false}, {"-1", 0, false}, {"soon", 0, false}, {"1.5", 0, false},
	} {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestHTTPRequest: the request is what an OpenAI-compatible server expects,
// the template is filled in one pass, and answers land at their items'
// indices although the items run concurrently.
func TestHTTPRequest(t *testing.T) {
	var bad atomic.Value
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		want := fmt.Sprintf("P=%s\nA=%s\nB=%s", req.field("P"), req.field("A"), req.field("B"))
		switch {
		case req.Method != http.MethodPost || req.Path != "/v1/chat/completions":
			bad.Store(fmt.Sprintf("%s %s", req.Method, req.Path))
		case req.ContentType != "application/json" || req.Auth != "":
			bad.Store(fmt.Sprintf("content-type %q, authorization %q", req.ContentType, req.Auth))
		case req.Model != "judge-m" || req.Temperature == nil || *req.Temperature != 0.25 ||
			req.MaxTokens == nil || *req.MaxTokens != 8 || req.Logprobs != nil || req.TopLogprobs != nil:
			bad.Store(fmt.Sprintf("fields %+v", req))
		case req.content() != want:
			bad.Store(fmt.Sprintf("content %q", req.content()))
		}
		// Prefer the response that is the prompt's number doubled.
		var p, x int
		fmt.Sscan(req.field("P"), &p)
		fmt.Sscan(req.field("A"), &x)
		if x == 2*p {
			writeAnswer(w, "A")
		} else {
			writeAnswer(w, "B")
		}
	})
	for _, base := range []string{f.URL, f.URL + "/", f.URL + "/v1"} {
		cfg := testConfig(base)
		cfg.Temperature = 0.25
		h := mustHTTP(t, cfg)
		var prompts, a, b []string
		var want []float64
		for i := range 24 {
			prompts = append(prompts, fmt.Sprint(i))
			if i%3 == 0 {
				a, b = append(a, fmt.Sprint(2*i)), append(b, fmt.Sprint(2*i+1))
				want = append(want, 1)
			} else {
				a, b = append(a, fmt.Sprint(2*i+1)), append(b, fmt.Sprint(2*i))
				want = append(want, 0)
			}
		}
		got, err := h.Prefer(context.Background(), prompts, a, b)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("base %s: got %v, want %v", base, got, want)
		}
	}
	if v := bad.Load(); v != nil {
		t.Errorf("server saw a bad request: %s", v)
	}

	// A placeholder inside a completion is left alone.
	var content atomic.Value
	g := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		content.Store(req.content())
		writeAnswer(w, "A")
	})
	if _, err := prefer1(mustHTTP(t, testConfig(g.URL)), "see {response_b} and {prompt}", "two"); err != nil {
		t.Fatal(err)
	}
	if got, want := content.Load(), "P=q\nA=see {response_b} and {prompt}\nB=two"; got != want {
		t.Errorf("content %q, want %q", got, want)
	}
}

// TestHTTPDefaultTemplate: the default prompt holds each placeholder once
// and shows the prompt, then a as A, then b as B.
func TestHTTPDefaultTemplate(t *testing.T) {
	for _, p := range []string{"{prompt}", "{response_a}", "{response_b}"} {
		if n := strings.Count(DefaultHTTPTemplate, p); n != 1 {
			t.Errorf("DefaultHTTPTemplate holds %s %d times", p, n)
		}
	}
	var content atomic.Value
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		content.Store(req.content())
		writeAnswer(w, "B")
	})
	cfg := testConfig(f.URL)
	cfg.Template = ""
	h := mustHTTP(t, cfg)
	p, err := h.Prefer(context.Background(), []string{"PROMPT-7"}, []string{"FIRST-8"}, []string{"SECOND-9"})
	if err != nil || p[0] != 0 {
		t.Fatalf("got %v, %v", p, err)
	}
	c := content.Load().(string)
	i, j, k := strings.Index(c, "PROMPT-7"), strings.Index(c, "FIRST-8"), strings.Index(c, "SECOND-9")
	if i < 0 || !(i < j && j < k) || !strings.Contains(c[j:k], "Output B") {
		t.Errorf("default prompt does not show prompt, A, B in order:\n%s", c)
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tmpl.txt")
	os.WriteFile(file, []byte("Q: {prompt}\n1: {response_a}\n2: {response_b}\n"), 0o644)
	ok := HTTPConfig{BaseURL: "http://localhost:1", Model: "m"}
	t.Setenv("NASHMD_TEST_JUDGE_EMPTY", "")
	os.Unsetenv("NASHMD_TEST_JUDGE_UNSET")
	for _, c := range []struct {
		name string
		edit func(*HTTPConfig)
		want string // in the error; "" = valid
	}{
		{"ok", func(*HTTPConfig) {}, ""},
		{"template file", func(c *HTTPConfig) { c.TemplateFile = file }, ""},
		{"no url", func(c *HTTPConfig) { c.BaseURL = "" }, "base_url"},
		{"ftp", func(c *HTTPConfig) { c.BaseURL = "ftp://x" }, "base_url"},
		{"no model", func(c *HTTPConfig) { c.Model = "" }, "model"},
		{"unset key", func(c *HTTPConfig) { c.APIKeyEnv = "NASHMD_TEST_JUDGE_UNSET" }, "NASHMD_TEST_JUDGE_UNSET"},
		{"empty key", func(c *HTTPConfig) { c.APIKeyEnv = "NASHMD_TEST_JUDGE_EMPTY" }, "NASHMD_TEST_JUDGE_EMPTY"},
		{"no placeholder", func(c *HTTPConfig) { c.Template = "{prompt} {response_a}" }, "{response_b}"},
		{"both templates", func(c *HTTPConfig) { c.Template = testTemplate; c.TemplateFile = file }, "not both"},
		{"missing file", func(c *HTTPConfig) { c.TemplateFile = file + ".gone" }, "tmpl.txt.gone"},
		{"concurrency", func(c *HTTPConfig) { c.Concurrency = -1 }, "concurrency"},
		{"rps", func(c *HTTPConfig) { c.RPS = math.NaN() }, "rps"},
		{"temperature", func(c *HTTPConfig) { c.Temperature = -1 }, "temperature"},
		{"timeout", func(c *HTTPConfig) { c.Timeout = -time.Second }, "timeout"},
		{"backoff", func(c *HTTPConfig) { c.BackoffBase, c.BackoffMax = time.Second, time.Millisecond }, "backoff_max"},
		{"cache dir is a file", func(c *HTTPConfig) { c.CacheDir = file }, "cache"},
	} {
		cfg := ok
		c.edit(&cfg)
		h, err := NewHTTP(cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
		if c.name == "template file" && err == nil && !strings.HasPrefix(h.cfg.Template, "Q: {prompt}") {
			t.Errorf("template file not used: %q", h.cfg.Template)
		}
	}
}

// TestHTTP429RetryAfter: a 429 is retried after the Retry-After the server
// asked for, not after the (1 ms) backoff.
func TestHTTP429RetryAfter(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "slow down")
			return
		}
		writeAnswer(w, "A")
	})
	h := mustHTTP(t, testConfig(f.URL))
	start := time.Now()
	p, err := prefer1(h, "x", "y")
	if err != nil || p != 1 {
		t.Fatalf("got %v, %v", p, err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, before Retry-After: 1", d)
	}
	if f.calls.Load() != 2 || h.Stats() != (HTTPStats{Requests: 2, Retries: 1}) {
		t.Errorf("calls %d, stats %+v", f.calls.Load(), h.Stats())
	}
}

func TestHTTP500ThenSuccess(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if n == 1 {
			writeError(w, http.StatusInternalServerError, "boom")
			return
		}
		writeAnswer(w, "B")
	})
	p, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y")
	if err != nil || p != 0 || f.calls.Load() != 2 {
		t.Errorf("got %v, %v after %d calls", p, err, f.calls.Load())
	}
}

// TestHTTP503Forever: a persistent failure is an *ItemError after
// 1 + MaxRetries attempts, saying why, never a default 0.5.
func TestHTTP503Forever(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		writeError(w, http.StatusServiceUnavailable, "model is overloaded")
	})
	p, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y")
	var ie *ItemError
	var se *StatusError
	if !errors.As(err, &ie) || ie.Index != 0 || !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("got %v, %v", p, err)
	}
	for _, s := range []string{"4 attempts", "503", "model is overloaded"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if n := f.calls.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

// TestHTTPTimeout: an attempt slower than Timeout is abandoned and retried.
func TestHTTPTimeout(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		writeAnswer(w, "A")
	})
	cfg := testConfig(f.URL)
	cfg.Timeout = 100 * time.Millisecond
	start := time.Now()
	p, err := prefer1(mustHTTP(t, cfg), "x", "y")
	if err != nil || p != 1 || f.calls.Load() != 2 {
		t.Errorf("got %v, %v after %d calls", p, err, f.calls.Load())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v: the timeout did not cut the slow attempt", d)
	}

	// Always slow: the error says so.
	g := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		<-r.Context().Done()
	})
	cfg = testConfig(g.URL)
	cfg.Timeout, cfg.MaxRetries = 20*time.Millisecond, 1
	if _, err := prefer1(mustHTTP(t, cfg), "x", "y"); err == nil || !strings.Contains(err.Error(), "no reply within 20ms") {
		t.Errorf("error %v", err)
	}
}

// TestHTTPConnectionError: a dropped connection is retried.
func TestHTTPConnectionError(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if n == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		writeAnswer(w, "A")
	})
	p, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y")
	if err != nil || p != 1 || f.calls.Load() != 2 {
		t.Errorf("got %v, %v after %d calls", p, err, f.calls.Load())
	}

	// Nothing listening: an error after the retries.
	f.Close()
	if _, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y"); err == nil || !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("closed server: %v", err)
	}
}

func TestHTTPMalformedJSON(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		switch n {
		case 1:
			fmt.Fprint(w, `{"choices": [{"message": {"content": "A"`) // cut short
		case 2:
			fmt.Fprint(w, `{"choices": []}`)
		default:
			writeAnswer(w, "A")
		}
	})
	p, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y")
	if err != nil || p != 1 || f.calls.Load() != 3 {
		t.Errorf("got %v, %v after %d calls", p, err, f.calls.Load())
	}

	g := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		fmt.Fprint(w, "<html>gateway</html>")
	})
	_, err = prefer1(mustHTTP(t, testConfig(g.URL)), "x", "y")
	if err == nil || !strings.Contains(err.Error(), "malformed reply") || !strings.Contains(err.Error(), "gateway") || g.calls.Load() != 4 {
		t.Errorf("error %v after %d calls", err, g.calls.Load())
	}
}

// TestHTTPBadAnswer: an answer that names neither label (prose, a wrong
// label) is retried, then an *ItemError wrapping ErrBadAnswer.
func TestHTTPBadAnswer(t *testing.T) {
	for _, answer := range []string{"I cannot decide between them.", "C"} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
			writeAnswer(w, answer)
		})
		_, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y")
		var ie *ItemError
		if !errors.As(err, &ie) || !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), fmt.Sprintf("%q", answer)) {
			t.Errorf("answer %q: error %v", answer, err)
		}
		if n := f.calls.Load(); n != 4 {
			t.Errorf("answer %q: %d requests, want 4", answer, n)
		}
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if n == 1 {
			writeAnswer(w, "C")
			return
		}
		writeAnswer(w, "Answer: B")
	})
	if p, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y"); err != nil || p != 0 {
		t.Errorf("C then B: got %v, %v", p, err)
	}
}

// TestHTTPLogprobs: with UseLogprobs, P = p(A)/(p(A)+p(B)) from the first
// non-blank answer token's top_logprobs (tokens equal to a label after
// trimming count for it); with one label or none there, the text answer.
// Expected values: Python, math.exp(-0.2)/(math.exp(-0.2)+math.exp(-1.9))
// and a/(a+b) with a = exp(-1)+exp(-1.2), b = exp(-0.5).
func TestHTTPLogprobs(t *testing.T) {
	// The first case is a literal OpenAI reply.
	const openai = `{"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,
	 "message":{"role":"assistant","content":"A"},
	 "logprobs":{"content":[{"token":"A","logprob":-0.2,"bytes":[65],"top_logprobs":[
	   {"token":"A","logprob":-0.2,"bytes":[65]},{"token":"B","logprob":-1.9,"bytes":[66]},{"token":"C","logprob":-3.0,"bytes":[67]}]}]},
	 "finish_reason":"stop"}]}`
	cases := []struct {
		name string
		w    func(http.ResponseWriter)
		want float64
	}{
		{"openai", func(w http.ResponseWriter) { fmt.Fprint(w, openai) }, 0.8455347349164652},
		{"blank first token, two spellings of A", func(w http.ResponseWriter) {
			writeAnswer(w, "\n A", []tokLP{{"\n", -0.01}}, []tokLP{{" A", -1.0}, {"B", -0.5}, {"A", -1.2}, {"Both", -2}})
		}, 0.5245150446512326},
		{"one label", func(w http.ResponseWriter) { writeAnswer(w, "B", []tokLP{{"B", -0.01}, {"C", -5}}) }, 0},
		{"no logprobs", func(w http.ResponseWriter) { writeAnswer(w, "B") }, 0},
		{"null logprobs", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"choices":[{"message":{"content":"A"},"logprobs":null}]}`)
		}, 1},
	}
	for _, c := range cases {
		var fields atomic.Value
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
			if req.Logprobs == nil || !*req.Logprobs || req.TopLogprobs == nil || *req.TopLogprobs < 2 {
				fields.Store(fmt.Sprintf("logprobs %v, top_logprobs %v", req.Logprobs, req.TopLogprobs))
			}
			c.w(w)
		})
		cfg := testConfig(f.URL)
		cfg.UseLogprobs = true
		p, err := prefer1(mustHTTP(t, cfg), "x", "y")
		if err != nil || math.Abs(p-c.want) > 1e-12 {
			t.Errorf("%s: got %v, %v; want %v", c.name, p, err, c.want)
		}
		if v := fields.Load(); v != nil {
			t.Errorf("%s: request asked for %s", c.name, v)
		}
	}

	// Without UseLogprobs, logprobs in the reply are ignored.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) { cases[0].w(w) })
	if p, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y"); err != nil || p != 1 {
		t.Errorf("logprobs off: got %v, %v", p, err)
	}
}

// TestHTTPNoRetryOn4xx: a 401 (or 400) fails at once with the status and
// the server's message, truncated.
func TestHTTPNoRetryOn4xx(t *testing.T) {
	for _, code := range []int{http.StatusUnauthorized, http.StatusBadRequest} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
			writeError(w, code, "nope "+strings.Repeat("x", 1000))
		})
		_, err := prefer1(mustHTTP(t, testConfig(f.URL)), "x", "y")
		var se *StatusError
		if !errors.As(err, &se) || se.Code != code || !strings.Contains(err.Error(), fmt.Sprint(code)) || !strings.Contains(err.Error(), "nope xxx") {
			t.Errorf("%d: error %v", code, err)
		}
		if len(err.Error()) > 400 {
			t.Errorf("%d: message not truncated (%d bytes)", code, len(err.Error()))
		}
		if n := f.calls.Load(); n != 1 {
			t.Errorf("%d: %d requests, want 1", code, n)
		}
	}
}

// TestHTTPConcurrencyCap: never more than Concurrency requests in flight,
// across two calls running at once; and the cap is reached.
func TestHTTPConcurrencyCap(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		time.Sleep(10 * time.Millisecond)
		writeAnswer(w, "A")
	})
	cfg := testConfig(f.URL)
	cfg.Concurrency = 3
	h := mustHTTP(t, cfg)
	items := make([]string, 15)
	var wg sync.WaitGroup
	for c := range 2 {
		wg.Go(func() {
			a := make([]string, len(items))
			for i := range a {
				a[i] = fmt.Sprint(c, i)
			}
			if _, err := h.Prefer(context.Background(), items, a, items); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := f.maxInflight.Load(); m != 3 || f.calls.Load() != 30 {
		t.Errorf("max in flight %d (cap 3), %d requests", m, f.calls.Load())
	}
}

// TestHTTPRateLimit: request starts are spaced by 1/RPS however many may be
// in flight.
func TestHTTPRateLimit(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		writeAnswer(w, "A")
	})
	cfg := testConfig(f.URL)
	cfg.RPS, cfg.Concurrency = 40, 8 // one start per 25 ms
	h := mustHTTP(t, cfg)
	items := make([]string, 9)
	start := time.Now()
	if _, err := h.Prefer(context.Background(), items, items, items); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	slices.SortFunc(arrivals, time.Time.Compare)
	span := arrivals[len(arrivals)-1].Sub(arrivals[0])
	if span < 8*25*time.Millisecond-20*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("9 requests at 40/s: spread over %v (want ≈ 200ms), call took %v", span, elapsed)
	}
}

// TestHTTPCache: a second judge on the same CacheDir (a resumed run) makes
// no request and returns bit-identical results; the key covers the model;
// failures are not cached.
func TestHTTPCache(t *testing.T) {
	var fail atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if fail.Load() {
			writeError(w, http.StatusBadRequest, "no")
			return
		}
		var x float64
		fmt.Sscan(req.field("A"), &x)
		writeAnswer(w, "A", []tokLP{{"A", -x / 7}, {"B", -1 / (x + 1)}})
	})
	dir := t.TempDir()
	cfg := testConfig(f.URL)
	cfg.CacheDir, cfg.UseLogprobs = dir, true
	prompts, a, b := []string{"p", "p", "p", "q", "q"}, []string{"1", "2", "3", "1", "5"}, []string{"9", "9", "9", "9", "9"}
	first, err := mustHTTP(t, cfg).Prefer(context.Background(), prompts, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 5 {
		t.Fatalf("%d requests for 5 items", f.calls.Load())
	}
	h := mustHTTP(t, cfg)
	again, err := h.Prefer(context.Background(), prompts, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 5 || h.Stats() != (HTTPStats{CacheHits: 5}) {
		t.Errorf("resumed run: %d requests, stats %+v", f.calls.Load(), h.Stats())
	}
	for i := range first {
		if math.Float64bits(first[i]) != math.Float64bits(again[i]) || first[i] == 0 || first[i] == 1 {
			t.Errorf("item %d: %v then %v", i, first[i], again[i])
		}
	}

	// Another model is another key.
	other := cfg
	other.Model = "judge-n"
	if _, err := mustHTTP(t, other).Prefer(context.Background(), prompts[:1], a[:1], b[:1]); err != nil || f.calls.Load() != 6 {
		t.Errorf("other model: %v, %d requests", err, f.calls.Load())
	}

	var files int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files != 6 {
		t.Errorf("%d cache files, want 6", files)
	}

	// A failure leaves nothing behind.
	fail.Store(true)
	if _, err := mustHTTP(t, cfg).Prefer(context.Background(), []string{"new"}, []string{"1"}, []string{"2"}); err == nil {
		t.Fatal("400 accepted")
	}
	fail.Store(false)
	before := f.calls.Load()
	if _, err := mustHTTP(t, cfg).Prefer(context.Background(), []string{"new"}, []string{"1"}, []string{"2"}); err != nil || f.calls.Load() != before+1 {
		t.Errorf("after a failure: %v, %d new requests", err, f.calls.Load()-before)
	}
}

// TestHTTPCacheDamaged: a damaged entry is asked again and rewritten.
func TestHTTPCacheDamaged(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) { writeAnswer(w, "A") })
	var logs bytes.Buffer
	cfg := testConfig(f.URL)
	cfg.CacheDir, cfg.Logger = t.TempDir(), log.New(&logs, "", 0)
	h := mustHTTP(t, cfg)
	if _, err := prefer1(h, "x", "y"); err != nil {
		t.Fatal(err)
	}
	path := h.cache.path(h.cacheKey("q", "x", "y"))
	if err := os.WriteFile(path, []byte(`{"p": 1.5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := prefer1(h, "x", "y"); err != nil || p != 1 || f.calls.Load() != 2 {
		t.Errorf("got %v, %v after %d requests", p, err, f.calls.Load())
	}
	if !strings.Contains(logs.String(), "cache entry unreadable") {
		t.Errorf("log: %q", logs.String())
	}
	if p, err := prefer1(h, "x", "y"); err != nil || p != 1 || f.calls.Load() != 2 {
		t.Errorf("rewritten entry: got %v, %v after %d requests", p, err, f.calls.Load())
	}
}

// TestHTTPPositions: the cache keys on position, so asking (y, x) after
// (x, y) asks the server again; and Swap over an HTTP judge cancels a pure
// position bias (a server that always says A) to 0.5.
func TestHTTPPositions(t *testing.T) {
	biased := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) { writeAnswer(w, "A") })
	cfg := testConfig(biased.URL)
	cfg.CacheDir = t.TempDir()
	h := mustHTTP(t, cfg)
	p1, err1 := prefer1(h, "x", "y")
	p2, err2 := prefer1(h, "y", "x")
	if err1 != nil || err2 != nil || p1 != 1 || p2 != 1 || biased.calls.Load() != 2 {
		t.Errorf("(x, y) then (y, x): %v %v, %v %v after %d requests", p1, err1, p2, err2, biased.calls.Load())
	}
	got, err := Swap{Judge: h}.Prefer(context.Background(), []string{"q", "r"}, []string{"x", "u"}, []string{"y", "v"})
	if err != nil || !slices.Equal(got, []float64{0.5, 0.5}) || biased.calls.Load() != 4 {
		t.Errorf("Swap: %v, %v after %d requests (want 2 new)", got, err, biased.calls.Load())
	}
}

// TestHTTPCancel: cancelling the caller's context ends a call waiting to
// retry at once, with the context's error.
func TestHTTPCancel(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		writeError(w, http.StatusServiceUnavailable, "busy")
	})
	cfg := testConfig(f.URL)
	cfg.BackoffBase, cfg.BackoffMax = 10*time.Second, 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	items := []string{"1", "2", "3"}
	_, err := mustHTTP(t, cfg).Prefer(ctx, items, items, items)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("error %v after %v", err, time.Since(start))
	}
}

// TestHTTPFirstFailureStopsOthers: one item failing for good stops the
// rest; the error names that item.
func TestHTTPFirstFailureStopsOthers(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if req.field("P") == "bad" {
			writeError(w, http.StatusForbidden, "forbidden")
			return
		}
		writeError(w, http.StatusServiceUnavailable, "busy")
	})
	cfg := testConfig(f.URL)
	cfg.BackoffBase, cfg.BackoffMax = 10*time.Second, 10*time.Second
	start := time.Now()
	_, err := mustHTTP(t, cfg).Prefer(context.Background(), []string{"ok", "bad", "ok"}, []string{"1", "2", "3"}, []string{"4", "5", "6"})
	var ie *ItemError
	if !errors.As(err, &ie) || ie.Index != 1 || strings.Contains(err.Error(), "item 0") || time.Since(start) > 2*time.Second {
		t.Errorf("error %v after %v", err, time.Since(start))
	}
}

func TestHTTPEmptyAndLengths(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) { writeAnswer(w, "A") })
	h := mustHTTP(t, testConfig(f.URL))
	if p, err := h.Prefer(context.Background(), nil, nil, nil); err != nil || len(p) != 0 || f.calls.Load() != 0 {
		t.Errorf("no items: %v, %v, %d requests", p, err, f.calls.Load())
	}
	if _, err := h.Prefer(context.Background(), []string{"q"}, []string{"a"}, nil); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// TestHTTPKeyNeverLeaks: the key from APIKeyEnv is sent as a bearer token
// and appears in no error, log line, cache file or printed judge, even when
// the server echoes it back.
func TestHTTPKeyNeverLeaks(t *testing.T) {
	const key = "sk-nashmd-test-4f1c9e7d2b"
	t.Setenv("NASHMD_TEST_JUDGE_KEY", key)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64, req *seenRequest) {
		if req.Auth != "Bearer "+key {
			writeError(w, http.StatusForbidden, "wrong authorization header")
			return
		}
		switch req.field("P") {
		case "ok":
			writeAnswer(w, "B "+key, []tokLP{{"B", -0.1}, {"A", -2}})
		case "401":
			writeError(w, http.StatusUnauthorized, "Incorrect API key provided: "+key)
		case "503":
			writeError(w, http.StatusServiceUnavailable, "overloaded for "+key)
		case "junk":
			fmt.Fprint(w, "not json "+key)
		case "prose":
			writeAnswer(w, "my key is "+key)
		}
	})
	var logs bytes.Buffer
	cfg := testConfig(f.URL)
	cfg.APIKeyEnv, cfg.CacheDir, cfg.UseLogprobs, cfg.Logger = "NASHMD_TEST_JUDGE_KEY", t.TempDir(), true, log.New(&logs, "", 0)
	h := mustHTTP(t, cfg)
	var texts []string
	if p, err := h.Prefer(context.Background(), []string{"ok"}, []string{"x"}, []string{"y"}); err != nil || p[0] >= 0.5 {
		t.Fatalf("authorised request: %v, %v", p, err)
	}
	for _, prompt := range []string{"401", "503", "junk", "prose"} {
		_, err := h.Prefer(context.Background(), []string{prompt}, []string{"x"}, []string{"y"})
		if err == nil {
			t.Fatalf("%s: no error", prompt)
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("%s: the echoed key was not redacted: %v", prompt, err)
		}
		texts = append(texts, err.Error())
	}
	if _, err := NewHTTP(HTTPConfig{BaseURL: "::", Model: "m", APIKeyEnv: "NASHMD_TEST_JUDGE_KEY"}); err != nil {
		texts = append(texts, err.Error())
	}
	if logs.Len() == 0 {
		t.Error("nothing logged: the retries should have been")
	}
	texts = append(texts, logs.String(), fmt.Sprintf("%v %+v %#v", h, h, h), fmt.Sprintf("%+v", cfg))
	filepath.WalkDir(cfg.CacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			texts = append(texts, string(data))
		}
		return nil
	})
	if len(texts) < 8 {
		t.Errorf("only %d texts scanned", len(texts))
	}
	for _, s := range texts {
		if strings.Contains(s, key) || strings.Contains(s, key[3:15]) {
			t.Errorf("the key leaked into: %s", s)
		}
	}
}
