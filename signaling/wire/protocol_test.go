package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// declared returns the values of the package's constants whose names
// start with prefix, read from its source: Go cannot list constants.
func declared(t *testing.T, prefix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				spec := spec.(*ast.ValueSpec)
				for i, id := range spec.Names {
					if i >= len(spec.Values) || !id.IsExported() || !strings.HasPrefix(id.Name, prefix) {
						continue
					}
					lit, ok := spec.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s is not a literal: this test cannot read it", id.Name)
					}
					v := lit.Value
					if lit.Kind == token.STRING {
						v, _ = strconv.Unquote(v)
					}
					out[id.Name] = v
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s constants found", prefix)
	}
	return out
}

// section returns the part of the document under heading, up to the next
// heading of any level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/protocol.md has no %q", heading)
	}
	rest := doc[i+len(heading)+2:]
	if j := regexp.MustCompile(`(?m)^#+ `).FindStringIndex(rest); j != nil {
		rest = rest[:j[0]]
	}
	return rest
}

// firstCells returns the backquoted first cell of each row of the
// markdown tables in text.
func firstCells(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

func values(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

// TestProtocolDoc keeps docs/protocol.md and this package in step: every
// type, error code and close code declared here is in the document, and
// every one the document's tables (and its list of close codes) name is
// declared here. The data channel's types go between browsers, not
// through the server, and are not this package's.
func TestProtocolDoc(t *testing.T) {
	raw, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	types, codes, closes := declared(t, "Type"), declared(t, "Code"), declared(t, "Close")

	for name, v := range types {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("%s (%q) is not in docs/protocol.md", name, v)
		}
	}
	for name, v := range codes {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("%s (%q) is not in docs/protocol.md", name, v)
		}
	}
	for name, v := range closes {
		if !regexp.MustCompile(`\b` + v + `\b`).MatchString(doc) {
			t.Errorf("%s (%s) is not in docs/protocol.md", name, v)
		}
	}

	for _, heading := range []string{"## Server to client", "## Client to server"} {
		cells := firstCells(section(t, doc, heading))
		if len(cells) == 0 {
			t.Errorf("no message types found under %q", heading)
		}
		for _, typ := range cells {
			if !values(types)[typ] {
				t.Errorf("%s: type %q is not declared in package wire", heading, typ)
			}
		}
	}
	errorCodes := section(t, doc, "### Error codes")
	cells := firstCells(errorCodes)
	if len(cells) == 0 {
		t.Error("no error codes found under \"### Error codes\"")
	}
	for _, code := range cells {
		if !values(codes)[code] {
			t.Errorf("error code %q is not declared in package wire", code)
		}
	}
	i := strings.Index(errorCodes, "Close codes:")
	if i < 0 {
		t.Fatal(`no "Close codes:" under "### Error codes"`)
	}
	list := errorCodes[i:]
	if j := strings.Index(list, "\n\n"); j >= 0 {
		list = list[:j]
	}
	for _, code := range regexp.MustCompile(`\b[1-4]\d{3}\b`).FindAllString(list, -1) {
		if !values(closes)[code] {
			t.Errorf("close code %s is not declared in package wire", code)
		}
	}
}
