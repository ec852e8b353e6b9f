// Command consume is the consume Lambda function: SQS event source → the
// shared consume handler → PostgreSQL.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/consume"
)

func main() {
	h, err := run(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("consume: %v", err)
	}
	lambda.Start(h.Handle)
}

// run opens the PostgreSQL pool once per execution environment.
func run(ctx context.Context, getenv func(string) string) (*consume.Handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require("DATABASE_URL"); err != nil {
		return nil, err
	}
	logger := app.Logger(cfg, os.Stderr)
	// Lambda gives init 10 s: wait less for the database, leaving the
	// rest to the migrations.
	st, err := app.OpenStore(ctx, cfg, 5*time.Second, logger)
	if err != nil {
		return nil, err
	}
	return &consume.Handler{Store: st, MaxDeliveries: cfg.MaxDeliveries, Logger: logger}, nil
}
