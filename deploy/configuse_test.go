package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/modroot"
)

// What a composition root reads from the environment, found in its source:
// the configuration fields it selects on `cfg` (mapped to their variables
// through config.Load), the names it passes to cfg.Require, the literals it
// passes to getenv / os.Getenv / os.LookupEnv, and the same for every
// function of shared/app it calls. Reading the code keeps the template and
// the compose file from drifting when a main starts to use a new setting.

// configVariables maps each Config field to its variable, as config.Load
// reads them: `DatabaseURL: r.url("DATABASE_URL", …)`.
func configVariables(t *testing.T) map[string]string {
	t.Helper()
	f := parseFile(t, filepath.Join(modroot.ForTest(t), "shared", "config", "config.go"))
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || !isIdent(lit.Type, "Config") {
			return true
		}
		for _, el := range lit.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			key, _ := kv.Key.(*ast.Ident)
			if name := firstString(kv.Value); key != nil && name != "" {
				out[key.Name] = name
			}
		}
		return false
	})
	require.NotEmpty(t, out, "no Config literal found in config.Load")
	return out
}

// reads is what one body of code reads.
type reads struct {
	vars     map[string]bool // variables read directly
	appCalls map[string]bool // functions of package app it calls
}

// readsOf collects what the non-test Go files of dir read.
func readsOf(t *testing.T, dir string, fields map[string]string) reads {
	t.Helper()
	r := reads{vars: map[string]bool{}, appCalls: map[string]bool{}}
	for _, f := range parseDir(t, dir) {
		collect(f, fields, r)
	}
	return r
}

// appReads maps each function of shared/app to the variables it reads.
func appReads(t *testing.T, fields map[string]string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	calls := map[string][]string{} // functions of package app that each one calls
	for _, f := range parseDir(t, filepath.Join(modroot.ForTest(t), "shared", "app")) {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Body == nil {
				continue
			}
			r := reads{vars: map[string]bool{}, appCalls: map[string]bool{}}
			collect(fn.Body, fields, r)
			out[fn.Name.Name] = r.vars
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok {
						calls[fn.Name.Name] = append(calls[fn.Name.Name], id.Name)
					}
				}
				return true
			})
		}
	}
	// What a function reads includes what the functions it calls read,
	// however deep (InitWithStore calls Init, which builds its logger with
	// Logger): copy until nothing more is added.
	for grew := true; grew; {
		grew = false
		for fn, callees := range calls {
			before := len(out[fn])
			for _, c := range callees {
				maps.Copy(out[fn], out[c])
			}
			grew = grew || len(out[fn]) > before
		}
	}
	require.NotEmpty(t, out["OpenStore"], "shared/app.OpenStore reads no configuration: has its cfg parameter been renamed?")
	return out
}

func collect(root ast.Node, fields map[string]string, r reads) {
	ast.Inspect(root, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if isIdent(n.X, "cfg") {
				if v, ok := fields[n.Sel.Name]; ok {
					r.vars[v] = true
				}
			}
			if isIdent(n.X, "app") {
				r.appCalls[n.Sel.Name] = true
			}
		case *ast.CallExpr:
			switch fun := n.Fun.(type) {
			case *ast.SelectorExpr:
				switch {
				case isIdent(fun.X, "cfg") && fun.Sel.Name == "Require",
					isIdent(fun.X, "app") && fun.Sel.Name == "Init",
					isIdent(fun.X, "os") && (fun.Sel.Name == "Getenv" || fun.Sel.Name == "LookupEnv"):
					for _, a := range n.Args {
						if s := stringLit(a); s != "" {
							r.vars[s] = true
						}
					}
				}
			case *ast.Ident:
				if fun.Name == "getenv" && len(n.Args) == 1 {
					if s := stringLit(n.Args[0]); s != "" {
						r.vars[s] = true
					}
				}
			}
		}
		return true
	})
}

// envUse is what a composition root needs set and what it must not see.
type envUse struct {
	needed    []string // read on this path
	localOnly []string // read only to reach Redis: must stay unset in the cloud
}

// lambdaEnv is what the Lambda function in functions/<fn> reads on its
// cloud path. REDIS_URL selects the local path (the Redis Stream), so
// everything read only to reach Redis must stay unset.
func lambdaEnv(t *testing.T, fn string) envUse {
	t.Helper()
	fields := configVariables(t)
	app := appReads(t, fields)
	r := readsOf(t, filepath.Join(modroot.ForTest(t), "functions", fn), fields)
	needed := map[string]bool{}
	for v := range r.vars {
		if v != "REDIS_URL" {
			needed[v] = true
		}
	}
	local := map[string]bool{"REDIS_URL": true}
	for call := range r.appCalls {
		if call == "RedisQueue" {
			maps.Copy(local, app[call])
			continue
		}
		maps.Copy(needed, app[call])
	}
	for v := range needed {
		delete(local, v)
	}
	require.NotEmpty(t, needed, "functions/%s reads no configuration: is its Config still called cfg?", fn)
	return envUse{needed: slices.Sorted(maps.Keys(needed)), localOnly: slices.Sorted(maps.Keys(local))}
}

// localrunEnv is every variable localrun reads, and those it requires.
func localrunEnv(t *testing.T) (all, required []string) {
	t.Helper()
	fields := configVariables(t)
	app := appReads(t, fields)
	dir := filepath.Join(modroot.ForTest(t), "localrun")
	r := readsOf(t, dir, fields)
	vars := maps.Clone(r.vars)
	for call := range r.appCalls {
		maps.Copy(vars, app[call])
	}
	for _, f := range parseDir(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && isIdent(sel.X, "cfg") && sel.Sel.Name == "Require" {
					for _, a := range call.Args {
						required = append(required, stringLit(a))
					}
				}
			}
			return true
		})
	}
	require.Contains(t, vars, "DATABASE_URL")
	return slices.Sorted(maps.Keys(vars)), required
}

func parseFile(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	return f
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var out []*ast.File
	for _, p := range paths {
		if !strings.HasSuffix(p, "_test.go") {
			out = append(out, parseFile(t, p))
		}
	}
	require.NotEmpty(t, out, "no Go files in %s", dir)
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// firstString is the first string literal in e, depth first.
func firstString(e ast.Expr) string {
	var out string
	ast.Inspect(e, func(n ast.Node) bool {
		if out != "" {
			return false
		}
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			out, _ = strconv.Unquote(lit.Value)
			return false
		}
		return true
	})
	return out
}

func TestConfigUseIsFound(t *testing.T) {
	t.Parallel()
	fields := configVariables(t)
	require.Equal(t, "DATABASE_URL", fields["DatabaseURL"])
	require.Equal(t, "QUEUE_URL", fields["QueueURL"])
	require.Equal(t, "MAX_BODY_BYTES", fields["MaxBodyBytes"])

	consume := lambdaEnv(t, "consume")
	require.Contains(t, consume.needed, "DATABASE_URL")
	require.Contains(t, consume.needed, "LOG_LEVEL", "read through app.Logger")
	publish := lambdaEnv(t, "publish")
	require.Contains(t, publish.needed, "QUEUE_URL")
	require.Contains(t, publish.localOnly, "STREAM_NAME", "read only through app.RedisQueue")
	require.NotContains(t, publish.localOnly, "MAX_BACKLOG", "the SQS path reads it too")
}
