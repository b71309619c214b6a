// Package assets embeds the browser's JavaScript and CSS and serves them
// under content-hashed names, so they can be cached forever.
package assets

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"regexp"
	"strings"
)

//go:embed static
var static embed.FS

// File is one embedded asset.
type File struct {
	Name        string // e.g. "call.js"
	URL         string // e.g. "/assets/call.3f2a9c1d0b.js"
	ContentType string
	Body        []byte
	Imports     []string // the names of the modules a script imports, e.g. "peer.js"
	LazyImports []string // the names of those it imports when first needed, e.g. "verify.js"
}

// Bundle is every embedded asset, by name and by URL.
type Bundle struct {
	byName map[string]*File
	byURL  map[string]*File
}

// Prefix is the URL path under which assets are served.
const Prefix = "/assets/"

// Load reads the embedded files and names each by its content hash.
func Load() (*Bundle, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, "static/")] = body
		return nil
	})
	if err == nil {
		var b *Bundle
		if b, err = build(files); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("assets: load: %w", err)
}

// importPattern finds the relative specifier of a static import or
// re-export: `import … from "./peer.js"`, `import "./x.js"`,
// `export … from "./x.js"`.
var importPattern = regexp.MustCompile(`\b(?:from|import)\s*(?:"(\.\.?/[^"\n]+)"|'(\.\.?/[^'\n]+)')`)

// lazyImportPattern finds the relative specifier of a dynamic import,
// `import("./verify.js")`: a module loaded when a feature is first used,
// which a page does not preload.
var lazyImportPattern = regexp.MustCompile(`\bimport\(\s*(?:"(\.\.?/[^"\n]+)"|'(\.\.?/[^'\n]+)')\s*\)`)

// build names every file by its content hash. A JavaScript module's
// relative imports are rewritten to the hashed URLs of the modules they
// name, so a module is hashed after its imports, and its hash covers the
// rewritten text: a change anywhere below it gives it a new URL too.
func build(files map[string][]byte) (*Bundle, error) {
	b := &Bundle{byName: map[string]*File{}, byURL: map[string]*File{}}
	var visit func(name string, stack []string) (*File, error)
	visit = func(name string, stack []string) (*File, error) {
		if f := b.byName[name]; f != nil {
			return f, nil
		}
		for i, s := range stack {
			if s == name {
				return nil, fmt.Errorf("import cycle: %s", strings.Join(append(stack[i:], name), " -> "))
			}
		}
		stack = append(stack, name)
		body := files[name]
		f := &File{Name: name, ContentType: mime.TypeByExtension(path.Ext(name))}
		if ext := path.Ext(name); ext == ".js" || ext == ".css" {
			body = compact(body)
		}
		if path.Ext(name) == ".js" {
			var failed error
			rewrite := func(pattern *regexp.Regexp, imports *[]string) func([]byte) []byte {
				return func(m []byte) []byte {
					if failed != nil {
						return m
					}
					sub := pattern.FindSubmatch(m)
					spec := string(sub[1]) + string(sub[2])
					dep := path.Join(path.Dir(name), spec)
					if _, ok := files[dep]; !ok || path.Ext(dep) != ".js" || strings.HasPrefix(dep, "../") {
						failed = fmt.Errorf("%s imports %q: no such module", name, spec)
						return m
					}
					d, err := visit(dep, stack)
					if err != nil {
						failed = err
						return m
					}
					*imports = append(*imports, dep)
					return []byte(strings.Replace(string(m), spec, d.URL, 1))
				}
			}
			body = importPattern.ReplaceAllFunc(body, rewrite(importPattern, &f.Imports))
			body = lazyImportPattern.ReplaceAllFunc(body, rewrite(lazyImportPattern, &f.LazyImports))
			if failed != nil {
				return nil, failed
			}
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		f.URL = Prefix + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		f.Body = body
		b.byName[name] = f
		b.byURL[f.URL] = f
		return f, nil
	}
	for name := range files {
		if _, err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// compact empties the lines of a script or a stylesheet that hold nothing
// but a comment ("//" lines and "/* … */" blocks that begin a line) and
// drops every line's indentation. The page downloads the code without its
// documentation and layout, and every line keeps its number, so errors
// still point into the sources. Comments after code on a line stay. A
// script with template literals is served as it is: a line of one could
// begin with "//", and its indentation is its text.
func compact(src []byte) []byte {
	if bytes.IndexByte(src, '`') >= 0 {
		return src
	}
	lines := strings.SplitAfter(string(src), "\n")
	inBlock := false
	for i, line := range lines {
		text := strings.TrimSpace(line)
		if !inBlock {
			if strings.HasPrefix(text, "//") {
				lines[i] = newline(line)
				continue
			}
			if !strings.HasPrefix(text, "/*") {
				lines[i] = strings.TrimLeft(line, " \t")
				continue
			}
			text = text[2:]
		}
		end := strings.Index(text, "*/")
		inBlock = end < 0
		if !inBlock && strings.TrimSpace(text[end+2:]) != "" {
			lines[i] = strings.TrimSpace(text[end+2:]) + newline(line) // code after the comment
			continue
		}
		lines[i] = newline(line)
	}
	return []byte(strings.Join(lines, ""))
}

// newline is line's line break, if it has one.
func newline(line string) string {
	if strings.HasSuffix(line, "\n") {
		return "\n"
	}
	return ""
}

// ModuleURLs returns the hashed URLs of the modules that the named script
// imports, directly or through others, each once, dependencies first: a
// page can preload them all at once (rel=modulepreload) instead of
// discovering them one import at a time.
func (b *Bundle) ModuleURLs(name string) []string {
	var urls []string
	seen := map[string]bool{name: true}
	var walk func(string)
	walk = func(n string) {
		f := b.byName[n]
		if f == nil {
			return
		}
		for _, dep := range f.Imports {
			if !seen[dep] {
				seen[dep] = true
				walk(dep)
				urls = append(urls, b.byName[dep].URL)
			}
		}
	}
	walk(name)
	return urls
}

// URL returns the hashed URL of the named asset, or "" when there is none.
func (b *Bundle) URL(name string) string {
	if f := b.byName[name]; f != nil {
		return f.URL
	}
	return ""
}

// ByURL returns the asset served at urlPath.
func (b *Bundle) ByURL(urlPath string) (*File, bool) {
	f, ok := b.byURL[urlPath]
	return f, ok
}

// All returns every asset.
func (b *Bundle) All() []*File {
	all := make([]*File, 0, len(b.byName))
	for _, f := range b.byName {
		all = append(all, f)
	}
	return all
}
