package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/logagg/logagg/shared/config"
)

// parseArgs reads the command line. localrun takes its settings from the
// environment only; -h and --help print them, from the one list the
// configuration reads, and report help so that run returns at once.
func parseArgs(args []string, out io.Writer) (help bool, err error) {
	fs := flag.NewFlagSet("localrun", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `Usage: localrun

Runs the whole logagg service: the HTTP API on PORT, WORKER_COUNT
consumer workers on the Redis Stream and, beside them, the store's
maintenance every MAINTENANCE_INTERVAL (partitions, RETENTION and the other
retention settings). It is configured by environment variables only
(DATABASE_URL and REDIS_URL are required):

`)
		_ = config.PrintSettings(out)
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case err != nil:
		return false, err
	case fs.NArg() > 0:
		return false, fmt.Errorf("unexpected argument %q: settings are environment variables (localrun -h lists them)", fs.Arg(0))
	}
	return false, nil
}
