package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Go runs the go command with args in dir ("" for this process's), env
// added to this process's environment. A failure carries its output.
func Go(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Build compiles the package pkg (like "./localrun") of the module at root
// into the file out. flags go before the package (like "-trimpath"), env
// adds to this process's environment (like "CGO_ENABLED=0").
func Build(ctx context.Context, root, pkg, out string, env []string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	return Go(ctx, root, env, args...)
}
