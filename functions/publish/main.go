// Command publish is the publish Lambda function: API Gateway HTTP API
// (payload v2) → the shared publish handler → the queue: SQS in the cloud
// (QUEUE_URL), the Redis Stream locally.
package main

import (
	"context"
	"io"

	"github.com/logagg/logagg/functions/boot"
	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/sqsqueue"
)

func main() { boot.HTTP("publish", run) }

// run builds the handler once per execution environment; connections are
// reused across invocations.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) (*api.Server, error) {
	cfg, logger, err := app.Init(getenv, stderr)
	if err != nil {
		return nil, err
	}
	deps := api.Deps{
		Limits: app.Limits(cfg), MaxBodyBytes: cfg.MaxBodyBytes, MaxMessageEvents: app.MessageEvents(cfg),
		APIKeys: cfg.APIKeys, AllowedOrigins: cfg.AllowedOrigins, OTLPTopicAttribute: cfg.OTLPTopicAttribute, Version: app.Version, Logger: logger,
	}
	if cfg.QueueURL == "" {
		// Locally (make invoke, sam local) the queue is the Redis Stream,
		// which counts what it queued itself.
		if err := cfg.Require("REDIS_URL"); err != nil {
			return nil, err
		}
		q, _, err := app.RedisQueue(ctx, cfg, 4, 0, logger)
		if err != nil {
			return nil, err
		}
		deps.Publisher, deps.Checks = q, app.Checks(nil, q, "redis")
		return api.New(deps), nil
	}
	// In the cloud SQS counts nothing: PostgreSQL counts what SQS accepted,
	// and keeps the dead letters that POST /deadletters/replay queues again.
	if err := cfg.Require("DATABASE_URL"); err != nil {
		return nil, err
	}
	st, err := app.OpenStore(ctx, cfg, app.LambdaInitWait, logger)
	if err != nil {
		return nil, err
	}
	q, err := sqsqueue.Connect(ctx, sqsqueue.Options{
		QueueURL: cfg.QueueURL, MaxBacklog: cfg.MaxBacklog, Counter: st, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	deps.Publisher, deps.DeadLetters, deps.Checks = q, st, app.Checks(st, q, "queue")
	return api.New(deps), nil
}
