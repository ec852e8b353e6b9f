package testenv

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Metric sums the samples of the metric name that a service at baseURL
// exposes on /metrics, keeping those whose labels contain match ("" keeps
// every one, and the one sample of a metric without labels).
func Metric(t testing.TB, baseURL, name, match string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	text, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var total float64
	for _, line := range strings.Split(string(text), "\n") {
		// A metric without labels is written "name value".
		if !(strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ")) || !strings.Contains(line, match) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		total += v
	}
	return total
}
