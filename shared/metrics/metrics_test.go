package metrics

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// scrape is what m's /metrics serves.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.String()
}

func TestSuppressedDetailsAreCounted(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveSuppressedDetails(3)
	m.ObserveSuppressedDetails(2)

	require.Contains(t, scrape(t, m), "\nlogagg_log_details_suppressed_total 5\n")
}

func TestPublishedEventsAreCountedByProtocol(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObservePublished("json", 3)
	m.ObservePublished("otlp", 2)
	m.ObservePublished("otlp", 5)

	body := scrape(t, m)
	require.Contains(t, body, "\nlogagg_published_events_total{protocol=\"json\"} 3\n")
	require.Contains(t, body, "\nlogagg_published_events_total{protocol=\"otlp\"} 7\n")
}

func TestOTLPRejectedRecordsAreCounted(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveOTLPRejected(2)
	m.ObserveOTLPRejected(3)

	require.Contains(t, scrape(t, m), "\nlogagg_otlp_rejected_log_records_total 5\n")
}
