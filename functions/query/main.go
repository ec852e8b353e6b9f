// Command query is the query Lambda function: API Gateway HTTP API
// (payload v2) → the shared read handlers → PostgreSQL.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/config"
)

func main() {
	h, err := run(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("query: %v", err)
	}
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}

// run opens the PostgreSQL pool once per execution environment.
func run(ctx context.Context, getenv func(string) string) (*api.Server, error) {
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
	deps := api.Deps{
		Reader: st, DeadLetters: st, Published: st, Checks: app.Checks(st, nil, ""), APIKeys: cfg.APIKeys,
		Version: app.Version, Logger: logger,
	}
	if cfg.RedisURL != "" {
		// Locally the published counter lives beside the stream.
		q, _, err := app.RedisQueue(ctx, cfg, 4, 0, logger)
		if err != nil {
			return nil, err
		}
		deps.Published, deps.Checks = q, app.Checks(st, q, "redis")
	}
	return api.New(deps), nil
}
