//go:build linux

package bidi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteUserJS checks the syntax of user.js and that only the types a
// pref can have are accepted.
func TestWriteUserJS(t *testing.T) {
	cases := []struct {
		name    string
		prefs   map[string]any
		want    []string // lines, in order
		wantErr bool
	}{
		{
			name:  "types, sorted",
			prefs: map[string]any{"b.int": 5, "a.bool": true, "c.string": `say "hi"`},
			want:  []string{`user_pref("a.bool", true);`, `user_pref("b.int", 5);`, `user_pref("c.string", "say \"hi\"");`},
		},
		{name: "float", prefs: map[string]any{"x": 1.5}, wantErr: true},
		{name: "nil", prefs: map[string]any{"x": nil}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := writeUserJS(dir, tc.prefs)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "user.js"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:] // after the comment
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("user.js:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestDefaultPrefs checks that the defaults can be written and hold the
// prefs that the fake media devices need.
func TestDefaultPrefs(t *testing.T) {
	prefs := DefaultPrefs()
	for _, name := range []string{"media.navigator.streams.fake", "media.navigator.permission.disabled"} {
		if prefs[name] != true {
			t.Errorf("%s = %v, want true", name, prefs[name])
		}
	}
	if err := writeUserJS(t.TempDir(), prefs); err != nil {
		t.Fatal(err)
	}
}
