#!/usr/bin/env bash
# The main job: a PMIPv6 domain on the emulated lab (root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pmip6d.labdemo "$@"
