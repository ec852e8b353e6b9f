package app

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// A database that does not exist is not a database still starting:
// OpenStore stops at once with the reason, naming DATABASE_URL, rather
// than retrying for the whole startup wait.
func TestOpenStoreStopsAtOnceWhenTheDatabaseDoesNotExist(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	// The context outlives no startup wait of 60 s: retrying would end
	// with its deadline instead of the reason.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := OpenStore(ctx, config.Config{DatabaseURL: testenv.MissingDatabaseURL(t, "s3cret-pw"), DBMaxConns: 2}, 60*time.Second, log)
	require.Nil(t, st)
	require.ErrorContains(t, err, "DATABASE_URL: ")
	require.ErrorContains(t, err, "does not exist")
	require.NotContains(t, err.Error(), "s3cret-pw")
	require.NotContains(t, logs.String(), "retrying")
}

// capturedLog is a logger whose output the test reads.
func capturedLog() (*slog.Logger, *bytes.Buffer) {
	var logs bytes.Buffer
	return slog.New(slog.NewJSONHandler(&logs, nil)), &logs
}

// closedAddress is a local address that nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A database out of reach may be one still starting: OpenStore tries again
// until the startup wait has passed, saying so, and then names
// DATABASE_URL with the reason.
func TestOpenStoreRetriesWhileTheDatabaseIsOutOfReach(t *testing.T) {
	t.Parallel()
	log, logs := capturedLog()
	cfg := config.Config{DatabaseURL: "postgres://postgres@" + closedAddress(t) + "/logagg?sslmode=disable&connect_timeout=2", DBMaxConns: 1}

	st, err := OpenStore(context.Background(), cfg, time.Second, log)
	require.Nil(t, st)
	require.ErrorContains(t, err, "DATABASE_URL: ")
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)
	require.Contains(t, logs.String(), "database not reachable yet; retrying")
}

// With no startup wait (the publish function's Redis), RedisQueue tries
// once and names REDIS_URL.
func TestRedisQueueWithoutAWaitTriesOnce(t *testing.T) {
	t.Parallel()
	log, logs := capturedLog()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	q, client, err := RedisQueue(ctx, config.Config{RedisURL: "redis://" + closedAddress(t) + "/0"}, 1, 0, log)
	require.Nil(t, q)
	require.Nil(t, client)
	require.ErrorContains(t, err, "REDIS_URL: ")
	require.NotErrorIs(t, err, context.DeadlineExceeded, "it gave up on its own, not at the context's end")
	require.NotContains(t, logs.String(), "retrying")
}

// A function that works on PostgreSQL cannot start without DATABASE_URL,
// and starts with its store open and migrated when it has one.
func TestInitWithStore(t *testing.T) {
	t.Parallel()
	_, _, st, err := InitWithStore(context.Background(), envmap.Env{}.Getenv, &bytes.Buffer{})
	require.Nil(t, st)
	require.ErrorContains(t, err, "DATABASE_URL")

	vars := envmap.Env{"DATABASE_URL": testenv.NewDatabase(t), "MAX_DELIVERIES": "7"}
	cfg, logger, st, err := InitWithStore(context.Background(), vars.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	defer st.Close()
	require.NotNil(t, logger)
	require.Equal(t, 7, cfg.MaxDeliveries)
	require.NoError(t, st.Ping(context.Background()))
}

// DB_IDLE_IN_TRANSACTION_TIMEOUT reaches the store; its 0, which turns it
// off, becomes the store's "leave the server's setting".
func TestStoreOptions(t *testing.T) {
	t.Parallel()
	load := func(env envmap.Env) config.Config {
		cfg, err := config.Load(env.Getenv)
		require.NoError(t, err)
		return cfg
	}
	opts := storeOptions(load(envmap.Env{"DB_MAX_CONNS": "3"}))
	require.Equal(t, int32(3), opts.MaxConns)
	require.Equal(t, store.DefaultIdleInTransactionTimeout, opts.IdleInTransactionTimeout)
	require.Equal(t, 2*time.Second, storeOptions(load(envmap.Env{"DB_IDLE_IN_TRANSACTION_TIMEOUT": "2s"})).IdleInTransactionTimeout)
	require.Negative(t, storeOptions(load(envmap.Env{"DB_IDLE_IN_TRANSACTION_TIMEOUT": "0"})).IdleInTransactionTimeout)
}

// A Redis whose maxmemory-policy may evict the queue's keys is refused at
// once, saying why and how to go on, unless REDIS_ALLOW_EVICTION says to
// start anyway; one that does not let the policy be read is let through
// with a warning.
func TestRedisQueueChecksTheEvictionPolicy(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, cfg config.Config) (*bytes.Buffer, error) {
		t.Helper()
		log, logs := capturedLog()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		q, client, err := RedisQueue(ctx, cfg, 1, 10*time.Second, log)
		if err == nil {
			require.NotNil(t, q)
			client.Close()
		}
		return logs, err
	}

	t.Run("allkeys-lru", func(t *testing.T) {
		t.Parallel()
		url := testenv.PrivateRedis(t, "--maxmemory-policy", "allkeys-lru")
		logs, err := start(t, config.Config{RedisURL: url})
		require.ErrorContains(t, err, "REDIS_URL: Redis's maxmemory-policy is allkeys-lru")
		require.ErrorContains(t, err, "noeviction")
		require.ErrorContains(t, err, "REDIS_ALLOW_EVICTION=true")
		require.NotContains(t, logs.String(), "retrying", "waiting does not mend it")

		_, err = start(t, config.Config{RedisURL: url, AllowEviction: true})
		require.NoError(t, err)
	})
	t.Run("noeviction", func(t *testing.T) {
		t.Parallel()
		logs, err := start(t, config.Config{RedisURL: testenv.PrivateRedis(t, "--maxmemory-policy", "noeviction")})
		require.NoError(t, err)
		require.NotContains(t, logs.String(), "maxmemory-policy")
	})
	t.Run("CONFIG renamed away", func(t *testing.T) {
		t.Parallel()
		logs, err := start(t, config.Config{RedisURL: testenv.PrivateRedis(t, "--rename-command", "CONFIG", "")})
		require.NoError(t, err)
		require.Contains(t, logs.String(), "could not read Redis's maxmemory-policy")
	})
}
