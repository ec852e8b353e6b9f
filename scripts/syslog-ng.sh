#!/usr/bin/env bash
# Makes sure syslog-ng and its http() destination are installed, for the
# shipper's integration test (examples/syslog-ng): installs Debian's
# syslog-ng-core and syslog-ng-mod-http with apt when either is missing.
# Only the binary is wanted: the test runs its own syslog-ng in the
# foreground, so the system service is not started. Idempotent.
set -euo pipefail

say() { echo "syslog-ng: $*" >&2; }
bin="${SYSLOG_NG:-/usr/sbin/syslog-ng}"
module=$(ls /usr/lib/syslog-ng/*/libhttp.so 2>/dev/null | head -n 1 || true)
if [ -x "$bin" ] && [ -n "$module" ]; then exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
say "installing syslog-ng-core and syslog-ng-mod-http with apt"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  syslog-ng-core syslog-ng-mod-http >/dev/null
[ -x "$bin" ] || { say "syslog-ng installed, but $bin is still missing"; exit 1; }
