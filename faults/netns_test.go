//go:build faults

package faults

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// netns is a network namespace of a test's own, joined to the test's
// namespace by one veth pair per link, so that each link can be cut alone.
// Every link is a /30 of 10.213.N.0/24, N picked at random among the
// /24s no interface uses: the host end is .1 of its /30, the namespace end
// .2. Nothing is routed between links or beyond them, so the traffic stays
// on the addresses the test created. It all goes when the test ends,
// failed or not; a namespace that a killed test run left behind is removed
// by the next one.
type netns struct {
	t     *testing.T
	name  string
	links map[string]*link
}

// link is one veth pair between the test's namespace and a netns.
type link struct {
	ns      *netns
	name    string
	hostDev string     // the end in the test's namespace
	nsDev   string     // the end in ns
	host    netip.Addr // the host end's address: servers listen on it
	peer    netip.Addr // the namespace end's address: the replica's
}

// namePrefix starts the name of every namespace this suite creates; the
// creating process's ID follows, so that leftovers can be told apart from
// a namespace a running test uses.
const namePrefix = "logagg-faults-"

// newNetns creates a namespace with loopback up and a link for each name.
func newNetns(t *testing.T, linkNames ...string) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the partition scenarios create network namespaces and veth pairs: run them as root")
	}
	removeLeftovers(t)
	octet := freeOctet(t)
	ns := &netns{t: t, name: fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), octet), links: map[string]*link{}}
	ipCmd(t, "netns", "add", ns.name)
	t.Cleanup(func() { ns.remove() })
	ns.ip("link", "set", "lo", "up")
	for i, name := range linkNames {
		base := netip.AddrFrom4([4]byte{10, 213, byte(octet), byte(4 * i)})
		l := &link{
			ns: ns, name: name,
			// Interface names are at most 15 bytes.
			hostDev: fmt.Sprintf("lg%d%s-h", octet, name[:1]),
			nsDev:   fmt.Sprintf("lg%d%s-n", octet, name[:1]),
			host:    base.Next(),
			peer:    base.Next().Next(),
		}
		ipCmd(t, "link", "add", l.hostDev, "type", "veth", "peer", "name", l.nsDev, "netns", ns.name)
		ipCmd(t, "addr", "add", l.host.String()+"/30", "dev", l.hostDev)
		ipCmd(t, "link", "set", l.hostDev, "up")
		ns.ip("addr", "add", l.peer.String()+"/30", "dev", l.nsDev)
		ns.ip("link", "set", l.nsDev, "up")
		ns.links[name] = l
	}
	return ns
}

// link returns the namespace's link of that name.
func (ns *netns) link(name string) *link {
	l, ok := ns.links[name]
	if !ok {
		ns.t.Fatalf("namespace %s has no link %q", ns.name, name)
	}
	return l
}

// linksNamed is the namespace's link of that name, in a slice, or none
// when ns is nil.
func (ns *netns) linksNamed(name string) []*link {
	if ns == nil {
		return nil
	}
	return []*link{ns.link(name)}
}

// command is name with args run inside the namespace.
func (ns *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// ip runs ip(8) inside the namespace.
func (ns *netns) ip(args ...string) {
	ns.t.Helper()
	ipCmd(ns.t, append([]string{"-n", ns.name}, args...)...)
}

// remove deletes the namespace and the host ends of its links. The
// namespace's own ends go with it once no process runs inside (the
// replicas started in it are stopped by cleanups registered later, which
// run first); the host ends are deleted by name in case one outlives it.
func (ns *netns) remove() {
	for _, l := range ns.links {
		_ = exec.Command("ip", "link", "del", l.hostDev).Run()
	}
	if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
		ns.t.Logf("removing network namespace %s: %v: %s", ns.name, err, out)
	}
}

// Down takes the namespace end of the link down: the replica loses its
// route to the other end at once, and new connections fail straight away.
func (l *link) Down() { l.ns.ip("link", "set", l.nsDev, "down") }

// Up brings the namespace end back up.
func (l *link) Up() { l.ns.ip("link", "set", l.nsDev, "up") }

// Drop makes the link lose every packet, both ways, without a word: the
// interfaces stay up, so the replica's connections hang instead of
// failing, as on a network that silently loses everything. (tc netem is
// not in every kernel; nftables' netdev hooks are, on the namespace's own
// interface, and they go with the namespace.)
func (l *link) Drop() {
	l.ns.t.Helper()
	table := l.table()
	rules := fmt.Sprintf(`table netdev %[1]s {
	chain in { type filter hook ingress device %[2]q priority 0; policy drop; }
	chain out { type filter hook egress device %[2]q priority 0; policy drop; }
}
`, table, l.nsDev)
	cmd := l.ns.command(nftBinary(l.ns.t), "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.ns.t.Fatalf("nft: %v: %s", err, out)
	}
}

// Pass undoes Drop.
func (l *link) Pass() {
	l.ns.t.Helper()
	if out, err := l.ns.command(nftBinary(l.ns.t), "delete", "table", "netdev", l.table()).CombinedOutput(); err != nil {
		l.ns.t.Fatalf("nft: %v: %s", err, out)
	}
}

func (l *link) table() string { return "drop_" + l.name }

// nftBinary finds nft(8).
func nftBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nft")
	if err != nil {
		t.Fatalf("nft is not installed (apt-get install nftables; scripts/nftables.sh does it): %v", err)
	}
	return path
}

// ipCmd runs ip(8) and fails the test when it fails.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// freeOctet picks a third octet N such that no interface has an address in
// 10.213.N.0/24.
func freeOctet(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		t.Fatalf("ip addr show: %v", err)
	}
	for range 100 {
		n := rand.IntN(256)
		if !strings.Contains(string(out), fmt.Sprintf(" 10.213.%d.", n)) {
			return n
		}
	}
	t.Fatal("no free /24 in 10.213.0.0/16")
	return 0
}

// removeLeftovers deletes the namespaces, and their links' host ends, that
// a test process no longer running created (one killed before its
// cleanups ran).
func removeLeftovers(t *testing.T) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		rest, ok := strings.CutPrefix(name, namePrefix)
		if !ok {
			continue
		}
		pidText, octet, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || syscall.Kill(pid, 0) == nil {
			continue // not ours, or its test still runs
		}
		t.Logf("removing network namespace %s, left behind by process %d", name, pid)
		_ = exec.Command("ip", "netns", "del", name).Run()
		links, _ := exec.Command("ip", "-o", "link", "show").Output()
		for _, l := range strings.Split(string(links), "\n") {
			if _, dev, ok := strings.Cut(l, ": "); ok {
				dev, _, _ = strings.Cut(dev, "@")
				prefix := "lg" + octet
				if len(dev) == len(prefix)+3 && strings.HasPrefix(dev, prefix) && strings.HasSuffix(dev, "-h") {
					_ = exec.Command("ip", "link", "del", dev).Run()
				}
			}
		}
	}
}
