package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/modroot"
)

// documentedTargets are the targets of the Makefile and mk/*.mk that carry
// a `## description`, which is what `make help` promises to list.
func documentedTargets(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "mk", "*.mk"))
	require.NoError(t, err)
	files = append(files, filepath.Join(root, "Makefile"))
	target := regexp.MustCompile(`(?m)^([A-Za-z0-9_%-]+):[^=\n]*## `)
	var targets []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range target.FindAllSubmatch(raw, -1) {
			targets = append(targets, string(m[1]))
		}
	}
	require.NotEmpty(t, targets)
	return targets
}

func TestMakeHelpListsEveryTargetWithoutColourInAPipe(t *testing.T) {
	t.Parallel()
	root := modroot.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "make", "-s", "help")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, &stderr // a pipe, as in `make help | less`
	require.NoError(t, cmd.Run(), stderr.String())
	out := stdout.String()

	require.NotContains(t, out, "\x1b", "no terminal escape codes when stdout is not a terminal")
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		require.GreaterOrEqual(t, len(fields), 2, "a target and its description: %q", line)
		listed[fields[0]] = true
	}
	for _, target := range documentedTargets(t, root) {
		require.True(t, listed[target], "make help lists %s:\n%s", target, out)
	}
}

func TestMakeHelpColoursATerminal(t *testing.T) {
	t.Parallel()
	// script(1) (util-linux, on every Debian) runs make on a pseudo-terminal.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", "make -s help", "/dev/null")
	cmd.Dir = modroot.ForTest(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "\x1b[36mhelp", "target names in colour on a terminal")
}
