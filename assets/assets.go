// Package assets embeds the browser's JavaScript and CSS and serves them
// under content-hashed names, so they can be cached forever.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
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
	b := &Bundle{byName: map[string]*File{}, byURL: map[string]*File{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		f := &File{
			Name:        name,
			URL:         Prefix + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext,
			ContentType: mime.TypeByExtension(ext),
			Body:        body,
		}
		b.byName[name] = f
		b.byURL[f.URL] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assets: load: %w", err)
	}
	return b, nil
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
