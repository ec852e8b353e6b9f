package envmap

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetenv(t *testing.T) {
	t.Parallel()
	getenv := Env{"PORT": "9090", "EMPTY": ""}.Getenv
	require.Equal(t, "9090", getenv("PORT"))
	require.Empty(t, getenv("EMPTY"))
	require.Empty(t, getenv("UNSET"))
	require.Empty(t, Env(nil).Getenv("PORT"), "a nil Env has no variables")
}
