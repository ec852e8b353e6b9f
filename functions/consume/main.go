// Command consume is the consume Lambda function: SQS event source → the
// shared consume handler → PostgreSQL.
package main

import (
	"context"
	"io"

	"github.com/logagg/logagg/functions/boot"
	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/consume"
)

func main() { boot.SQS("consume", run) }

// run opens the PostgreSQL pool once per execution environment.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) (*consume.Handler, error) {
	cfg, logger, st, err := app.InitWithStore(ctx, getenv, stderr)
	if err != nil {
		return nil, err
	}
	return &consume.Handler{Store: st, MaxDeliveries: cfg.MaxDeliveries, Logger: logger}, nil
}
