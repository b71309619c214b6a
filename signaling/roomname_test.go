package signaling

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestNormalizeRoom(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"team-a", "team-a", true},
		{"Team-A", "team-a", true},
		{"TEAM_A.2", "team_a.2", true},
		{"家庭会议", "家庭会议", true},
		{"Straße", "strasse", true},
		{"e\u0301te", "\u00e9te", true}, // NFC composes e + combining acute
		{"ÉTÉ", "été", true},
		{"ꮮ", "Ꮮ", true}, // Cherokee folds back and forth; it settles
		{"Ꮮ", "Ꮮ", true},
		{"ᏣᎳᎩ", "ᏣᎳᎩ", true},
		{"ꮳꮃꭹ", "ᏣᎳᎩ", true},
		{"नमस्ते", "नमस्ते", true},
		{"a.b", "a.b", true},
		{"٣٤", "٣٤", true}, // Arabic-Indic digits
		{strings.Repeat("x", 64), strings.Repeat("x", 64), true},
		{strings.Repeat("家", 64), strings.Repeat("家", 64), true},
		{"", "", false},
		{strings.Repeat("x", 65), "", false},
		{"a b", "", false},
		{"a/b", "", false},
		{"../etc", "", false},
		{"..", "", false},
		{".", "", false},
		{"<script>", "", false},
		{"a\x00b", "", false},
		{"\u0301a", "", false},  // a mark cannot start a name
		{"a\u200bb", "", false}, // zero-width space
		{"\xff\xfe", "", false},
		{"emoji😀", "", false},
		{"a%2Fb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeRoom(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeRoom(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRoom) {
				t.Fatalf("NormalizeRoom(%q) = %q, %v; want ErrInvalidRoom", tt.in, got, err)
			}
		})
	}
}

func TestRandomRoom(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)
	seen := map[string]bool{}
	for range 1000 {
		r := RandomRoom()
		if !shape.MatchString(r) {
			t.Fatalf("RandomRoom() = %q, not four groups of four", r)
		}
		if n, err := NormalizeRoom(r); err != nil || n != r {
			t.Fatalf("RandomRoom() = %q is not canonical: %q, %v", r, n, err)
		}
		if seen[r] {
			t.Fatalf("RandomRoom() repeated %q", r)
		}
		seen[r] = true
	}
}

func FuzzNormalizeRoom(f *testing.F) {
	for _, s := range []string{"team-a", "Team-A", "家庭会议", "Straße", "..", "a b", "\u0301a", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if plainASCII(in) && fold(in) != in {
			t.Fatalf("fast path differs: fold(%q) = %q", in, fold(in))
		}
		got, err := NormalizeRoom(in)
		if err != nil {
			return
		}
		again, err := NormalizeRoom(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}
