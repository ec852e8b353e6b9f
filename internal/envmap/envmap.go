// Package envmap stands in for the process environment in tests: a map of
// variables, read through the getenv function that configuration loaders
// and commands take instead of os.Getenv.
package envmap

// Env is a set of environment variables; a nil Env has none.
type Env map[string]string

// Getenv returns the value of name, or "" when it is not set, as
// os.Getenv does.
func (e Env) Getenv(name string) string { return e[name] }
