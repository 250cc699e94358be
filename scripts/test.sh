#!/usr/bin/env bash
# Quick start for developers: set up everything the tests need, then run the whole suite.
# The audio tests start their own JACK server (dummy driver) and PulseAudio through
# scripts/audio-rig.sh and stop them afterwards. Under CI (CI=true) the output is TAP and the last
# line is the plain count "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
if [ "${CI:-}" = "true" ]; then
  log=$(mktemp)
  set +e
  npx ava --tap "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  pass=$(sed -n 's/^# pass \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  fail=$(sed -n 's/^# fail \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  skip=$(sed -n 's/^# skip \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  rm -f "$log"
  echo "${pass:-0} passed, ${fail:-0} failed${skip:+, $skip skipped}"
  # No TAP plan at all means the runner died before counting: that is a failure, not zero tests.
  [ -n "$pass" ] || exit 1
  exit "$status"
fi
exec npm test -- "$@"
