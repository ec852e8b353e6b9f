// Package rie runs a Lambda function's real bootstrap under the AWS Lambda
// Runtime Interface Emulator — the emulator that `sam local invoke` runs
// inside its container — directly on this machine: no Docker, no AWS
// account. The emulator serves Lambda's Invoke API on one port and the
// Runtime API the bootstrap polls on another, exactly as in the cloud.
package rie

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/logagg/logagg/internal/proc"
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
	if err := proc.Go(ctx, "", []string{"GOBIN=" + abs, "CGO_ENABLED=0", "GOFLAGS="}, "install", Package+"@"+Version); err != nil {
		return "", err
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
	env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + goarch}
	if err := proc.Build(ctx, root, pkg, bin, env, "-trimpath", "-tags", "lambda.norpc"); err != nil {
		return "", err
	}
	return bin, nil
}

// Emulator is one running emulator with its function.
type Emulator struct {
	// URL is the Invoke API's base, e.g. http://127.0.0.1:41234.
	URL string

	proc *proc.Process
	logs *proc.Buffer
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

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 3 * time.Second

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
	invokePort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	runtimePort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	invokeAddr := "127.0.0.1:" + strconv.Itoa(invokePort)
	e := &Emulator{URL: "http://" + invokeAddr, logs: &proc.Buffer{}}
	var out io.Writer = e.logs
	if opts.Logs != nil {
		out = io.MultiWriter(e.logs, opts.Logs)
	}
	e.proc, err = proc.Start(rieBin, proc.Options{
		Args: []string{
			"--runtime-interface-emulator-address", invokeAddr,
			"--runtime-api-address", "127.0.0.1:" + strconv.Itoa(runtimePort),
			bootstrap,
		},
		Dir: filepath.Dir(bootstrap),
		Env: opts.Env,
		// Its own process group, so that Stop ends the bootstrap it spawns too.
		Group:  true,
		Output: out,
	})
	if err != nil {
		return nil, err
	}
	// Ready once this emulator, not some other process that took the port
	// meanwhile, listens on it.
	listening := func(context.Context) bool { return proc.Listens(e.proc.Pid(), invokePort) }
	if err := proc.Await(ctx, e.proc, opts.StartTimeout, listening); err != nil {
		e.Stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("the emulator on %s: %w:\n%s", invokeAddr, err, e.logs)
	}
	return e, nil
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
// group, then, after stopGrace at the most, SIGKILL to the group, since the
// bootstrap may outlive the emulator.
func (e *Emulator) Stop() { _ = e.proc.Stop(stopGrace) }
