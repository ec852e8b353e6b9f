package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// listedPackage is the part of `go list -json` the rule reads. Imports are
// those of the non-test files only.
type listedPackage struct {
	ImportPath string
	Name       string
	Imports    []string
	Standard   bool
}

// goCommand runs the go command with args and returns its output.
func goCommand(t *testing.T, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go %s: %s", strings.Join(args, " "), stderr.String())
	return out
}

// goList runs `go list -json` with args and decodes its stream of packages.
func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(goCommand(t, append([]string{"list", "-json"}, args...)...)))
	var pkgs []listedPackage
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs
		}
		require.NoError(t, err)
		pkgs = append(pkgs, p)
	}
}

// rules says which imports of a production package are test code.
type rules struct {
	module      string          // the module path
	testHelpers map[string]bool // import paths of the module's test helpers
}

// newRules finds the test helpers among the module's packages: those whose
// non-test files import testing or testify. Helpers that import neither
// (fakes, load generation) live under internal/, which the rule covers.
func newRules(module string, pkgs []listedPackage) rules {
	r := rules{module: module, testHelpers: map[string]bool{}}
	for _, p := range pkgs {
		if slices.ContainsFunc(p.Imports, isTestingLibrary) {
			r.testHelpers[p.ImportPath] = true
		}
	}
	return r
}

func isTestingLibrary(importPath string) bool {
	return importPath == "testing" || strings.HasPrefix(importPath, "testing/") ||
		importPath == "github.com/stretchr/testify" || strings.HasPrefix(importPath, "github.com/stretchr/testify/")
}

// testCode says why importPath is not for production, or "" if it may be
// imported.
func (r rules) testCode(importPath string) string {
	switch {
	case isTestingLibrary(importPath):
		return "a testing library"
	case r.testHelpers[importPath]:
		return "a test helper"
	case importPath == r.module+"/internal" || strings.HasPrefix(importPath, r.module+"/internal/"):
		return "under internal/, which production never imports"
	}
	return ""
}

// violations lists, for each of the module's production packages, the
// imports that are test code.
func (r rules) violations(production []listedPackage) []string {
	var out []string
	for _, p := range production {
		if p.Standard || !strings.HasPrefix(p.ImportPath+"/", r.module+"/") {
			continue // only the module's own packages are held to the rule
		}
		for _, imp := range p.Imports {
			if why := r.testCode(imp); why != "" {
				out = append(out, p.ImportPath+" imports "+imp+": "+why)
			}
		}
	}
	return out
}

// productionMains are the composition roots that ship: localrun and the
// Lambda functions (functions/<name>; functions/internal holds tools).
func productionMains(module string, pkgs []listedPackage) []string {
	var mains []string
	for _, p := range pkgs {
		if p.Name == "main" && (p.ImportPath == module+"/localrun" || path.Dir(p.ImportPath) == module+"/functions") {
			mains = append(mains, p.ImportPath)
		}
	}
	return mains
}

// Production code, everything the shipped binaries are built from, imports
// no testing library, no test helper and nothing under internal/.
func TestProductionImportsNoTestCode(t *testing.T) {
	t.Parallel()
	module := strings.TrimSpace(string(goCommand(t, "list", "-m")))
	all := goList(t, module+"/...")
	mains := productionMains(module, all)
	require.Contains(t, mains, module+"/localrun")
	require.GreaterOrEqual(t, len(mains), 4, "localrun and the three functions: %v", mains)

	r := newRules(module, all)
	require.Contains(t, r.testHelpers, module+"/shared/queue/queuetest", "the marker finds a helper that imports testing")
	require.Empty(t, r.violations(goList(t, append([]string{"-deps"}, mains...)...)))
}

// The rule finds each kind of test code, wherever the import sits, and
// leaves tools, the standard library and other modules alone.
func TestViolationsNameEachForbiddenImport(t *testing.T) {
	t.Parallel()
	const module = "example.com/m"
	pkgs := []listedPackage{
		{ImportPath: module + "/shared/store", Imports: []string{"context", "testing"}},
		{ImportPath: module + "/shared/api", Imports: []string{"github.com/stretchr/testify/require", "testing/fstest"}},
		{ImportPath: module + "/shared/app", Imports: []string{module + "/shared/helper", module + "/internal/memqueue"}},
		{ImportPath: module + "/shared/helper", Imports: []string{"testing"}},
		{ImportPath: module + "/localrun", Name: "main", Imports: []string{module + "/shared/app", module + "/internalize"}},
		{ImportPath: module + "/functions/query", Name: "main"},
		{ImportPath: module + "/functions/internal/invoke", Name: "main"},
		{ImportPath: module + "/bench", Name: "main"},
		{ImportPath: "testing", Standard: true, Imports: []string{"flag"}},
		{ImportPath: "example.com/other", Imports: []string{"testing"}},
	}
	require.Equal(t, []string{module + "/localrun", module + "/functions/query"}, productionMains(module, pkgs))

	r := newRules(module, pkgs)
	require.Equal(t, []string{
		module + "/shared/store imports testing: a testing library",
		module + "/shared/api imports github.com/stretchr/testify/require: a testing library",
		module + "/shared/api imports testing/fstest: a testing library",
		module + "/shared/app imports " + module + "/shared/helper: a test helper",
		module + "/shared/app imports " + module + "/internal/memqueue: under internal/, which production never imports",
		module + "/shared/helper imports testing: a testing library",
	}, r.violations(pkgs))
}
