package app

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/config"
)

// A database that does not exist is not a database still starting:
// OpenStore stops at once with the reason, naming DATABASE_URL, rather
// than retrying for the whole startup wait.
func TestOpenStoreStopsAtOnceWhenTheDatabaseDoesNotExist(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	// The context outlives no startup wait of 60 s: retrying would end
	// with its deadline instead of the reason.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := OpenStore(ctx, config.Config{DatabaseURL: testenv.MissingDatabaseURL(t, "s3cret-pw"), DBMaxConns: 2}, 60*time.Second, log)
	require.Nil(t, st)
	require.ErrorContains(t, err, "DATABASE_URL: ")
	require.ErrorContains(t, err, "does not exist")
	require.NotContains(t, err.Error(), "s3cret-pw")
	require.NotContains(t, logs.String(), "retrying")
}
