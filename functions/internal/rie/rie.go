// Package rie runs a Lambda function's real bootstrap under the AWS Lambda
// Runtime Interface Emulator — the emulator that `sam local invoke` runs
// inside its container — directly on this machine: no Docker, no AWS
// account. The emulator serves Lambda's Invoke API on one port and the
// Runtime API the bootstrap polls on another, exactly as in the cloud.
package rie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Package and Version name the emulator build that Install installs.
const (
	Package = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
)

// InvokePath is the emulator's endpoint for invocations.
const InvokePath = "/2015-03-31/functions/function/invocations"

// Install installs the emulator with `go install` into dir and returns the
// binary's path. With a warm build cache it only links.
func Install(ctx context.Context, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install", Package+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+abs, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", Package, Version, err, out)
	}
	return filepath.Join(abs, "aws-lambda-rie"), nil
}

// Build compiles the function in the module at root (e.g. "./functions/consume")
// into dir/bootstrap the way the Makefile's build targets do for the cloud
// — static (CGO_ENABLED=0), without the RPC runtime (-tags lambda.norpc) —
// but for Linux on goarch, which is runtime.GOARCH to run it here.
func Build(ctx context.Context, root, pkg, goarch, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Emulator is one running emulator with its function.
type Emulator struct {
	// URL is the Invoke API's base, e.g. http://127.0.0.1:41234.
	URL string

	cmd  *exec.Cmd
	logs *Buffer
	done chan struct{}
	err  error
}

// Options say how to run a function.
type Options struct {
	// Env is the whole environment of the emulator, which hands it on to
	// the function (add AWS_LAMBDA_FUNCTION_TIMEOUT, in seconds, to bound
	// each invocation).
	Env []string
	// Logs receives the emulator's and the function's output; nil keeps it
	// only in Emulator.Logs.
	Logs io.Writer
	// StartTimeout bounds the wait for the emulator to listen (default 10s).
	StartTimeout time.Duration
}

// Start runs the emulator on bootstrap, on two free loopback ports, and
// returns once it accepts invocations. The function itself starts (its
// init) on the first invocation, as on Lambda.
func Start(ctx context.Context, rieBin, bootstrap string, opts Options) (*Emulator, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	// The emulator runs in the bootstrap's directory: resolve both first.
	path, err := exec.LookPath(rieBin)
	if err != nil {
		return nil, fmt.Errorf("the emulator %s: %w (make rie installs it)", rieBin, err)
	}
	if rieBin, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	if bootstrap, err = filepath.Abs(bootstrap); err != nil {
		return nil, err
	}
	var lastErr error
	// A port picked as free may be taken before the emulator binds it;
	// then the emulator exits and another pair is tried.
	for range 3 {
		e, err := start(ctx, rieBin, bootstrap, opts)
		if err == nil {
			return e, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(ctx context.Context, rieBin, bootstrap string, opts Options) (*Emulator, error) {
	invokePort, err := freePort()
	if err != nil {
		return nil, err
	}
	runtimePort, err := freePort()
	if err != nil {
		return nil, err
	}
	invokeAddr := "127.0.0.1:" + strconv.Itoa(invokePort)
	cmd := exec.Command(rieBin,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtimePort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = opts.Env
	// Its own process group, so that Stop ends the bootstrap it spawns too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	e := &Emulator{URL: "http://" + invokeAddr, cmd: cmd, logs: &Buffer{}, done: make(chan struct{})}
	var out io.Writer = e.logs
	if opts.Logs != nil {
		out = io.MultiWriter(e.logs, opts.Logs)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", rieBin, err)
	}
	go func() { e.err = cmd.Wait(); close(e.done) }()

	deadline := time.Now().Add(opts.StartTimeout)
	for {
		// Ready once this emulator, not some other process that took the
		// port meanwhile, listens on it.
		if listens(cmd.Process.Pid, invokePort) {
			return e, nil
		}
		select {
		case <-e.done:
			return nil, fmt.Errorf("the emulator exited before it listened (%v):\n%s", e.err, e.logs)
		case <-ctx.Done():
			e.Stop()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("the emulator did not listen on %s within %s:\n%s", invokeAddr, opts.StartTimeout, e.logs)
		}
	}
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// freePort returns a loopback port that was free a moment ago and that this
// process has not handed out before, so that emulators started in parallel
// never share one.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// listens reports whether process pid has a socket listening on TCP port
// of 127.0.0.1 (Linux: /proc/net/tcp names the socket, /proc/<pid>/fd holds
// it).
func listens(pid, port int) bool {
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	var inode string
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
			inode = f[9]
			break
		}
	}
	if inode == "" {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && target == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}

// Response is what one invocation returned.
type Response struct {
	Status int    // the Invoke API's HTTP status
	Body   []byte // the function's result, or its error object
}

// Invoke sends payload (an event, e.g. a file of events/) to the function
// and returns its response. ctx bounds the wait.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+InvokePath, bytes.NewReader(payload))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("invoke: reading the response: %w", err)
	}
	return Response{Status: resp.StatusCode, Body: body}, nil
}

// Logs is what the emulator and the function have written so far.
func (e *Emulator) Logs() string { return e.logs.String() }

// Stop ends the emulator and everything it started: SIGTERM to its process
// group, then SIGKILL if it has not exited within three seconds.
func (e *Emulator) Stop() {
	pgid := e.cmd.Process.Pid
	select {
	case <-e.done:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(3 * time.Second):
		}
	}
	// The bootstrap may outlive the emulator; end the group for good.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = e.cmd.Process.Kill()
	}
	<-e.done
}

// Buffer is an io.Writer safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
