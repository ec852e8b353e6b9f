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
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes, _ = parseMeminfo(b)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = parseCPUModel(b)
	}
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
