package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
)

// buildBinaries compiles localrun and the publisher from the module at
// root into root/bin, as `make build` does, and returns their paths.
func buildBinaries(ctx context.Context, root string) (localrun, publisher string, err error) {
	for _, pkg := range []string{"localrun", "publisher"} {
		if err := proc.Build(ctx, root, "./"+pkg, filepath.Join(root, "bin", pkg), []string{"CGO_ENABLED=0"}, "-trimpath"); err != nil {
			return "", "", err
		}
	}
	return filepath.Join(root, "bin", "localrun"), filepath.Join(root, "bin", "publisher"), nil
}

// server is a running localrun.
type server struct {
	proc *proc.Process
	url  string
	log  *os.File
}

// startServer starts localrun with exactly env (plus PATH and HOME), its
// output going to logPath.
func startServer(bin string, env []string, logPath string) (*server, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	full := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), fmt.Sprintf("PORT=%d", port)}, env...)
	p, err := proc.Start(bin, proc.Options{Env: full, Output: log})
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	return &server{proc: p, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: log}, nil
}

func (s *server) pid() int { return s.proc.Pid() }

// waitHealthy polls GET /health until it answers 200, the process exits or
// the timeout passes.
func (s *server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	if err := proc.WaitHealthy(ctx, s.url, s.proc, timeout); err != nil {
		return fmt.Errorf("localrun: %w%s", err, logTail(s.log.Name()))
	}
	return nil
}

// stop sends SIGTERM and waits for the exit, killing the process after
// grace. It returns the exit status (-1 when killed).
func (s *server) stop(grace time.Duration) (int, error) {
	defer s.log.Close()
	err := s.proc.Stop(grace)
	code := s.proc.ExitCode()
	switch {
	case errors.Is(err, proc.ErrKilled):
		return -1, fmt.Errorf("localrun: %w", err)
	case code != 0:
		return code, fmt.Errorf("localrun exited with status %d after SIGTERM%s", code, logTail(s.log.Name()))
	}
	return 0, nil
}

// logTail returns the end of a log file, to explain a failure.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return fmt.Sprintf("; end of %s:\n%s", path, strings.TrimSpace(string(b)))
}

// parsePublisherJSON reads the publisher's -json output and checks that it
// carries the end-to-end figures that -wait adds.
func parsePublisherJSON(data []byte) (loadgen.Report, error) {
	var r loadgen.Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("reading the publisher's JSON: %w", err)
	}
	switch {
	case r.Events <= 0:
		return r, errors.New("the publisher's JSON reports no events")
	case r.E2ESeconds == nil || r.E2EEventsPerSec == nil:
		return r, errors.New("the publisher's JSON has no end-to-end figures (was it run with -wait?)")
	}
	return r, nil
}

// publisherRun is one publisher process: its result and its CPU time.
type publisherRun struct {
	result  loadgen.Report
	cpu     time.Duration // user + system over the whole process
	started time.Time
	ended   time.Time
}

// runPublisher runs the publisher with args and reads its JSON. Its
// standard error goes to log. onStart is called with its pid once it runs.
func runPublisher(ctx context.Context, bin string, args []string, log io.Writer, onStart func(pid int)) (publisherRun, error) {
	var stdout bytes.Buffer
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, log)
	cmd.WaitDelay = 5 * time.Second
	fmt.Fprintf(log, "$ %s %s\n", bin, strings.Join(args, " "))
	var pr publisherRun
	pr.started = time.Now()
	if err := cmd.Start(); err != nil {
		return pr, fmt.Errorf("starting the publisher: %w", err)
	}
	onStart(cmd.Process.Pid)
	err := cmd.Wait()
	pr.ended = time.Now()
	if cmd.ProcessState != nil {
		pr.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	fmt.Fprintf(log, "%s\n", stdout.Bytes())
	if err != nil {
		return pr, fmt.Errorf("publisher: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	pr.result, err = parsePublisherJSON(stdout.Bytes())
	return pr, err
}
