package store

import (
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logagg/logagg/shared/netdial"
)

// serverLiveness are the session settings that make PostgreSQL drop a
// connection whose client has gone silent, as netdial does on the client's
// side. Without them a client cut off by the network in the middle of a
// transaction leaves its session waiting for the next statement, holding
// its row locks, for as long as the server's kernel keeps an idle
// connection (two hours by default): every other replica inserting one of
// those keys waits as long. DATABASE_URL may set any of them, as it may
// any run-time parameter (?tcp_keepalives_idle=30).
var serverLiveness = map[string]string{
	"tcp_keepalives_idle":     strconv.Itoa(int(netdial.KeepAliveIdle.Seconds())),
	"tcp_keepalives_interval": strconv.Itoa(int(netdial.KeepAliveInterval.Seconds())),
	"tcp_keepalives_count":    strconv.Itoa(netdial.KeepAliveCount),
	"tcp_user_timeout":        strconv.FormatInt(netdial.DeadPeerTimeout.Milliseconds(), 10),
}

// detectDeadPeers makes both ends of every connection cfg opens give it up
// once the other end has been silent for about netdial.DeadPeerTimeout.
// The connect timeout stays pgconn's, which bounds the dial's context.
func detectDeadPeers(cfg *pgconn.Config) {
	cfg.DialFunc = netdial.Dialer(0).DialContext
	for name, value := range serverLiveness {
		if _, set := cfg.RuntimeParams[name]; !set {
			cfg.RuntimeParams[name] = value
		}
	}
}
