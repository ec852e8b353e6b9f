package proc_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "child")
	require.NoError(t, proc.Build(context.Background(), ".", "./testdata/child", out, []string{"CGO_ENABLED=0"}, "-trimpath"))
	p, err := proc.Start(out, proc.Options{Env: []string{"CHILD_EXIT=0"}})
	require.NoError(t, err)
	require.NoError(t, p.Wait(time.Minute))
	require.Contains(t, p.Output(), "out\n", "the binary built is the child")

	missing := filepath.Join(t.TempDir(), "missing")
	err = proc.Build(context.Background(), ".", "./testdata/missing", missing, nil)
	require.ErrorContains(t, err, "go build -o "+missing+" ./testdata/missing")
	require.NoFileExists(t, missing)
}

func TestGoPassesTheEnvironment(t *testing.T) {
	t.Parallel()
	require.NoError(t, proc.Go(context.Background(), "", []string{"GOFLAGS=-mod=mod"}, "env", "GOFLAGS"))
	err := proc.Go(context.Background(), "", []string{"GOFLAGS=-no-such-flag"}, "list", ".")
	require.ErrorContains(t, err, "-no-such-flag", "the added variable reached the go command, which refused it")
}
