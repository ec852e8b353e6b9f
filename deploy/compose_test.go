package deploy_test

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/modroot"
)

// loadCompose loads docker-compose.yml as `docker compose` would, with an
// empty environment so that every ${VAR:-default} takes its default.
func loadCompose(t *testing.T, files ...string) *types.Project {
	t.Helper()
	return loadComposeWithEnv(t, nil, files...)
}

// loadComposeWithEnv loads the files as `docker compose` would with env
// (NAME=value entries) in its environment.
func loadComposeWithEnv(t *testing.T, env []string, files ...string) *types.Project {
	t.Helper()
	root := modroot.ForTest(t)
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(root, f))
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithWorkingDirectory(root),
		cli.WithEnv(append([]string{}, env...)),
		cli.WithName("logagg"),
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err)
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	require.NoError(t, err, "service %s", name)
	return s
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, "docker-compose.yml")
	require.ElementsMatch(t, []string{"storage", "broker", "aggregator", "publisher"}, p.ServiceNames())

	storage := service(t, p, "storage")
	require.Equal(t, "postgres:16-alpine", storage.Image)
	broker := service(t, p, "broker")
	require.Equal(t, "redis:7-alpine", broker.Image)
	require.Contains(t, strings.Join(broker.Command, " "), "--appendonly yes")

	for _, s := range []types.ServiceConfig{storage, broker, service(t, p, "aggregator")} {
		require.NotNil(t, s.HealthCheck, "%s has a healthcheck", s.Name)
		require.NotEmpty(t, s.HealthCheck.Test, "%s has a healthcheck", s.Name)
		require.NotEqual(t, "NONE", s.HealthCheck.Test[0], s.Name)
	}

	// Each server keeps its data in a named volume.
	for name, dir := range map[string]string{"storage": "/var/lib/postgresql/data", "broker": "/data"} {
		s := service(t, p, name)
		i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == dir })
		require.GreaterOrEqual(t, i, 0, "%s mounts a volume at %s", name, dir)
		v := s.Volumes[i]
		require.Equal(t, types.VolumeTypeVolume, v.Type, "%s's data is a named volume", name)
		require.Contains(t, p.Volumes, v.Source)
	}

	// Everyone waits for what it needs to be healthy.
	for name, deps := range map[string][]string{"aggregator": {"storage", "broker"}, "publisher": {"aggregator"}} {
		s := service(t, p, name)
		for _, d := range deps {
			require.Contains(t, s.DependsOn, d, "%s depends on %s", name, d)
			require.Equal(t, types.ServiceConditionHealthy, s.DependsOn[d].Condition, "%s waits for %s to be healthy", name, d)
		}
	}
}

func TestComposePublishesOnlyTheAggregator(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, "docker-compose.yml")
	for _, s := range p.Services {
		if s.Name == "aggregator" {
			require.Len(t, s.Ports, 1)
			continue
		}
		require.Empty(t, s.Ports, "%s publishes no port", s.Name)
	}
	agg := service(t, p, "aggregator")
	port := agg.Environment["PORT"]
	require.NotNil(t, port)
	require.Equal(t, *port, strconv.Itoa(int(agg.Ports[0].Target)), "the published port is the one localrun listens on")
	require.Contains(t, strings.Join(agg.HealthCheck.Test, " "), "127.0.0.1:"+*port+"/health")

	// The development override publishes the servers on loopback only.
	dev := loadCompose(t, "docker-compose.yml", "docker-compose.dev.yml")
	for _, name := range []string{"storage", "broker"} {
		for _, port := range service(t, dev, name).Ports {
			require.Equal(t, "127.0.0.1", port.HostIP, "%s on loopback only", name)
		}
	}
}

func TestComposeAggregatorEnvironmentMatchesLocalrun(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, "docker-compose.yml")
	agg := service(t, p, "aggregator")
	reads, required := localrunEnv(t)
	// pgx, given DATABASE_URL, takes what the URL leaves out from libpq's
	// variables: the compose file passes the password that way.
	reads = append(reads, "PGPASSWORD")
	for name := range agg.Environment {
		require.Contains(t, reads, name, "the aggregator sets %s, which localrun does not read", name)
	}
	for _, name := range required {
		v := agg.Environment[name]
		require.NotNil(t, v, "localrun requires %s", name)
		require.NotEmpty(t, *v, "localrun requires %s", name)
	}
	for name, host := range map[string]string{"DATABASE_URL": "storage:5432", "REDIS_URL": "broker:6379"} {
		u, err := url.Parse(*agg.Environment[name])
		require.NoError(t, err)
		require.Equal(t, host, u.Host, "%s points at the %s service", name, strings.Split(host, ":")[0])
	}

	publisher := service(t, p, "publisher")
	require.Equal(t, agg.Image, publisher.Image, "the load generator ships in the aggregator's image")
	require.Equal(t, []string{"publisher"}, []string(publisher.Entrypoint))
	require.Equal(t, "http://aggregator:"+*agg.Environment["PORT"], *publisher.Environment["LOGAGG_URL"])
}

// TestDockerfile checks what compose-go cannot: a multi-stage build of
// static binaries on the module's Go version, run by an unprivileged user.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	root := modroot.ForTest(t)
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	df := string(raw)

	var froms []string
	var user string
	sc := bufio.NewScanner(strings.NewReader(df))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			froms = append(froms, line)
		case strings.HasPrefix(line, "USER "):
			user = strings.TrimPrefix(line, "USER ")
		}
	}
	require.GreaterOrEqual(t, len(froms), 2, "a multi-stage build")
	require.NotContains(t, froms[len(froms)-1], "golang", "the runtime image carries no toolchain")
	require.NotEmpty(t, user, "the runtime stage sets a USER")
	require.False(t, user == "root" || strings.HasPrefix(user, "0:") || user == "0", "runs unprivileged, not as %s", user)
	require.Contains(t, df, "CGO_ENABLED=0", "static binaries")
	require.Regexp(t, `-o /out/localrun \./localrun`, df)
	require.Regexp(t, `-o /out/publisher \./publisher`, df)

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod)
	require.NotNil(t, goVersion)
	require.Contains(t, df, "ARG GO_VERSION="+string(goVersion[1]), "the build image's Go is go.mod's (official images do not fetch toolchains)")

	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	require.NoError(t, err)
	for _, entry := range []string{".git", "bin"} {
		require.Contains(t, strings.Fields(string(ignore)), entry, ".dockerignore keeps %s out of the build context", entry)
	}
}
