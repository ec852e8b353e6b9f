package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// childEnv marks the test process that TestServerTestsSkipOnlyUnderShort
// starts; only there does TestNeedsServersAndABuild do anything.
const childEnv = "LOGAGG_TESTENV_CHILD"

// TestNeedsServersAndABuild asks for what integration tests ask for, with
// the servers pointed at closed ports by its parent.
func TestNeedsServersAndABuild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestServerTestsSkipOnlyUnderShort in a process of its own")
	}
	t.Run("postgres", func(t *testing.T) { NewDatabase(t) })
	t.Run("redis", func(t *testing.T) { NewRedisPrefix(t) })
	t.Run("build", func(t *testing.T) { Build(t, "./no-such-package") })
}

// With -short, a test that needs PostgreSQL, Redis or a built binary skips;
// without it, the same test fails when the server is not there.
func TestServerTestsSkipOnlyUnderShort(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), childEnv+"=1",
		fmt.Sprintf("TEST_DATABASE_URL=postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", FreePort(t)),
		fmt.Sprintf("TEST_REDIS_URL=redis://127.0.0.1:%d/0", FreePort(t)))
	run := func(args ...string) (string, error) {
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestNeedsServersAndABuild$", "-test.v"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run("-test.short")
	require.NoError(t, err, out)
	for _, sub := range []string{"postgres", "redis", "build"} {
		require.Contains(t, out, "--- SKIP: TestNeedsServersAndABuild/"+sub, out)
	}

	out, err = run()
	require.Error(t, err, out)
	for _, sub := range []string{"postgres", "redis", "build"} {
		require.Contains(t, out, "--- FAIL: TestNeedsServersAndABuild/"+sub, out)
	}
	require.NotContains(t, out, "--- SKIP: TestNeedsServersAndABuild/")
}
