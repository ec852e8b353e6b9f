package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// describeMachine reads what the figures depend on: cores, memory, kernel,
// the Go toolchain and the servers' versions. What cannot be read is left
// empty.
func describeMachine(ctx context.Context, svc *services) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.MemoryBytes, _ = memoryTotal()
	m.CPUModel = cpuModel()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.PostgreSQL, _ = svc.postgresVersion(ctx)
	m.Redis, _ = svc.redisVersion(ctx)
	return m
}

// gitDescribe names the checkout's commit, with -dirty when it has
// uncommitted changes; "" outside git.
func gitDescribe(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// gitChanges lists the files that differ from the commit, untracked ones
// included: they are built into the binaries measured too.
func gitChanges(ctx context.Context, root string) []string {
	cmd := exec.CommandContext(ctx, "git", "status", "--porcelain")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	return parsePorcelain(string(out))
}

// parsePorcelain reads `git status --porcelain` lines ("XY path", or
// "XY from -> to" for a rename) into paths.
func parsePorcelain(out string) []string {
	paths := []string{}
	for _, line := range strings.Split(out, "\n") {
		if len(line) < 4 {
			continue
		}
		path := line[3:]
		if _, to, ok := strings.Cut(path, " -> "); ok {
			path = to
		}
		paths = append(paths, strings.Trim(path, `"`))
	}
	return paths
}
