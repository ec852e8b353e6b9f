package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/internal/proc"
)

// PrivateRedis starts a redis-server of this test's own on a free port,
// without persistence, with args added to its command line (such as
// "--maxmemory", "2mb"), and returns its URL; the server is killed when the
// test ends. A test that changes the server's configuration (CONFIG SET,
// a full memory) needs one: the shared server is every test's.
func PrivateRedis(t testing.TB, args ...string) string {
	t.Helper()
	SkipShort(t, "redis-server")
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server is not installed (apt-get install redis-server): %v", err)
	}
	port := FreePort(t)
	full := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
	}, args...)
	p := Start(t, bin, nil, full...)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	defer client.Close()
	answers := func(ctx context.Context) bool { return client.Ping(ctx).Err() == nil }
	if err := proc.Await(context.Background(), p, 30*time.Second, answers); err != nil {
		t.Fatalf("testenv: redis-server did not come up: %v\n%s", err, p.Output())
	}
	return url
}
