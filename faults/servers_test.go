//go:build faults

// Package faults breaks logagg on purpose — kills replicas, pauses them,
// cuts them off from PostgreSQL and Redis, restarts PostgreSQL and Redis,
// runs them out of memory, disk or connections, feeds it poison, fills its
// queue, stops it under load — and checks that every count stays exact.
// Each scenario runs its own PostgreSQL cluster and Redis server on free
// 127.0.0.1 ports (and on the host ends of a partition scenario's links),
// started here from the installed binaries, and localrun as real processes;
// the shared servers are never touched.
//
// Run it with `make test-faults` (go test -tags faults ./faults/...). The
// scenarios run one at a time, so that the figures each logs are not
// skewed by the others on a small machine.
package faults

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
)

// postgres is a private PostgreSQL cluster.
type postgres struct {
	t       *testing.T
	dir     string // owns the data directory, the socket and the log
	port    int
	asOwner []string // command prefix that runs a program as the cluster's owner
	uid     int
	gid     int
	opts    pgOptions
	dataDir string   // the data directory's parent: dir, or a filesystem of its own
	listen  []string // addresses it listens on
}

// pgOptions say how a scenario's cluster differs from the default one.
type pgOptions struct {
	// settings are passed to the server as -c name=value.
	settings map[string]string
	// filesystem, when set (like "256m"), gives the data directory a tmpfs
	// of that size of its own, so that the scenario can fill it; the
	// server's log and socket stay outside.
	filesystem string
}

// startPostgres creates a cluster with trust authentication in a fresh
// directory, as opts say, and starts it on a free port of 127.0.0.1 and of
// the host end of each link in also, trusting the link's other end.
// PostgreSQL refuses to run as root, so when the tests run as root the
// cluster belongs to the postgres user and every pg_ctl call runs as that
// user.
func startPostgres(t *testing.T, opts pgOptions, also ...*link) *postgres {
	t.Helper()
	p := &postgres{t: t, port: testenv.FreePort(t), uid: -1, gid: -1, opts: opts, listen: []string{"127.0.0.1"}}
	dir, err := os.MkdirTemp("", "logagg-faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir, p.dataDir = dir, dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if opts.filesystem != "" {
		p.dataDir = mountTmpfs(t, filepath.Join(dir, "fs"), opts.filesystem)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user to own the test cluster: %v", err)
		}
		p.uid, _ = strconv.Atoi(u.Uid)
		p.gid, _ = strconv.Atoi(u.Gid)
		for _, d := range []string{dir, p.dataDir} {
			if err := os.Chown(d, p.uid, p.gid); err != nil {
				t.Fatal(err)
			}
		}
		p.asOwner = []string{"runuser", "-u", "postgres", "--"}
	}
	p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	for _, l := range also {
		p.listen = append(p.listen, l.host.String())
		p.trust(l.peer.String() + "/32")
	}
	t.Cleanup(func() {
		_ = p.ctl("stop", "-m", "immediate")
		if t.Failed() {
			log, _ := os.ReadFile(p.log())
			t.Logf("PostgreSQL log:\n%s", tail(string(log), 4000))
		}
	})
	p.Start()
	return p
}

func (p *postgres) data() string { return filepath.Join(p.dataDir, "data") }
func (p *postgres) log() string  { return filepath.Join(p.dir, "postgres.log") }

// URL is the connection string of the cluster's postgres database.
func (p *postgres) URL() string { return p.urlAt("127.0.0.1") }

// URLOver is the connection string over the link l, for a client at its
// other end.
func (p *postgres) URLOver(l *link) string { return p.urlAt(l.host.String()) }

func (p *postgres) urlAt(host string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/postgres?sslmode=disable&connect_timeout=5", host, p.port)
}

