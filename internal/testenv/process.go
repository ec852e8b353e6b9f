package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/modroot"
	"github.com/logagg/logagg/internal/proc"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Build compiles the module's package pkg (like "./localrun") once per test
// binary and set of build flags (like "-tags", "faults") and returns the
// executable's path.
func Build(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	SkipShort(t, "a build of "+pkg)
	buildMu.Lock()
	defer buildMu.Unlock()
	key := strings.Join(append([]string{pkg}, flags...), " ")
	if bin, ok := built[key]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "logagg-bin-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	if err := proc.Build(context.Background(), modroot.ForTest(t), pkg, bin, nil, flags...); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	built[key] = bin
	return bin
}

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1 and
// that no other test of this binary was given.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := proc.FreePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return port
}

// Start runs bin with env added to the current environment, its output
// kept. The process is killed, if still running, when the test ends, and
// its output is logged when the test failed.
func Start(t testing.TB, bin string, env map[string]string, args ...string) *proc.Process {
	t.Helper()
	full := os.Environ()
	for k, v := range env {
		full = append(full, k+"="+v)
	}
	p, err := proc.Start(bin, proc.Options{Args: args, Env: full})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", filepath.Base(bin), p.Pid(), p.Output())
		}
	})
	return p
}

// WaitHealthy fails the test unless baseURL/health answers 200 within
// timeout while p, if not nil, runs.
func WaitHealthy(t testing.TB, baseURL string, p *proc.Process, timeout time.Duration) {
	t.Helper()
	if err := proc.WaitHealthy(context.Background(), baseURL, p, timeout); err != nil {
		out := ""
		if p != nil {
			out = p.Output()
		}
		t.Fatalf("testenv: %v\n%s", err, out)
	}
}
