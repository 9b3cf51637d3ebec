package keyledger_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/keyledger/keyledger"

// listedPackage is what go list -json says of a package.
type listedPackage struct {
	ImportPath string
	Name       string
	Export     string
	Imports    []string
	Deps       []string
}

var listing = sync.OnceValues(func() (map[string]*listedPackage, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return nil, errNoGo
	}
	cmd := exec.Command("go", "list", "-e", "-export", "-deps", "-json=ImportPath,Name,Export,Imports,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.String())
	}
	pkgs := map[string]*listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, err
		}
		pkgs[p.ImportPath] = &p
	}
})

var errNoGo = errors.New("no go command")

// listModule is go list over the module and its dependencies, with export
// data (the compiled type information of each package).
func listModule(t *testing.T) map[string]*listedPackage {
	t.Helper()
	pkgs, err := listing()
	if errors.Is(err, errNoGo) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func inModule(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

func isInternal(path string) bool {
	return inModule(path) && slices.Contains(strings.Split(path, "/"), "internal")
}

// No exported identifier of a public package has a type defined in one of
// the module's internal packages: a caller outside the module can name and
// build everything the API takes and returns.
func TestNoInternalTypeInPublicAPI(t *testing.T) {
	pkgs := listModule(t)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		p, ok := pkgs[path]
		if !ok || p.Export == "" {
			return nil, errors.New("no export data for " + path)
		}
		return os.Open(p.Export)
	})
	checked := 0
	for path, p := range pkgs {
		if !inModule(path) || isInternal(path) || p.Name == "main" {
			continue
		}
		pkg, err := imp.Import(path)
		if err != nil {
			t.Fatalf("load %s: %v", path, err)
		}
		checked++
		for _, leak := range internalTypes(pkg) {
			t.Errorf("%s", leak)
		}
	}
	if checked < 8 {
		t.Fatalf("checked %d public packages; the listing missed some", checked)
	}
}

// No example program imports an internal package: each one is code a user
// can copy out of the module.
func TestExamplesImportNoInternal(t *testing.T) {
	n := 0
	for path, p := range listModule(t) {
		if !strings.HasPrefix(path, module+"/examples/") {
			continue
		}
		n++
		for _, imp := range p.Imports {
			if isInternal(imp) {
				t.Errorf("%s imports %s", path, imp)
			}
		}
	}
	if n == 0 {
		t.Fatal("no example found")
	}
}

// Package secret imports no storage: using it does not pull in the ledger
// or Pebble.
func TestSecretImportsNoStorage(t *testing.T) {
	p, ok := listModule(t)[module+"/secret"]
	if !ok {
		t.Fatal("package secret not listed")
	}
	for _, d := range p.Deps {
		if d == module+"/ledger" || strings.HasPrefix(d, "github.com/cockroachdb/") {
			t.Errorf("secret depends on %s", d)
		}
	}
}

// internalTypes lists, as "pkg.Name[.member]: type", every place where the
// exported API of pkg mentions a type defined in an internal package.
func internalTypes(pkg *types.Package) []string {
	w := &apiWalker{pkg: pkg, seen: map[types.Type]bool{}}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		w.at = pkg.Name() + "." + name
		switch obj := obj.(type) {
		case *types.TypeName:
			w.typeDecl(obj)
		default: // funcs, vars, consts
			w.check(obj.Type())
		}
	}
	return w.leaks
}

type apiWalker struct {
	pkg   *types.Package
	at    string // the identifier being walked
	seen  map[types.Type]bool
	leaks []string
}

// typeDecl walks a declared type: its definition, exported fields and
// interface methods (through check) and its exported methods.
func (w *apiWalker) typeDecl(obj *types.TypeName) {
	if a, ok := obj.Type().(*types.Alias); ok {
		w.check(a)
		return
	}
	w.check(obj.Type().Underlying())
	at := w.at
	ms := types.NewMethodSet(types.NewPointer(obj.Type()))
	for i := range ms.Len() {
		m := ms.At(i).Obj()
		if m.Exported() {
			w.at = at + "." + m.Name()
			w.check(m.Type())
		}
	}
	w.at = at
}

func (w *apiWalker) check(t types.Type) {
	if t == nil || w.seen[t] {
		return
	}
	w.seen[t] = true
	defer delete(w.seen, t) // seen guards recursion only; report every place
	switch t := t.(type) {
	case *types.Alias:
		if w.leak(t.Obj(), t) {
			return
		}
		w.check(types.Unalias(t))
	case *types.Named:
		if w.leak(t.Obj(), t) {
			return
		}
		for a := range t.TypeArgs().Types() {
			w.check(a)
		}
		// An unexported type of this package in the API: what it exposes
		// counts too. Other packages' types are checked on their own.
		if t.Obj().Pkg() == w.pkg && !t.Obj().Exported() {
			w.check(t.Underlying())
		}
	case *types.Pointer:
		w.check(t.Elem())
	case *types.Slice:
		w.check(t.Elem())
	case *types.Array:
		w.check(t.Elem())
	case *types.Chan:
		w.check(t.Elem())
	case *types.Map:
		w.check(t.Key())
		w.check(t.Elem())
	case *types.Signature:
		w.check(t.Params())
		w.check(t.Results())
		for tp := range t.TypeParams().TypeParams() {
			w.check(tp.Constraint())
		}
	case *types.Tuple:
		for v := range t.Variables() {
			w.check(v.Type())
		}
	case *types.Struct:
		for f := range t.Fields() {
			if f.Exported() || f.Embedded() {
				w.check(f.Type())
			}
		}
	case *types.Interface:
		for m := range t.ExplicitMethods() {
			if m.Exported() {
				w.check(m.Type())
			}
		}
		for e := range t.EmbeddedTypes() {
			w.check(e)
		}
	case *types.TypeParam:
		w.check(t.Constraint())
	case *types.Union:
		for term := range t.Terms() {
			w.check(term.Type())
		}
	}
}

// leak records t if its defining package is internal.
func (w *apiWalker) leak(obj *types.TypeName, t types.Type) bool {
	if obj.Pkg() == nil || !isInternal(obj.Pkg().Path()) {
		return false
	}
	w.leaks = append(w.leaks, w.at+": "+t.String())
	return true
}