// trust lets clients from cidr in without a password, as initdb's -A trust
// does for the loopback addresses.
func (p *postgres) trust(cidr string) {
	p.t.Helper()
	f, err := os.OpenFile(filepath.Join(p.data(), "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "host all all %s trust\n", cidr)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		p.t.Fatal(err)
	}
}

// Start starts the cluster and waits until it accepts connections.
func (p *postgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=%s", p.port, p.dir, strings.Join(p.listen, ","))
	for _, name := range slices.Sorted(maps.Keys(p.opts.settings)) {
		opts += fmt.Sprintf(" -c %s=%s", name, p.opts.settings[name])
	}
	if err := p.ctl("start", "-l", p.log(), "-o", opts); err != nil {
		log, _ := os.ReadFile(p.log())
		p.t.Fatalf("pg_ctl start: %v\n%s", err, tail(string(log), 4000))
	}
}

// Stop shuts the cluster down in fast mode: open transactions are rolled
// back and clients are disconnected, as on a real restart.
func (p *postgres) Stop() {
	p.t.Helper()
	if err := p.ctl("stop", "-m", "fast"); err != nil {
		p.t.Fatalf("pg_ctl stop: %v", err)
	}
}

// ctl runs pg_ctl on the cluster and waits for it to finish.
func (p *postgres) ctl(args ...string) error {
	full := append([]string{"-D", p.data(), "-w", "-t", "60"}, args...)
	cmd := p.command("pg_ctl", full...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func (p *postgres) run(name string, args ...string) {
	p.t.Helper()
	if out, err := p.command(name, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (p *postgres) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, p.asOwner...), pgBinary(p.t, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.dir
	return cmd
}

// pgBinary finds a PostgreSQL server program: on PATH, else in the newest
// /usr/lib/postgresql/*/bin.
func pgBinary(t *testing.T, name string) string {
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name)
		}
	}
	t.Fatalf("%s not found on PATH nor in /usr/lib/postgresql/*/bin: the fault tests start PostgreSQL clusters of their own "+
		"and need the server installed (apt-get install postgresql)", name)
	return ""
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// redisServer is a private Redis that writes every change to its
// append-only file and fsyncs it before answering, so that it can be
// killed and restarted without losing anything it acknowledged.
type redisServer struct {
	t    *testing.T
	dir  string
	port int
	args []string // added to the command line
	bind []string // addresses it listens on
	proc *proc.Process
}

// startRedis starts a server on a free port of 127.0.0.1 and of the host
// end of each link in also, with args added to its command line.
func startRedis(t *testing.T, args []string, also ...*link) *redisServer {
	t.Helper()
	r := &redisServer{t: t, dir: t.TempDir(), port: testenv.FreePort(t), args: args, bind: []string{"127.0.0.1"}}
	for _, l := range also {
		r.bind = append(r.bind, l.host.String())
	}
	r.Start()
	return r
}

// Start starts redis-server on its port and directory, which reloads the
// append-only file a previous run left, and waits until it answers.
func (r *redisServer) Start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	// Protected mode turns away every client but loopback ones; the other
	// addresses are the host ends of links the test made, and only their
	// other ends can connect.
	protected := "yes"
	if len(r.bind) > 1 {
		protected = "no"
	}
	args := append([]string{
		"--port", strconv.Itoa(r.port), "--bind", strings.Join(r.bind, " "), "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "",
		"--daemonize", "no", "--protected-mode", protected,
	}, r.args...)
	r.proc = testenv.Start(r.t, bin, nil, args...)
	c := r.Client()
	defer c.Close()
	var pingErr error
	answers := func(ctx context.Context) bool { pingErr = c.Ping(ctx).Err(); return pingErr == nil }
	if err := proc.Await(context.Background(), r.proc, 30*time.Second, answers); err != nil {
		r.t.Fatalf("redis-server did not come up: %v (last ping: %v)\n%s", err, pingErr, r.proc.Output())
	}
}

// Kill ends redis-server with SIGKILL: no shutdown, no final write.
func (r *redisServer) Kill() { _ = r.proc.Kill() }

// URL is the server's Redis URL.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// URLOver is the server's Redis URL over the link l, for a client at its
// other end.
func (r *redisServer) URLOver(l *link) string {
	return fmt.Sprintf("redis://%s:%d/0", l.host, r.port)
}

// Client is a new client of the server; the caller closes it.
func (r *redisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
}

// freeze stops a process in its tracks (SIGSTOP) and thaw lets it go on;
// between the two its state is fixed for the test to look at.
func freeze(p *proc.Process) error { return p.Signal(syscall.SIGSTOP) }
func thaw(p *proc.Process) error   { return p.Signal(syscall.SIGCONT) }

// tail is the end of a log, at most n bytes of it.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
