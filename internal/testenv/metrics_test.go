package testenv

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetricSumsTheMatchingSamples(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/metrics", r.URL.Path)
		_, _ = w.Write([]byte(`# HELP logagg_consume_batches_total Batches.
# TYPE logagg_consume_batches_total counter
logagg_consume_batches_total{outcome="committed"} 40
logagg_consume_batches_total{outcome="failed"} 2
logagg_consume_batches_total_other{outcome="failed"} 100
logagg_consumed_events_total{worker="0"} 1.5e+06
logagg_consumed_events_total{worker="1"} 7
logagg_retention_dropped_events_total 12
logagg_retention_dropped_events_total_other 5
logagg_unlabelled_total 3
logagg_unlabelled_total_other 5
`))
	}))
	t.Cleanup(srv.Close)
	require.Equal(t, 2.0, Metric(t, srv.URL, "logagg_consume_batches_total", `outcome="failed"`))
	require.Equal(t, 42.0, Metric(t, srv.URL, "logagg_consume_batches_total", ""))
	require.Equal(t, 1_500_007.0, Metric(t, srv.URL, "logagg_consumed_events_total", ""))
	require.Equal(t, 3.0, Metric(t, srv.URL, "logagg_unlabelled_total", ""), "a metric without labels")
	require.Zero(t, Metric(t, srv.URL, "logagg_missing_total", ""))
	require.Equal(t, 12.0, Metric(t, srv.URL, "logagg_retention_dropped_events_total", ""), "a metric without labels")
	require.Zero(t, Metric(t, srv.URL, "logagg_retention_dropped_events_total", `outcome="failed"`))
}
