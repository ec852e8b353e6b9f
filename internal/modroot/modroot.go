// Package modroot finds the logagg checkout from inside it, for the
// developer tools (the benchmark harness, make invoke) that build and run
// the module's binaries, and for the tests that read its files.
package modroot

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ErrNotFound says that no go.mod lies at or above the directory.
var ErrNotFound = errors.New("no go.mod here or above: run this from the logagg checkout")

// Find returns the directory holding go.mod, from dir upwards.
func Find(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}

// ForTest returns the directory holding go.mod for a test, which runs in
// its package's directory, and fails the test outside the checkout.
func ForTest(t testing.TB) string {
	t.Helper()
	root, err := Find(".")
	if err != nil {
		t.Fatalf("modroot: %v", err)
	}
	return root
}
