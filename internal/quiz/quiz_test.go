package quiz

import (
	"os"
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Algiers", []string{"Algiers"}},
		{"N'Djamena|Ndjamena", []string{"N'Djamena", "Ndjamena"}},
		{"Yaound['\be|e\b'|e]", []string{"Yaounde"}},
		{"Bra[z|s]il", []string{"Brazil", "Brasil"}},
		{"{The }Gambia", []string{"The Gambia", "Gambia"}},
		{"Central Africa{n Rep{ublic}}", []string{"Central African Republic", "Central African Rep", "Central Africa"}},
		{"Port[-| ]au[-| ]Prince", []string{"Port au Prince", "Port au-Prince", "Port-au Prince", "Port-au-Prince"}},
	} {
		got, err := Expand(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"Yaound['e", "a}b", "{}"} {
		if _, err := Expand(bad); err == nil {
			t.Errorf("Expand(%q) accepted", bad)
		}
	}
}

// TestReadDebian reads the capitals files that Debian's bsdgames installs.
func TestReadDebian(t *testing.T) {
	if _, err := os.Stat(Dir); err != nil {
		if os.Getenv("NASHMD_ASSETS") != "" {
			t.Fatalf("bsdgames quiz files missing (make deps installs bsdgames): %v", err)
		}
		t.Skip("bsdgames not installed")
	}
	n := 0
	for _, f := range []string{"africa", "america", "asia", "europe", "elements"} {
		items, err := Read(Dir + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if len(it.Fields) < 2 {
				t.Fatalf("%s: item %v has %d fields", f, it.Fields, len(it.Fields))
			}
		}
		n += len(items)
	}
	if n < 300 {
		t.Fatalf("only %d items", n)
	}
}
