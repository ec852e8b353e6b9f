package event

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestParseTimestamp checks the exported parser the query API uses for since
// and until: the same rule as an event's timestamp, and an error worded to
// follow the value's name.
func TestParseTimestamp(t *testing.T) {
	t.Parallel()

	got, err := ParseTimestamp("2026-11-25t17:00:00.1234567+07:00")
	require.NoError(t, err)
	require.Equal(t, "2026-11-25T17:00:00.123456+07:00", got.Format(time.RFC3339Nano))

	for s, want := range map[string]string{
		"yesterday":                 `must be an RFC 3339 timestamp with a time-zone offset`,
		"2026-11-25T10:00:00":       `"2026-11-25T10:00:00" has no time-zone offset`,
		"9999-12-31T23:59:59-23:59": `"9999-12-31T23:59:59-23:59" is 10000-01-01T23:58:59Z in UTC, outside the range`,
	} {
		got, err := ParseTimestamp(s)
		require.Error(t, err, s)
		require.True(t, got.IsZero(), s)
		require.True(t, strings.HasPrefix(err.Error(), want), "%s: %s", s, err)
	}
}

// Every form the rule allows decodes to its UTC instant, its offset kept.
func TestTimestampAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		instant time.Time
		offset  int // seconds east of UTC
	}{
		{"2026-11-25T10:00:00Z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
		{"2026-11-25T17:00:00+07:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 7 * 3600},
		{"2026-11-25T04:30:00-05:30", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), -(5*3600 + 30*60)},
		{"2026-11-25T10:00:00+00:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
		{"2026-11-25T10:00:00.123456789Z", time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC), 0},
		{"2026-11-25T10:00:00.5+23:59", time.Date(2026, 11, 24, 10, 1, 0, 500000000, time.UTC), 23*3600 + 59*60},
		{"0001-01-01T00:00:00Z", time.Time{}, 0},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"0000-01-01T23:59:00+23:59", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), 23*3600 + 59*60},
		{"9999-12-31T23:59:59.999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 0},
		{"9999-12-31T00:00:59-23:59", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), -(23*3600 + 59*60)},
		// More than six fractional digits are cut to microseconds, never
		// rounded up: what PostgreSQL stores is what was accepted.
		{"2026-11-25T10:00:00.1234569Z", time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC), 0},
		{"9999-12-31T23:59:59.9999995Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 0},
		{"9999-12-31T23:59:59.999999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 0},
		{"0000-01-01T00:00:00.0000009Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		// RFC 3339 §5.6 allows the T and the Z in lower case.
		{"2026-11-25t10:00:00z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
		{"2026-11-25t17:00:00.5+07:00", time.Date(2026, 11, 25, 10, 0, 0, 500000000, time.UTC), 7 * 3600},
		{"2026-11-25T10:00:00z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest("", []byte(withField(FieldTimestamp, `"`+tt.raw+`"`)), DefaultLimits())
			require.NoError(t, err)
			ts := got[0].Timestamp
			require.True(t, ts.Equal(tt.instant), "got %s", ts)
			require.Equal(t, tt.instant.Nanosecond(), ts.Nanosecond(), "exactly, not only Equal")
			name, offset := ts.Zone()
			require.Equal(t, tt.offset, offset)
			if offset != 0 {
				require.Empty(t, name, "no zone name borrowed from the local zone")
			}
		})
	}
}
