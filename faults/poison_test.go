//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/redisqueue"
)

// deadLetters reads every dead letter through the API, following the
// cursor, newest first.
func deadLetters(t *testing.T, r *replica) []event.DeadLetter {
	t.Helper()
	var all []event.DeadLetter
	url := r.url + "/deadletters?limit=2"
	for range 100 {
		resp, err := http.Get(url)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var page []event.DeadLetter
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		resp.Body.Close()
		all = append(all, page...)
		next := resp.Header.Get("X-Next-Cursor")
		if next == "" {
			return all
		}
		url = r.url + "/deadletters?limit=2&cursor=" + next
	}
	t.Fatal("the dead letter pages do not end")
	return nil
}

// replay posts a replay request and returns how many were replayed.
func replay(t *testing.T, r *replica, body string) int {
	t.Helper()
	resp, err := http.Post(r.url+"/deadletters/replay", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct{ Replayed int }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Replayed
}

// TestPoisonAmongGoodMessages puts messages that can never be processed
// into the stream among 20,000 good events: bodies that are not JSON or
// not valid events (written by a producer that skips /publish's
// validation), an entry without a body, and a valid event whose consumers
// have already died on it more than MAX_DELIVERIES times. Each must be
// dead-lettered once, with its reason, without holding up the good
// events; then replaying the crash-looped event stores it, and replaying
// the rest dead-letters them again, with every invariant intact.
func TestPoisonAmongGoodMessages(t *testing.T) {
	ctx := context.Background()
	s := newSystem(t, map[string]string{"CLAIM_IDLE": "1s", "MAX_DELIVERIES": "3"})
	q := redisqueue.New(s.rdb, redisqueue.Options{Stream: stream, Group: group})
	require.NoError(t, q.EnsureGroup(ctx))

	// A good event whose consumers crashed four times: delivered to a
	// consumer that never acknowledged, then claimed again three times.
	crashLooped := `{"topic":"poison.test","event_id":"crash-looped","timestamp":"2026-11-25T10:00:00Z","source":"faults","payload":{}}`
	require.NoError(t, q.Publish(ctx, queue.Singles([][]byte{[]byte(crashLooped)})))
	got, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "ghost", Streams: []string{stream, ">"}, Count: 1}).Result()
	require.NoError(t, err)
	crashID := got[0].Messages[0].ID
	for range 3 {
		require.NoError(t, s.rdb.XClaim(ctx, &redis.XClaimArgs{Stream: stream, Group: group, Consumer: "ghost", Messages: []string{crashID}}).Err())
	}

	a := s.start("a", nil)
	c := client(a)
	r := publish(c, 20_000, 0.3, 16, loadgen.PublishOptions{BatchSize: 500, Concurrency: 2, Rate: 10_000})
	eventually(t, time.Minute, "a third published", func() bool { return r.sent.Load() >= 20_000/3 })

	poison := map[string]string{ // body → part of the reason it is dead-lettered with
		"not json at all": "not valid JSON",
		`{"topic":"poison.test","event_id":"no-timestamp","source":"faults"}`:                                                          "timestamp",
		`{"topic":"poison.test","event_id":"nul","timestamp":"2026-11-25T10:00:00Z","source":"faults","payload":{"a":"\u0000"}}`:       "NUL",
		`{"topic":"poison.test","event_id":"surrogate","timestamp":"2026-11-25T10:00:00Z","source":"faults","payload":{"a":"\ud800"}}`: "surrogate",
		`{"topic":"poison.test","event_id":"deep","timestamp":"2026-11-25T10:00:00Z","source":"faults","payload":` + deep(70) + `}`:    "deep",
		`"a string"`: "event object",
		`[]`:         "empty array",
	}
	var bodies [][]byte
	for body := range poison {
		bodies = append(bodies, []byte(body))
	}
	require.NoError(t, q.Publish(ctx, queue.Singles(bodies)))
	// An entry without the body field, counted as published as Publish would.
	pipe := s.rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"wrong", "field"}})
	pipe.Incr(ctx, stream+":published")
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	injected := len(bodies) + 1

	r.wait(t)
	sent := int64(20_000 + injected + 1)
	dead := int64(injected + 1)
	keys := keysOf(t, r.events)
	st := s.requireExact(t, c, want{sent: sent, unique: int64(r.unique), dead: dead, keys: keys})

	letters := deadLetters(t, a)
	require.Len(t, letters, int(dead))
	byBody := map[string]event.DeadLetter{}
	for _, d := range letters {
		byBody[d.Body] = d
	}
	for body, reason := range poison {
		require.Contains(t, byBody, body)
		require.Contains(t, byBody[body].Reason, reason, body)
	}
	require.Contains(t, byBody[""].Reason, "no body")
	require.Equal(t, crashID, byBody[crashLooped].MessageID)
	require.Contains(t, byBody[crashLooped].Reason, "delivered 5 times, more than the limit of 3")

	// Replay the crash-looped event: it is stored now.
	require.Equal(t, 1, replay(t, a, fmt.Sprintf(`{"ids":[%d]}`, byBody[crashLooped].ID)))
	require.Equal(t, 0, replay(t, a, fmt.Sprintf(`{"ids":[%d]}`, byBody[crashLooped].ID)), "replayed once only")
	keys = append(keys, key{"poison.test", "crash-looped"})
	afterOne := s.requireExact(t, c, want{sent: sent + 1, unique: int64(r.unique) + 1, dead: dead, keys: keys})

	// Replay the rest: each is dead-lettered again, as a new dead letter.
	require.Equal(t, injected, replay(t, a, `{"all":true}`))
	final := s.requireExact(t, c, want{sent: sent + 1 + int64(injected), unique: int64(r.unique) + 1, dead: dead + int64(injected), keys: keys})
	require.Len(t, deadLetters(t, a), int(dead)+injected)
	a.stop(t, 30*time.Second)

	t.Logf("poison among good messages: 20,000 events (%d unique) published through the API, %d poison messages written into the stream, 1 event crash-looped past MAX_DELIVERIES=3",
		r.unique, injected)
	t.Logf("  drained: published %d, received %d = unique %d + duplicates %d, dead_lettered %d",
		st.Published, st.Received, st.UniqueProcessed, st.DuplicateDropped, st.DeadLettered)
	t.Logf("  replayed the crash-looped event: published %d, unique %d, dead_lettered %d; replayed the other %d: published %d, received %d, dead_lettered %d",
		afterOne.Published, afterOne.UniqueProcessed, afterOne.DeadLettered, injected, final.Published, final.Received, final.DeadLettered)
	for _, d := range letters {
		t.Logf("  dead letter %d (%s): %q → %s", d.ID, d.MessageID, abbreviate(d.Body), abbreviate(d.Reason))
	}
}

// deep is a JSON value nested n levels deep.
func deep(n int) string {
	return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
}

func abbreviate(s string) string {
	if len(s) <= 90 {
		return s
	}
	return s[:60] + "…" + s[len(s)-20:]
}
