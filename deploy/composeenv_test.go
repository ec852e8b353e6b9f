package deploy_test

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/modroot"
)

// env is the value compose gives a service's variable, "" when unset.
func env(t *testing.T, vars map[string]*string, name string) string {
	t.Helper()
	if v := vars[name]; v != nil {
		return *v
	}
	return ""
}

func TestComposePublisherGetsAKeyWhenAPIKeysIsSet(t *testing.T) {
	t.Parallel()
	p := loadComposeWithEnv(t, []string{"API_KEYS=alpha, beta"}, "docker-compose.yml")
	accepted := strings.Split(env(t, service(t, p, "aggregator").Environment, "API_KEYS"), ",")
	for i := range accepted {
		accepted[i] = strings.TrimSpace(accepted[i])
	}
	key := env(t, service(t, p, "publisher").Environment, "API_KEY")
	require.NotEmpty(t, key, "the publisher is given a key when the aggregator requires one")
	// The publisher sends the first key of a comma-separated API_KEY.
	first := strings.TrimSpace(strings.Split(key, ",")[0])
	require.Contains(t, accepted, first, "the publisher's key is one the aggregator accepts")

	p = loadComposeWithEnv(t, []string{"API_KEYS=alpha,beta", "PUBLISHER_API_KEY=beta"}, "docker-compose.yml")
	require.Equal(t, "beta", env(t, service(t, p, "publisher").Environment, "API_KEY"), "PUBLISHER_API_KEY chooses the key")

	p = loadCompose(t, "docker-compose.yml")
	require.Empty(t, env(t, service(t, p, "publisher").Environment, "API_KEY"), "no keys, no key")
}

// Not parallel: pgx reads PGPASSWORD from the process environment, which
// t.Setenv changes for the whole test binary.
func TestComposeDatabasePasswordNeedsNoEscaping(t *testing.T) {
	const password = "p@ss/w:rd%"
	p := loadComposeWithEnv(t, []string{"POSTGRES_PASSWORD=" + password}, "docker-compose.yml")
	require.Equal(t, password, env(t, service(t, p, "storage").Environment, "POSTGRES_PASSWORD"))

	agg := service(t, p, "aggregator").Environment
	databaseURL := env(t, agg, "DATABASE_URL")
	u, err := url.Parse(databaseURL)
	require.NoError(t, err, "DATABASE_URL %q is a URL whatever the password", databaseURL)
	require.Equal(t, "storage:5432", u.Host)
	require.NotContains(t, databaseURL, password, "the password is not pasted into the URL")

	// What the aggregator's pgx makes of its environment.
	for name, value := range agg {
		if strings.HasPrefix(name, "PG") && value != nil {
			t.Setenv(name, *value)
		}
	}
	cfg, err := pgconn.ParseConfig(databaseURL)
	require.NoError(t, err)
	require.Equal(t, "storage", cfg.Host)
	require.Equal(t, "postgres", cfg.User)
	require.Equal(t, "logagg", cfg.Database)
	require.Equal(t, password, cfg.Password, "the aggregator connects with the storage service's password")
}

// composeSection is the README's section on docker compose.
func composeSection(t *testing.T, root string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "\n## Running with docker compose\n")
	require.GreaterOrEqual(t, start, 0, "README has a section \"Running with docker compose\"")
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	return section
}

func TestComposeVariablesAreDocumented(t *testing.T) {
	t.Parallel()
	root := modroot.ForTest(t)
	section := composeSection(t, root)
	variable := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
	var names []string
	for _, f := range []string{"docker-compose.yml", "docker-compose.dev.yml"} {
		raw, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		for _, m := range variable.FindAllStringSubmatch(string(raw), -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	require.Contains(t, names, "AGGREGATOR_PORT")
	for _, name := range names {
		require.Contains(t, section, "`"+name+"`", "the README's compose section documents %s", name)
	}
}
