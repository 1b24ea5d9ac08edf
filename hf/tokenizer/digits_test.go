package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// TestDigits: the Digits pre-tokenizer (SmolLM2's real pre-tokenizer is
// Sequence[Digits(individual_digits), ByteLevel]) against the tokenizers
// library (testdata/golden_digits.json from testdata/gen_digits.py).
func TestDigits(t *testing.T) {
	b, err := os.ReadFile("testdata/golden_digits.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			Individual bool   `json:"individual"`
			Text       string `json:"text"`
			IDs        []int  `json:"ids"`
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("testdata/smollm2/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	toks := map[bool]*Tokenizer{}
	for _, individual := range []bool{true, false} {
		var j map[string]any
		if err := json.Unmarshal(base, &j); err != nil {
			t.Fatal(err)
		}
		j["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Digits", "individual_digits": individual},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}}}
		data, _ := json.Marshal(j)
		if toks[individual], err = Parse(data); err != nil {
			t.Fatal(err)
		}
	}
	if len(g.Cases) < 600 {
		t.Fatalf("%d cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		got := toks[c.Individual].Encode(c.Text, false)
		if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Fatalf("individual=%v %q: got %v, want %v", c.Individual, c.Text, got, c.IDs)
		}
	}
}
