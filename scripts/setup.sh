#!/usr/bin/env bash
# Installs what jaudiosync needs on Debian 12 / Raspberry Pi OS: apt packages (when root, or through
# sudo), npm packages, and the compiled build. Idempotent: a second run changes nothing.
#   scripts/setup.sh          for running the service
#   scripts/setup.sh --test   also what the tests need (JACK, the ALSA jack plugin, PulseAudio; stress-ng for the start-error bench's loaded runs)
set -euo pipefail
cd "$(dirname "$0")/.."

runtime_pkgs=(ffmpeg socat cmake gcc g++ make python3 libasound2-dev)
test_pkgs=(jackd2 libjack-jackd2-dev libasound2-plugins pulseaudio pulseaudio-utils alsa-utils systemd libfaketime chromium mosquitto mosquitto-clients stress-ng)
pkgs=("${runtime_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")

say() { printf 'setup: %s\n' "$*"; }

# Node.js 20 or newer. Raspberry Pi OS Trixie ships 20+; Bookworm ships 18.
if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  found=$(node --version 2>/dev/null || echo none)
  cat >&2 <<MSG
setup: jaudiosync needs Node.js 20 or newer (found: $found).
  On Raspberry Pi OS / Debian Bookworm (which ships Node 18), install Node 20 from NodeSource:
    curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash -
    sudo apt-get install -y nodejs
  then run this again.
MSG
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    say "missing Debian packages: ${missing[*]}"
    say "install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >/dev/null || say "apt-get update failed; trying with the package lists there are"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: only when package-lock.json changed since the last install.
stamp=node_modules/.jaudiosync-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  say "installing npm packages (audify, i2c-bus and serialport build native code: a few minutes on a Pi)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
# The build (npm ci runs it too); rebuild when a source is newer than the output.
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src drivers calibrate tsconfig.json -newer dist/src/cli/main.js -name '*.ts' -o -newer dist/src/cli/main.js -name tsconfig.json 2>/dev/null | head -n 1)" ]; then
  say "building"
  npm run --silent build
fi
