package proc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// The tools' commands (bench, publisher, invoke) share their life as a
// process: flags parsed the same way, a context that ends on SIGINT or
// SIGTERM, and exit statuses that tell a bad command line from a failure.

// UsageError is a command line that parses but makes no sense: the
// command exits with status 2.
type UsageError string

func (e UsageError) Error() string { return string(e) }

// ErrFlagParse marks an error the flag package has already reported: the
// command exits with status 2.
var ErrFlagParse = errors.New("bad command line")

// ParseFlags parses args with fs, which reports to stderr and whose -h
// prints a usage line, about and the flags. Every option is a flag: an
// argument left over is a UsageError. flag.ErrHelp comes back as it is.
func ParseFlags(fs *flag.FlagSet, args []string, about string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\n%s\n\n", fs.Name(), about)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrFlagParse, err)
	}
	if fs.NArg() > 0 {
		return UsageError(fmt.Sprintf("unexpected argument %q: every option is a flag, see -h", fs.Arg(0)))
	}
	return nil
}

// ExitCode reports err on stderr as "name: err", unless the flag package
// has, and returns the exit status: 0 on success or -h, 2 for a bad
// command line, 1 otherwise.
func ExitCode(name string, err error, stderr io.Writer) int {
	var usage UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrFlagParse):
		return 2
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

// Main runs the command name: run gets a context that ends on SIGINT or
// SIGTERM, the arguments, the environment and the standard streams, and
// the process exits with ExitCode of its error.
func Main(name string, run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(ExitCode(name, err, os.Stderr))
}
