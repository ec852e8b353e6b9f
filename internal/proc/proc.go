// Package proc is the process plumbing of logagg's tests and tools: it
// builds the module's binaries, picks free ports, starts a process with its
// output kept, waits until it is ready and stops it. The integration tests
// (through testenv), the benchmark harness and the Lambda emulator runner
// share it, so that each of these steps is written once.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// ErrKilled says that a process did not exit within its grace period after
// SIGTERM and was killed.
var ErrKilled = errors.New("killed")

// Options say how to start a process.
type Options struct {
	// Args are the arguments after the program's name.
	Args []string
	// Env is the whole environment; nil inherits this process's.
	Env []string
	// Dir is the working directory; "" is this process's.
	Dir string
	// Output receives what the process writes on stdout and stderr; nil
	// keeps it in memory, for Output.
	Output io.Writer
	// Group starts the process in a process group of its own, so that
	// Signal, Kill and Stop reach the children it starts too.
	Group bool
}

// Process is a started child process.
type Process struct {
	cmd   *exec.Cmd
	group bool
	kept  *Buffer       // the output, unless Options.Output took it
	done  chan struct{} // closed once the process has exited
	err   error         // its exit error, once done
}

// Start runs bin as opts say.
func Start(bin string, opts Options) (*Process, error) {
	cmd := exec.Command(bin, opts.Args...)
	cmd.Env, cmd.Dir = opts.Env, opts.Dir
	p := &Process{cmd: cmd, group: opts.Group, done: make(chan struct{})}
	out := opts.Output
	if out == nil {
		p.kept = &Buffer{}
		out = p.kept
	}
	cmd.Stdout, cmd.Stderr = out, out
	if opts.Group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process's ID (and its group's, with Options.Group).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output is what the process has written so far, when Options.Output was
// nil.
func (p *Process) Output() string {
	if p.kept == nil {
		return ""
	}
	return p.kept.String()
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stopped reports whether the process is stopped by a signal (SIGSTOP or
// the like): its state in /proc/PID/stat is T. A process that runs, sleeps
// or has ended is not.
func (p *Process) Stopped() bool {
	if p.Exited() {
		return false
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return false
	}
	pr, err := fs.Proc(p.Pid())
	if err != nil {
		return false
	}
	stat, err := pr.Stat()
	return err == nil && stat.State == "T"
}

// ExitCode is the process's exit status: -1 while it runs or when a signal
// ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process, or to its whole group with
// Options.Group. It returns os.ErrProcessDone when nothing is left to
// signal.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.group {
		return p.cmd.Process.Signal(sig)
	}
	if err := syscall.Kill(-p.Pid(), sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("signal %s to group %d: %w", sig, p.Pid(), err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0).
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("process %d still running after %s", p.Pid(), timeout)
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() error {
	err := p.Signal(syscall.SIGKILL)
	<-p.done
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns the exit error (nil for status 0), or one wrapping
// ErrKilled. With Options.Group the whole group is killed in any case: a
// child may outlive the process that started it.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Exited() {
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	killed := !p.Exited()
	if killed || p.group {
		_ = p.Signal(syscall.SIGKILL)
	}
	<-p.done
	if killed {
		return fmt.Errorf("process %d did not stop within %s of SIGTERM and was %w", p.Pid(), grace, ErrKilled)
	}
	return p.err
}

// exitStatus describes how an ended process exited.
func (p *Process) exitStatus() string {
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// Buffer is an io.Writer safe for concurrent use, such as a process's
// stdout and stderr together.
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
