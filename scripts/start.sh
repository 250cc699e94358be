#!/usr/bin/env bash
# Quick start: set up, then run the service on the embedded default config (simulated GPS and PPS
# when no real ones are found, the bundled playlist, start at the next whole 10 s). Extra
# arguments go to `jaudiosync run`, e.g. scripts/start.sh --config /etc/jaudiosync/config.toml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node bin/jaudiosync.js run "$@"
