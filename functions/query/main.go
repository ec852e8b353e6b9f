// Command query is the query Lambda function: API Gateway HTTP API
// (payload v2) → the shared read handlers → PostgreSQL.
package main

import (
	"context"
	"io"

	"github.com/logagg/logagg/functions/boot"
	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/app"
)

func main() { boot.HTTP("query", run) }

// run opens the PostgreSQL pool once per execution environment.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) (*api.Server, error) {
	cfg, logger, st, err := app.InitWithStore(ctx, getenv, stderr)
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
