package assets

import (
	"regexp"
	"strings"
	"testing"
)

// TestImportRewriting: relative import specifiers become the hashed URLs
// of the modules they name, and a module's URL changes with any module it
// imports, directly or not.
func TestImportRewriting(t *testing.T) {
	files := map[string][]byte{
		"main.js":     []byte(`import { a } from "./a.js";` + "\n" + `import './lib/side.js';` + "\n" + `export { b } from "./b.js";` + "\n" + `const s = "./a.js is not an import";`),
		"a.js":        []byte(`import {b} from"./b.js"; export const a = b;`),
		"b.js":        []byte(`export const b = 1;`),
		"lib/side.js": []byte(`import { b } from "../b.js"; console.log(b);`),
		"style.css":   []byte(`body { color: red }`),
	}
	b, err := build(files)
	if err != nil {
		t.Fatal(err)
	}
	main, _ := b.ByURL(b.URL("main.js"))
	want := `import { a } from "` + b.URL("a.js") + `";` + "\n" + `import '` + b.URL("lib/side.js") + `';` + "\n" + `export { b } from "` + b.URL("b.js") + `";` + "\n" + `const s = "./a.js is not an import";`
	if string(main.Body) != want {
		t.Errorf("main.js rewritten as\n%s\nwant\n%s", main.Body, want)
	}
	if got := strings.Join(main.Imports, " "); got != "a.js lib/side.js b.js" {
		t.Errorf("main.js imports %q", got)
	}
	if a, _ := b.ByURL(b.URL("a.js")); string(a.Body) != `import {b} from"`+b.URL("b.js")+`"; export const a = b;` {
		t.Errorf("a.js rewritten as %s", a.Body)
	}
	if side, _ := b.ByURL(b.URL("lib/side.js")); !strings.Contains(string(side.Body), `"`+b.URL("b.js")+`"`) {
		t.Errorf("lib/side.js rewritten as %s", side.Body)
	}
	if !regexp.MustCompile(`^/assets/lib/side\.[0-9a-f]{10}\.js$`).MatchString(b.URL("lib/side.js")) {
		t.Errorf("lib/side.js served at %s", b.URL("lib/side.js"))
	}

	// A change in b.js renames b.js, a.js and main.js, and nothing else.
	files["b.js"] = []byte(`export const b = 2;`)
	b2, err := build(files)
	if err != nil {
		t.Fatal(err)
	}
	for name, changes := range map[string]bool{"b.js": true, "a.js": true, "lib/side.js": true, "main.js": true, "style.css": false} {
		if changed := b.URL(name) != b2.URL(name); changed != changes {
			t.Errorf("%s: URL changed %v, want %v", name, changed, changes)
		}
	}
}

func TestImportErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"cycle", map[string][]byte{
			"a.js": []byte(`import "./b.js";`),
			"b.js": []byte(`import "./c.js";`),
			"c.js": []byte(`import "./a.js";`),
		}, "import cycle: "},
		{"self", map[string][]byte{"a.js": []byte(`import "./a.js";`)}, "import cycle: a.js -> a.js"},
		{"missing", map[string][]byte{"a.js": []byte(`import { x } from "./nope.js";`)}, `a.js imports "./nope.js": no such module`},
		{"outside", map[string][]byte{"a.js": []byte(`import "../a.js";`)}, `a.js imports "../a.js": no such module`},
		{"not a script", map[string][]byte{"a.js": []byte(`import "./s.css";`), "s.css": nil}, `a.js imports "./s.css": no such module`},
		{"lazy, missing", map[string][]byte{"a.js": []byte(`const m = import("./nope.js");`)}, `a.js imports "./nope.js": no such module`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one with %q", err, tt.want)
			}
		})
	}
	// A cycle names every module on it, in import order.
	_, err := build(map[string][]byte{"a.js": []byte(`import "./b.js";`), "b.js": []byte(`import "./a.js";`)})
	if err == nil || !(strings.Contains(err.Error(), "a.js -> b.js -> a.js") || strings.Contains(err.Error(), "b.js -> a.js -> b.js")) {
		t.Errorf("cycle reported as %v", err)
	}
}

// TestLoad: the embedded bundle loads, and no served module is left with a
// relative import.
func TestLoad(t *testing.T) {
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range b.All() {
		if !strings.HasSuffix(f.Name, ".js") {
			continue
		}
		for _, pattern := range []*regexp.Regexp{importPattern, lazyImportPattern} {
			if m := pattern.Find(f.Body); m != nil {
				t.Errorf("%s still has %s", f.Name, m)
			}
		}
		for _, dep := range append(f.Imports, f.LazyImports...) {
			if !strings.Contains(string(f.Body), `"`+b.URL(dep)+`"`) {
				t.Errorf("%s does not import %s at %s", f.Name, dep, b.URL(dep))
			}
		}
	}
}

func TestCompact(t *testing.T) {
	src := "// @ts-check\n// Two lines\n// of comment.\nconst a = 1; // stays\n  /**\n   * @param {string} x\n   */\nfunction f(x) {\n  /** @type {number} */\n  const n = /** @type {any} */ (x);\n  /* a */ const m = 2;\n  /*\n   * b\n   */ const k = 3;\n  const s = \"// not a comment\";\n}"
	want := "\n\n\nconst a = 1; // stays\n\n\n\nfunction f(x) {\n\nconst n = /** @type {any} */ (x);\nconst m = 2;\n\n\nconst k = 3;\nconst s = \"// not a comment\";\n}"
	if got := string(compact([]byte(src))); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestLazyImport: a dynamic import is rewritten to the hashed URL, and the
// module is not among those a page preloads.
func TestLazyImport(t *testing.T) {
	b, err := build(map[string][]byte{
		"a.js":    []byte(`button.onclick = () => import("./lazy.js").then((m) => m.go());`),
		"lazy.js": []byte(`export function go() {}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := b.byName["a.js"]
	if want := `import("` + b.URL("lazy.js") + `")`; !strings.Contains(string(a.Body), want) {
		t.Errorf("a.js is %s, want it to contain %s", a.Body, want)
	}
	if urls := b.ModuleURLs("a.js"); len(urls) != 0 {
		t.Errorf("a.js preloads %v, want nothing", urls)
	}
}

// TestModuleURLs: the call script's modules, each once, dependencies
// first, so that a page can preload them all.
func TestModuleURLs(t *testing.T) {
	b, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	urls := b.ModuleURLs("call.js")
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u] {
			t.Errorf("%s listed twice", u)
		}
		seen[u] = true
		f, ok := b.ByURL(u)
		if !ok {
			t.Fatalf("%s is not served", u)
		}
		for _, dep := range f.Imports {
			if !seen[b.URL(dep)] {
				t.Errorf("%s comes before %s, which it imports", f.Name, dep)
			}
		}
	}
	for _, name := range []string{"signaling.js", "peer.js", "media.js", "i18n.js", "ui.js"} {
		if !seen[b.URL(name)] {
			t.Errorf("call.js's modules %v lack %s", urls, name)
		}
	}
	if seen[b.URL("call.js")] {
		t.Error("call.js preloads itself")
	}
}
