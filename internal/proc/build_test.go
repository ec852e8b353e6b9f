package proc_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	require.FileExists(t, childBinary(t))

	out := filepath.Join(t.TempDir(), "missing")
	err := proc.Build(context.Background(), ".", "./testdata/missing", out, nil)
	require.ErrorContains(t, err, "go build -o "+out+" ./testdata/missing")
	require.NoFileExists(t, out)
}

func TestGoPassesTheEnvironment(t *testing.T) {
	t.Parallel()
	require.NoError(t, proc.Go(context.Background(), "", []string{"GOFLAGS=-mod=mod"}, "env", "GOFLAGS"))
	err := proc.Go(context.Background(), "", []string{"GOFLAGS=-no-such-flag"}, "list", ".")
	require.ErrorContains(t, err, "-no-such-flag", "the added variable reached the go command, which refused it")
}
