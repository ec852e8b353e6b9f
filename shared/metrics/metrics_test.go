package metrics

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSuppressedDetailsAreCounted(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveSuppressedDetails(3)
	m.ObserveSuppressedDetails(2)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), "\nlogagg_log_details_suppressed_total 5\n")
}

func TestPublishedEventsAreCountedByProtocol(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObservePublished("json", 3)
	m.ObservePublished("otlp", 2)
	m.ObservePublished("otlp", 5)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Contains(t, rec.Body.String(), "\nlogagg_published_events_total{protocol=\"json\"} 3\n")
	require.Contains(t, rec.Body.String(), "\nlogagg_published_events_total{protocol=\"otlp\"} 7\n")
}

func TestOTLPRejectedRecordsAreCounted(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveOTLPRejected(2)
	m.ObserveOTLPRejected(3)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Contains(t, rec.Body.String(), "\nlogagg_otlp_rejected_log_records_total 5\n")
}
