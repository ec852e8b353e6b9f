package modroot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFind(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := Find(wd)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	require.Equal(t, filepath.Join(root, "internal", "modroot"), wd)

	_, err = Find(t.TempDir())
	require.ErrorIs(t, err, ErrNotFound)
}

func TestForTest(t *testing.T) {
	t.Parallel()
	root := ForTest(t)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "internal", "modroot"), wd)
}
