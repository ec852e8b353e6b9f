// Command publish is the publish Lambda function: API Gateway HTTP API
// (payload v2) → the shared publish handler → the queue.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/config"
)

func main() {
	h, err := run(context.Background(), os.Getenv)
	if err != nil {
		log.Fatalf("publish: %v", err)
	}
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}

// run builds the handler once per execution environment; connections are
// reused across invocations.
func run(ctx context.Context, getenv func(string) string) (*api.Server, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require("REDIS_URL"); err != nil {
		return nil, err
	}
	logger := app.Logger(cfg, os.Stderr)
	q, _, err := app.RedisQueue(ctx, cfg, 4, 0, logger)
	if err != nil {
		return nil, err
	}
	return api.New(api.Deps{
		Publisher: q, Checks: app.Checks(nil, q, "redis"), Limits: app.Limits(cfg),
		MaxBodyBytes: cfg.MaxBodyBytes, APIKeys: cfg.APIKeys, Version: app.Version, Logger: logger,
	}), nil
}
