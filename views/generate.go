// Package views holds the templ pages. The generated *_templ.go files are
// committed; regenerate them with `go generate ./views` (which runs the
// templ CLI pinned in go.mod from this folder, so error positions in the
// generated code name files relative to it).
package views

//go:generate go tool templ generate
