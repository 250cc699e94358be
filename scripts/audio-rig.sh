#!/usr/bin/env bash
# The real audio path without a sound card: a JACK server with the dummy driver, ALSA's default PCM
# routed into JACK by the ALSA jack plugin, and a PulseAudio daemon so that snd_ctl_open("default")
# succeeds (RtAudio lists "Default ALSA Device" only then). Everything lives under one rig folder
# with its own HOME/.asoundrc: the user's ALSA config is never touched.
#
#   scripts/audio-rig.sh start DIR   start (idempotent; waits while another rig is in use), prints nothing on success
#   scripts/audio-rig.sh stop DIR    stop what start started
#   scripts/audio-rig.sh env DIR     print the environment a player or test needs (HOME=...)
#
# RIG_PERIOD=N sets JACK's period (frames, default 256; the bench uses 1024: at 256 a 2-core VM
# xruns in most runs). jackd runs with -R (realtime) where the system allows it; RIG_REQUIRE_RT=1
# makes a refusal an error instead of a fallback to --no-realtime.
set -euo pipefail
cmd=${1:?usage: audio-rig.sh start|stop|env DIR}
dir=${2:?usage: audio-rig.sh start|stop|env DIR}
mkdir -p "$dir/home"
dir=$(cd "$dir" && pwd)
sock="$dir/pulse.sock"
export JACK_NO_AUDIO_RESERVATION=1 JACK_NO_START_SERVER=1

# One rig on the machine at a time: JACK's default server is shared, so two test files (or a test and
# a bench) would record each other's players, or one stop the server under the other. start takes an
# flock (waiting up to RIG_LOCK_WAIT_S, 900 s) and hands it to a keeper process that lives as long as
# the process that called it (or RIG_HOLDER_PID, for a caller behind a wrapper that exits); stop ends
# the keeper. The kernel drops the lock with the keeper: a caller that died leaves no stale lock.
lockfile=${RIG_LOCK:-/tmp/jaudiosync-audio-rig.lock}
acquire() {
  local keeper holder=${RIG_HOLDER_PID:-$PPID}
  if [ -f "$dir/lock.pid" ] && kill -0 "$(cat "$dir/lock.pid")" 2>/dev/null; then return 0; fi
  exec 9>>"$lockfile"
  if ! flock -w "${RIG_LOCK_WAIT_S:-900}" 9; then
    echo "audio-rig: another rig has held the audio rig for ${RIG_LOCK_WAIT_S:-900} s (a test or a bench: see pgrep -af 'jackd|audio-rig'); stop it and try again" >&2
    exit 1
  fi
  # The keeper inherits fd 9 (and with it the lock); closed here before jackd or PulseAudio is started.
  (while kill -0 "$holder" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done) >/dev/null 2>&1 &
  keeper=$!
  exec 9>&-
  echo "$keeper" >"$dir/lock.pid"
  # A start that fails after this gives the lock back at once (the caller may try again at once).
  trap 'rc=$?; [ "$rc" -eq 0 ] || release; exit "$rc"' EXIT
}
release() {
  [ -f "$dir/lock.pid" ] || return 0
  kill "$(cat "$dir/lock.pid")" 2>/dev/null || true
  rm -f "$dir/lock.pid"
}

write_asoundrc() {
  # The recorder (bench/test) registers rec:in_1/rec:in_2 before a player opens; without it the
  # default PCM goes to system:playback (the dummy driver), which always exists.
  local target1=${RIG_PORT1:-system:playback_1} target2=${RIG_PORT2:-system:playback_2}
  cat > "$dir/home/.asoundrc" <<ASOUND
pcm.!default {
  type plug
  slave.pcm "jackout"
}
pcm.jackout {
  type jack
  playback_ports { 0 $target1  1 $target2 }
}
ctl.!default {
  type pulse
  server "unix:$sock"
}
ASOUND
}

case "$cmd" in
  start)
    acquire
    write_asoundrc
    if ! jack_lsp >/dev/null 2>&1; then
      # Realtime scheduling where allowed (root, or an rtprio limit): without it a busy machine makes
      # JACK clients miss cycles, and the recording loses whole periods that the player did send.
      if chrt -f 10 true 2>/dev/null; then rt=(-R -P 70)
      elif [ "${RIG_REQUIRE_RT:-0}" = 1 ]; then echo "audio-rig: realtime scheduling is not allowed here (jackd -R): run as root or give this user an rtprio limit" >&2; exit 1
      else rt=(--no-realtime); fi
      # HOME is the rig's so that jackd and PulseAudio keep their state out of the user's.
      HOME="$dir/home" nohup jackd "${rt[@]}" -d dummy -r 48000 -p "${RIG_PERIOD:-256}" >"$dir/jackd.log" 2>&1 &
      echo $! > "$dir/jackd.pid"
      for _ in $(seq 100); do jack_lsp >/dev/null 2>&1 && break; sleep 0.1; done
      jack_lsp >/dev/null 2>&1 || { echo "audio-rig: jackd did not start, see $dir/jackd.log" >&2; exit 1; }
    elif [ -n "${RIG_PERIOD:-}" ] && [ "$(jack_bufsize 2>/dev/null | grep -o '^[0-9]*')" != "$RIG_PERIOD" ]; then
      jack_bufsize "$RIG_PERIOD" >/dev/null
    fi
    if [ ! -S "$sock" ] || ! pactl -s "unix:$sock" info >/dev/null 2>&1; then
      rm -f "$sock"
      # Its runtime folder inside the rig's too (without one it makes a /tmp/pulse-* per start, never removed).
      mkdir -p -m 700 "$dir/run"
      HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run" nohup pulseaudio -n --daemonize=no --exit-idle-time=-1 --system=false \
        -L module-null-sink -L "module-native-protocol-unix socket=$sock auth-anonymous=1" \
        >"$dir/pulse.log" 2>&1 &
      echo $! > "$dir/pulse.pid"
      # Ready when it answers, not when its socket exists: a player that opens ALSA in between finds
      # no default ctl, so no "Default ALSA Device", and falls back to a WAV file.
      for _ in $(seq 200); do pactl -s "unix:$sock" info >/dev/null 2>&1 && break; sleep 0.1; done
      pactl -s "unix:$sock" info >/dev/null 2>&1 || { echo "audio-rig: pulseaudio did not answer in 20 s, see $dir/pulse.log" >&2; exit 1; }
    fi
    ;;
  stop)
    for p in pulse jackd; do
      [ -f "$dir/$p.pid" ] || continue
      pid=$(cat "$dir/$p.pid")
      kill "$pid" 2>/dev/null || true
      # Wait for it to go (a zombie counts as gone), then insist.
      for _ in $(seq 20); do
        state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
        case "$state" in ""|Z*) break ;; esac
        sleep 0.1
      done
      case "$(ps -o stat= -p "$pid" 2>/dev/null || true)" in ""|Z*) ;; *) kill -9 "$pid" 2>/dev/null || true ;; esac
      rm -f "$dir/$p.pid"
    done
    release
    ;;
  env)
    echo "HOME=$dir/home"
    ;;
  *) echo "usage: audio-rig.sh start|stop|env DIR" >&2; exit 2 ;;
esac
