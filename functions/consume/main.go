// Command consume is the consume Lambda function: SQS event source → the
// shared consume handler → PostgreSQL.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logagg/logagg/shared/app"
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
	cfg, logger, err := app.Init(getenv, os.Stderr, "DATABASE_URL")
	if err != nil {
		return nil, err
	}
	st, err := app.OpenStore(ctx, cfg, app.LambdaInitWait, logger)
	if err != nil {
		return nil, err
	}
	return &consume.Handler{Store: st, MaxDeliveries: cfg.MaxDeliveries, Logger: logger}, nil
}
