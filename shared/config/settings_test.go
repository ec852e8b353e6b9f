package config

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSettingsDescribeEveryVariable(t *testing.T) {
	t.Parallel()
	settings := Settings()
	seen := map[string]bool{}
	for _, s := range settings {
		require.Regexp(t, `^[A-Z][A-Z_]+$`, s.Name)
		require.False(t, seen[s.Name], "%s is read twice", s.Name)
		seen[s.Name] = true
		require.NotEmpty(t, s.Meaning, s.Name)
	}
	byName := map[string]Setting{}
	for _, s := range settings {
		byName[s.Name] = s
	}
	require.Equal(t, "8080", byName["PORT"].Default)
	require.Equal(t, "168h", byName["LEDGER_RETENTION"].Default)
	require.Equal(t, "0", byName["RETENTION"].Default, "for ever, written as it is set")
	require.Equal(t, "0", byName["DEDUP_WINDOW"].Default)
	require.Equal(t, "168h", byName["PARTITION_INTERVAL"].Default)
	require.Equal(t, "10m", byName["MAINTENANCE_INTERVAL"].Default)
	require.Equal(t, "30s", byName["BODY_READ_TIMEOUT"].Default)
	require.Equal(t, "16 × MAX_BODY_BYTES", byName["INFLIGHT_BODY_BYTES"].Default)
	require.Empty(t, byName["API_KEYS"].Default)

	var out bytes.Buffer
	require.NoError(t, PrintSettings(&out))
	for _, s := range settings {
		require.Regexp(t, `(?m)^`+s.Name+` +`+regexp.QuoteMeta(orDash(s.Default))+` +`+regexp.QuoteMeta(s.Meaning)+`$`, out.String())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TestREADMEDocumentsEverySetting keeps the README's configuration table in
// step with what Load reads: a row per variable, with its default.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	rows := map[string]string{} // variable → default column
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
	}
	for _, s := range Settings() {
		def, ok := rows[s.Name]
		require.True(t, ok, "README.md's configuration table has no row for %s", s.Name)
		if s.Default != "" {
			require.True(t, strings.HasPrefix(def, "`"+s.Default+"`"), "README.md gives %s the default %s, the code %q", s.Name, def, s.Default)
		}
	}
}
