#!/usr/bin/env bash
# `make test`: start Kafka and PostgreSQL if needed, run pytest, stop what this script started.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
CW=("$PYTHON" -m services.cli)
started=0
if ! "${CW[@]}" infra status >/dev/null 2>&1; then
  started=1
fi
cleanup() {
  if [ "$started" = 1 ]; then
    "${CW[@]}" infra down || true
  fi
}
trap cleanup EXIT
"${CW[@]}" infra up
bash deploy/prometheus/ensure-prometheus.sh
set +e
"$PYTHON" -m pytest -m "not soak" -p no:cacheprovider --durations=20 "$@"
code=$?
set -e
if [ "$code" = 5 ]; then
  echo "pytest collected no tests" >&2
fi
exit "$code"
