#!/usr/bin/env bash
# Quick start for developers: set up everything the tests need, then run the whole suite.
# The audio tests start their own JACK server (dummy driver) and PulseAudio through
# scripts/audio-rig.sh and stop them afterwards. Under CI (CI=true) the output is TAP and the last
# line is the plain count "N passed, N failed".
#
# Two lanes: everything else first (two test files at a time), then the tests that measure real
# time (the JACK audio path, first-sample placement, RTC sets on the second, the serial GPS) one
# file at a time, so that another file's CPU load cannot move what they measure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
REALTIME=(test/audio-jack.test.ts test/run-wav.test.ts test/timeline.test.ts test/gps-serial-e2e.test.ts test/rtc-calibration.test.ts test/system-clock-step.test.ts)
if [ $# -gt 0 ]; then lanes=("$*"); else
  mapfile -t rest < <(ls test/*.test.ts test/sim/*.test.ts | grep -vxF -f <(printf '%s\n' "${REALTIME[@]}"))
  lanes=("--concurrency 2 ${rest[*]}" "--concurrency 1 ${REALTIME[*]}")
fi
if [ "${CI:-}" = "true" ]; then
  pass=0; fail=0; skip=0; status=0; counted=0
  for lane in "${lanes[@]}"; do
    log=$(mktemp)
    set +e
    # shellcheck disable=SC2086
    npx ava --tap $lane 2>&1 | tee "$log"
    s=${PIPESTATUS[0]}
    set -e
    [ "$s" = 0 ] || status=$s
    p=$(sed -n 's/^# pass \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^# fail \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    k=$(sed -n 's/^# skip \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    rm -f "$log"
    # No TAP plan at all means the runner died before counting: that is a failure, not zero tests.
    if [ -n "$p" ]; then counted=$((counted + 1)); else status=1; fi
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0})); skip=$((skip + ${k:-0}))
  done
  echo "${pass} passed, ${fail} failed$([ "$skip" -gt 0 ] && echo ", ${skip} skipped")"
  exit "$status"
fi
for lane in "${lanes[@]}"; do
  # shellcheck disable=SC2086
  npx ava $lane
done
