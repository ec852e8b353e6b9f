#!/usr/bin/env bash
# Makes sure headless Chromium is installed for the dashboard's browser test
# (localrun's TestDashboard*): installs Debian's chromium package with apt
# when /usr/bin/chromium (or CHROMIUM) is missing. Idempotent.
set -euo pipefail

say() { echo "browser: $*" >&2; }
bin="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
say "installing chromium with apt"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$bin" ] || { say "chromium installed, but $bin is still missing"; exit 1; }
