package contracts

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The documents a newcomer reads to find their way in (the README and
// docs/, architecture.md first) name packages, files and Go identifiers in
// backquotes; every one must exist, or the document sends them to code
// that moved. The changelog is history and may name what is gone.
func codeMaps(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md found: %v", err)
	}
	return append(docs, filepath.Join(repoRoot, "README.md"))
}

var (
	backquoted = regexp.MustCompile("`([^`\n]+)`")
	// A repository path: starts with one of its top-level directories.
	repoPath = regexp.MustCompile(`^(agent|pipelines|telemetry|cmd|internal|deploy|dashboards|alerting-rules|docs|tests)(/[\w.*-]+)*/?$`)
	// pkg.Name, pkg.Type.Member or Type.Member.
	goName = regexp.MustCompile(`^(?:[a-z]\w*\.)?[A-Z]\w*(?:\.[A-Z]\w*)?$|^[a-z]\w*\.[A-Z]\w*\.[A-Za-z]\w*$`)
)

// TestCodeMapsNameWhatExists checks every path and Go name that the docs
// cite against the repository.
func TestCodeMapsNameWhatExists(t *testing.T) {
	names := declaredNames(t)
	for _, doc := range codeMaps(t) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range backquoted.FindAllStringSubmatch(line, -1) {
				ref := strings.TrimSuffix(strings.TrimSuffix(m[1], "()"), ":")
				switch {
				case repoPath.MatchString(ref):
					if matches, _ := filepath.Glob(filepath.Join(repoRoot, ref)); len(matches) == 0 {
						t.Errorf("%s:%d: %s does not exist", doc, i+1, ref)
					}
				case goName.MatchString(ref) && strings.Contains(ref, "."):
					if pkg, _, _ := strings.Cut(ref, "."); isLower(pkg) && !names[pkg] {
						continue // another module's package (yaml.Node)
					}
					if !names[ref] {
						t.Errorf("%s:%d: %s is declared nowhere in the repository", doc, i+1, ref)
					}
				}
			}
		}
	}
}

// declaredNames are the repository's Go declarations as a document would
// cite them: pkg.Name for top-level names, and Type.Member and
// pkg.Type.Member for methods, struct fields and interface methods, and
// pkg.Method for a method of a package's type (world.Due is World.Due).
// Package names are in it too.
func declaredNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	add := func(pkg, typ, member string) {
		names[pkg] = true
		if typ == "" {
			names[pkg+"."+member] = true
			return
		}
		names[typ+"."+member] = true
		names[pkg+"."+typ+"."+member] = true
		names[pkg+"."+member] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != repoRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := f.Name.Name
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				add(pkg, receiverType(decl), decl.Name.Name)
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						add(pkg, "", spec.Name.Name)
						addMembers(spec, func(member string) { add(pkg, spec.Name.Name, member) })
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							add(pkg, "", n.Name)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// receiverType is the name of a method's receiver type, or "" for a function.
func receiverType(f *ast.FuncDecl) string {
	if f.Recv == nil || len(f.Recv.List) == 0 {
		return ""
	}
	typ := f.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	switch x := typ.(type) {
	case *ast.IndexExpr: // a generic type: T[K]
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// addMembers calls add for each field of a struct type and each method of
// an interface type, embedded ones by their type's name.
func addMembers(spec *ast.TypeSpec, add func(string)) {
	var fields *ast.FieldList
	switch x := spec.Type.(type) {
	case *ast.StructType:
		fields = x.Fields
	case *ast.InterfaceType:
		fields = x.Methods
	default:
		return
	}
	for _, f := range fields.List {
		for _, n := range f.Names {
			add(n.Name)
		}
		if len(f.Names) == 0 { // embedded
			typ := f.Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			if sel, ok := typ.(*ast.SelectorExpr); ok {
				add(sel.Sel.Name)
			} else if id, ok := typ.(*ast.Ident); ok {
				add(id.Name)
			}
		}
	}
}

func isLower(s string) bool { return s != "" && s[0] >= 'a' && s[0] <= 'z' }
