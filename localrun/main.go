// Command localrun runs the whole logagg service on one machine: the publish
// and query API on PORT and WORKER_COUNT consumer workers that read the Redis
// Stream and call the same consume handler the Lambda function runs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr, os.Args[1:]...); err != nil {
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}
