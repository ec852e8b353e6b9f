// Command query is the query Lambda function: API Gateway HTTP API
// (payload v2) → the shared read handlers → PostgreSQL.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/app"
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
	cfg, logger, err := app.Init(getenv, os.Stderr, "DATABASE_URL")
	if err != nil {
		return nil, err
	}
	st, err := app.OpenStore(ctx, cfg, app.LambdaInitWait, logger)
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
