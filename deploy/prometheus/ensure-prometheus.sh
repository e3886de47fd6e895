#!/usr/bin/env bash
# Makes `prometheus` and `promtool` available (Debian package, 2.42 on bookworm) for the ops
# tests and for local monitoring. Installs only when missing and only as root with apt-get;
# otherwise explains what to install and exits 1. Safe to run repeatedly.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing prometheus (and promtool) from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q prometheus >/dev/null 2>&1 || {
    apt-get update -q && apt-get install -y -q prometheus
  }
  # The package enables a system service; crisiswatch starts its own instances instead.
  exit 0
fi
echo "prometheus/promtool are missing: apt-get install prometheus (or put them on PATH)" >&2
exit 1
