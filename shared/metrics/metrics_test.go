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

// Counters that add up what they are told: the detail log lines held back,
// the OTLP records refused, and the messages a consumer found taken over.
func TestCountersAddUp(t *testing.T) {
	t.Parallel()
	for name, observe := range map[string]func(*Metrics, int){
		"logagg_log_details_suppressed_total":    (*Metrics).ObserveSuppressedDetails,
		"logagg_otlp_rejected_log_records_total": (*Metrics).ObserveOTLPRejected,
		"logagg_taken_over_messages_total":       (*Metrics).ObserveTakenOver,
	} {
		m := New()
		observe(m, 3)
		observe(m, 2)
		require.Contains(t, scrape(t, m), "\n"+name+" 5\n")
	}
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

func TestMaintenancePassesAndDroppedEvents(t *testing.T) {
	t.Parallel()
	m := New()
	m.ObserveMaintenance(MaintenanceDone, 1200)
	m.ObserveMaintenance(MaintenanceDone, 0)
	m.ObserveMaintenance(MaintenanceSkipped, 0)
	m.ObserveMaintenance(MaintenanceFailed, 30) // a pass that failed after dropping a partition

	body := scrape(t, m)
	require.Contains(t, body, "\nlogagg_maintenance_passes_total{outcome=\"done\"} 2\n")
	require.Contains(t, body, "\nlogagg_maintenance_passes_total{outcome=\"skipped\"} 1\n")
	require.Contains(t, body, "\nlogagg_maintenance_passes_total{outcome=\"failed\"} 1\n")
	require.Contains(t, body, "\nlogagg_retention_dropped_events_total 1230\n")
}
