package app

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"tandem/assets"
)

// keyPattern finds message keys ("lobby.join") quoted in the views and the
// script.
var keyPattern = regexp.MustCompile(`"([a-z][A-Za-z]*(?:\.[a-z][A-Za-z-]*)+)"`)

// placeholderPattern finds {name} placeholders in a text.
var placeholderPattern = regexp.MustCompile(`\{\w+\}`)

// TestCatalogue: every key the pages and the script use has a text in
// every language, every text is used, and no translation asks for a
// placeholder that the English text does not fill.
func TestCatalogue(t *testing.T) {
	b, err := assets.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadCatalogue(b)
	if err != nil {
		t.Fatal(err)
	}

	sources, err := filepath.Glob("../views/*.templ")
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob("../assets/static/*.js")
	if err != nil || len(scripts) == 0 {
		t.Fatal("no scripts found", err)
	}
	sources = append(sources, scripts...)
	sources = append(sources, "handlers.go", "i18n.go")
	used := map[string]bool{}
	for _, file := range sources {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyPattern.FindAllStringSubmatch(string(src), -1) {
			if b.URL(m[1]) != "" {
				continue // an asset's file name, such as "peer.js"
			}
			used[m[1]] = true
			if _, ok := c[languages[0]][m[1]]; !ok {
				t.Errorf("%s uses %q, which the catalogue lacks", file, m[1])
			}
		}
	}
	for key := range c[languages[0]] {
		if !used[key] {
			t.Errorf("%q is in the catalogue but used nowhere", key)
		}
	}
	for _, lang := range languages[1:] {
		for key, text := range c[lang] {
			want := placeholderPattern.FindAllString(c[languages[0]][key], -1)
			for _, p := range placeholderPattern.FindAllString(text, -1) {
				if !slices.Contains(want, p) {
					t.Errorf("%s %q: %s is not filled in", lang, key, p)
				}
			}
		}
	}
}

func TestParseCatalogueRefusesGaps(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", `{"en":`},
		{"no Chinese", `{"en": {"a.b": "A"}}`},
		{"empty text", `{"en": {"a.b": "A"}, "zh-CN": {"a.b": ""}}`},
		{"key missing", `{"en": {"a.b": "A", "a.c": "C"}, "zh-CN": {"a.b": "甲"}}`},
		{"extra key", `{"en": {"a.b": "A"}, "zh-CN": {"a.b": "甲", "a.c": "丙"}}`},
	}
	for _, tt := range tests {
		if _, err := parseCatalogue([]byte(tt.body)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := parseCatalogue([]byte(`{"en": {"a.b": "A"}, "zh-CN": {"a.b": "甲"}}`)); err != nil {
		t.Errorf("a complete catalogue refused: %v", err)
	}
}
