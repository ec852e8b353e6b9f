#!/usr/bin/env bash
# Makes sure nft(8) is installed, for the fault suite's partition scenarios
# (faults/partition_test.go), which make a link lose every packet with
# nftables rules inside a network namespace of their own: installs Debian's
# nftables with apt when nft is missing. Only the binary is wanted; the
# system's own rules are not touched. Idempotent.
set -euo pipefail

say() { echo "nftables: $*" >&2; }
if command -v nft >/dev/null 2>&1; then exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
say "installing nftables with apt"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nftables >/dev/null
command -v nft >/dev/null 2>&1 || { say "nftables installed, but nft is still not on PATH"; exit 1; }
