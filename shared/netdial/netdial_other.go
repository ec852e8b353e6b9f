//go:build !linux

package netdial

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not known: the
// keepalive probes still find an idle connection dead.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
