#!/usr/bin/env bash
# Makes `prometheus`, `promtool` and Alertmanager (`prometheus-alertmanager`, `amtool`) available
# (Debian packages: 2.42 and 0.25 on bookworm) for the ops tests and for local monitoring. Installs only when missing and only as root with apt-get;
# otherwise explains what to install and exits 1. Safe to run repeatedly.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null \
  && command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing prometheus (and promtool) and prometheus-alertmanager from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q prometheus prometheus-alertmanager >/dev/null 2>&1 || {
    apt-get update -q && apt-get install -y -q prometheus prometheus-alertmanager
  }
  # The packages enable system services; crisiswatch starts its own instances instead.
  exit 0
fi
echo "prometheus/promtool/alertmanager are missing: apt-get install prometheus" \
  "prometheus-alertmanager (or put them on PATH)" >&2
exit 1
