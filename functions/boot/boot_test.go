package boot

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildHandsOverWhatBuildReturns(t *testing.T) {
	t.Parallel()
	got := Build("f", func(ctx context.Context, getenv func(string) string, stderr io.Writer) (string, error) {
		require.NotNil(t, ctx)
		require.Equal(t, os.Stderr, stderr)
		return getenv("PATH"), nil
	})
	require.Equal(t, os.Getenv("PATH"), got, "build reads the process's environment")
}

// A function that cannot be built ends its process with a failure status
// and the reason, named after the function, so that Lambda reports an init
// error that says what went wrong.
func TestBuildEndsTheProcessNamingTheFunction(t *testing.T) {
	t.Parallel()
	if os.Getenv("LOGAGG_BOOT_FAIL") == "1" {
		Build("consume", func(context.Context, func(string) string, io.Writer) (int, error) {
			return 0, errors.New("DATABASE_URL is required")
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBuildEndsTheProcessNamingTheFunction$")
	cmd.Env = append(os.Environ(), "LOGAGG_BOOT_FAIL=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, string(out), "consume: DATABASE_URL is required")
}
