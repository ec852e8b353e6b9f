// Package testenv gives integration tests their own PostgreSQL database and
// Redis key prefix on the real servers, so that tests run in parallel and
// twice in a row. A server that cannot be reached fails the test, so a run
// that did not exercise the database cannot pass. The one exception is
// `go test -short`, asked for explicitly: there every helper that needs a
// server or a build skips the test instead (SkipShort).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// AdminDatabaseURL is the server tests create their databases on:
// TEST_DATABASE_URL, or the local server with trust authentication.
func AdminDatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis tests use: TEST_REDIS_URL, or the local server.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// SkipShort skips the test under `go test -short`, saying what it needs:
// -short runs only the tests that need no server, no build and no emulator.
// Without -short it does nothing, and what the test needs must be there.
func SkipShort(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s (skipped under -short)", needs)
	}
}

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// NewDatabase creates an empty database for this test, drops it when the
// test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	SkipShort(t, "PostgreSQL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := AdminDatabaseURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s is not reachable (run `make services`): %v", admin, err)
	}
	defer conn.Close(ctx)
	name := RandomName("logagg_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MissingDatabaseURL is the URL of a database that does not exist on the
// test server, with a password in it (trust authentication ignores it) that
// no error may show.
func MissingDatabaseURL(t testing.TB, password string) string {
	t.Helper()
	u, err := url.Parse(AdminDatabaseURL())
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", AdminDatabaseURL(), err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	u.Path = "/" + RandomName("logagg_missing_")
	return u.String()
}

// NewRedisPrefix returns the Redis URL and a key prefix of this test's own,
// after checking that Redis answers; every key under the prefix is deleted
// when the test ends.
func NewRedisPrefix(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	SkipShort(t, "Redis")
	redisURL = RedisURL()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", redisURL, err)
	}
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		t.Fatalf("testenv: Redis at %s is not reachable (run `make services`): %v", redisURL, err)
	}
	prefix = RandomName("logagg-test:") + ":"
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DeleteKeys(ctx, client, prefix); err != nil {
			t.Errorf("testenv: delete keys %s*: %v", prefix, err)
		}
	})
	return redisURL, prefix
}

// DeleteKeys deletes every key that begins with prefix.
func DeleteKeys(ctx context.Context, client *redis.Client, prefix string) error {
	if strings.ContainsAny(prefix, "*?[") {
		return fmt.Errorf("prefix %q has glob characters", prefix)
	}
	iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return client.Del(ctx, keys...).Err()
}
