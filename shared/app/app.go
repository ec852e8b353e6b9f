// Package app builds logagg's dependencies from a Config. It is the part of
// wiring that localrun and the Lambda functions share; it holds no business
// logic.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/redisqueue"
	"github.com/logagg/logagg/shared/store"
)

// Version is set at build time with -ldflags "-X github.com/logagg/logagg/shared/app.Version=…".
var Version = "dev"

// Logger returns a JSON logger at the configured level.
func Logger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// OpenStore connects to PostgreSQL and migrates the schema, retrying while
// the database is still starting (as it is right after `docker compose up`)
// until ctx ends or wait has passed.
func OpenStore(ctx context.Context, cfg config.Config, wait time.Duration, log *slog.Logger) (*store.Store, error) {
	st, err := retryWhileStarting(ctx, "database", wait, log, func() (*store.Store, error) {
		st, err := store.Open(ctx, cfg.DatabaseURL, storeOptions(cfg))
		if err != nil && event.ErrorCode(err) != event.Unavailable {
			return nil, backoff.Permanent(err) // waiting does not mend it
		}
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return st, nil
}

// storeOptions are the store options of cfg.
func storeOptions(cfg config.Config) store.Options {
	idle := cfg.IdleInTxTimeout
	if idle == 0 {
		idle = -1 // off in the environment; 0 is the default in store.Options
	}
	return store.Options{MaxConns: int32(cfg.DBMaxConns), IdleInTransactionTimeout: idle, PartitionInterval: cfg.PartitionInterval}
}

// RedisQueue connects to Redis and makes sure the stream's consumer group
// exists, retrying like OpenStore, and that Redis's maxmemory-policy
// cannot evict the queue's keys (checkEviction). poolSize should cover one
// blocking read per worker plus the HTTP traffic.
func RedisQueue(ctx context.Context, cfg config.Config, poolSize int, wait time.Duration, log *slog.Logger) (*redisqueue.Queue, *redis.Client, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.PoolSize = max(opt.PoolSize, poolSize)
	client := redisqueue.NewClient(opt)
	q := redisqueue.New(client, redisqueue.Options{
		Stream: cfg.Stream, Group: cfg.Group, MaxBacklog: cfg.MaxBacklog, ClaimIdle: cfg.ClaimIdle,
	})
	_, err = retryWhileStarting(ctx, "redis", wait, log, func() (struct{}, error) {
		if err := q.EnsureGroup(ctx); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, checkEviction(ctx, q, cfg.AllowEviction, log)
	})
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return q, client, nil
}

// checkEviction refuses, for good, a Redis whose maxmemory-policy would let
// it delete the queue's keys once it reaches its maxmemory: queued events
// that /publish acknowledged would vanish without a trace, and the
// counters with them. allow (REDIS_ALLOW_EVICTION) skips the check. A Redis
// that does not let the policy be read (CONFIG renamed or forbidden, as on
// managed services) is let through with a warning.
func checkEviction(ctx context.Context, q *redisqueue.Queue, allow bool, log *slog.Logger) error {
	if allow {
		return nil
	}
	policy, err := q.EvictionPolicy(ctx)
	switch {
	case event.ErrorCode(err) == event.Unavailable:
		return err
	case err != nil:
		log.Warn("could not read Redis's maxmemory-policy; make sure it is noeviction: an allkeys-* policy silently deletes queued events once Redis is full",
			"error", err)
		return nil
	case redisqueue.Evicts(policy):
		return backoff.Permanent(event.Errorf(event.Invalid,
			"Redis's maxmemory-policy is %s: once Redis reaches its maxmemory it would silently delete queued events, which /publish has acknowledged, or the counters. "+
				"Set it to noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf), or set REDIS_ALLOW_EVICTION=true to start anyway", policy))
	}
	return nil
}

// retryWhileStarting runs connect until it succeeds, fails for good
// (backoff.Permanent), ctx ends, or the next try would start after wait
// has passed; with no wait it tries once. It waits 200 ms before the
// second try, twice as long before each next one, at most 3 s, and logs
// every retry.
func retryWhileStarting[T any](ctx context.Context, dependency string, wait time.Duration, log *slog.Logger, connect backoff.Operation[T]) (T, error) {
	opts := []backoff.RetryOption{
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 3 * time.Second}),
		backoff.WithMaxElapsedTime(wait),
		backoff.WithNotify(func(err error, in time.Duration) {
			log.Warn(dependency+" not reachable yet; retrying", "error", err, "in", in)
		}),
	}
	if wait <= 0 {
		opts = append(opts, backoff.WithMaxTries(1)) // a MaxElapsedTime of 0 would mean no limit
	}
	v, err := backoff.Retry(ctx, connect, opts...)
	// Retry hands a failure on the last try back still marked permanent
	// (cenkalti/backoff#177, fixed after v5.0.3).
	if permanent := (*backoff.PermanentError)(nil); errors.As(err, &permanent) {
		err = permanent.Err
	}
	return v, err
}

// Limits are the publish limits of cfg.
func Limits(cfg config.Config) event.Limits {
	return event.Limits{MaxEvents: cfg.MaxBatch, MaxEventBytes: cfg.MaxEventBytes}
}

// maxMessageEvents caps the events of one queue message: enough that the
// queue's cost per event is small, few enough that a batch of BATCH_SIZE
// events is assembled from several messages.
const maxMessageEvents = 100

// MessageEvents is how many events the publish handler packs into one queue
// message at most: BATCH_SIZE, up to 100, so that a consume transaction,
// which never splits a message, holds at most BATCH_SIZE events.
func MessageEvents(cfg config.Config) int {
	return min(cfg.BatchSize, maxMessageEvents)
}

// Checks are the /health checks for a store and a queue.
func Checks(st *store.Store, q queue.Pinger, queueName string) []api.Check {
	var checks []api.Check
	if st != nil {
		checks = append(checks, api.Check{Name: "database", Ping: st.Ping})
	}
	if q != nil {
		checks = append(checks, api.Check{Name: queueName, Ping: q.Ping})
	}
	return checks
}

// LambdaInitWait is how long a Lambda function waits for the database at
// init: Lambda gives init 10 s, and the migrations need some of it.
const LambdaInitWait = 5 * time.Second

// Init reads the configuration, checks the variables a composition root
// cannot do without, and builds its logger.
func Init(getenv func(string) string, stderr io.Writer, required ...string) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Require(required...); err != nil {
		return cfg, nil, err
	}
	return cfg, Logger(cfg, stderr), nil
}

// InitWithStore is Init for a Lambda function that works on PostgreSQL:
// DATABASE_URL is required as well, and the store is opened, waiting up to
// LambdaInitWait for the database.
func InitWithStore(ctx context.Context, getenv func(string) string, stderr io.Writer) (config.Config, *slog.Logger, *store.Store, error) {
	cfg, logger, err := Init(getenv, stderr, "DATABASE_URL")
	if err != nil {
		return cfg, nil, nil, err
	}
	st, err := OpenStore(ctx, cfg, LambdaInitWait, logger)
	return cfg, logger, st, err
}
