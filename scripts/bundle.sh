#!/usr/bin/env bash
# The offline install bundle: run it where the project is set up and built (a Pi, or the arm64 check's
# guest), and it writes jaudiosync-VERSION-ARCH.tar.gz: the built project, its production
# node_modules (native addons compiled for this machine's architecture), the Node runtime when it is
# a self-contained build, and with --debs the Debian packages (ffmpeg, and Debian's nodejs when that
# is the Node here) that a fresh Raspberry Pi OS / Debian of the same release lacks.
# On a Pi with no internet:
#   tar -xzf jaudiosync-*.tar.gz && sudo ./jaudiosync/jaudiosync install
# (`install` puts in the packages from debs/, then the project in /opt/jaudiosync and the unit.)
#
#   scripts/bundle.sh [--debs] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
OUT="$SRC"
DEBS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --debs) DEBS=1; shift ;;
    --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bundle.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { printf 'bundle: %s\n' "$*"; }
[ -f dist/src/cli/main.js ] && [ -d node_modules/audify ] || { echo "bundle.sh: not set up here: run scripts/setup.sh first" >&2; exit 1; }

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
version=$(node -p 'require("./package.json").version')
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dest="$stage/jaudiosync"
mkdir -p "$dest"

# 1. The project: what git knows (or package.json's "files" without git), plus the build.
if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -co --exclude-standard | grep -Ev '^(node_modules|test|bench|src|drivers)/|^calibrate/.*\.ts$' | tar -cf - -T - | tar -xf - -C "$dest"
else
  tar -cf - bin Music systemd examples scripts README.md package.json package-lock.json | tar -xf - -C "$dest"
fi
cp -a dist "$dest/dist"
rm -rf "$dest/dist/test" "$dest/dist/bench"

# 2. Production node_modules only (npm ls lists them; dev tools like typescript and ava stay behind).
mkdir -p "$dest/node_modules"
{ npm ls --omit=dev --all --parseable 2>/dev/null || true; } | sed "s#^$SRC/##" | grep -E '^node_modules/(@[^/]+/)?[^/@][^/]*$' | sort -u |
  while read -r p; do mkdir -p "$dest/$(dirname "$p")"; cp -a "$p" "$dest/$p"; done
# Build leftovers of the native addons: only the .node files are needed.
find "$dest/node_modules" -type d \( -name obj.target -o -name .deps -o -name CMakeFiles \) -prune -exec rm -rf {} +
touch "$dest/node_modules/.jaudiosync-installed"

# 3. Node itself when it is a self-contained build (NodeSource's or the npm registry's; Debian's
#    links libnode.so and comes as a package in debs/ instead).
node_bin=$(node -p process.execPath)
if ! ldd "$node_bin" 2>/dev/null | grep -q libnode; then
  mkdir -p "$dest/node/bin"; cp "$node_bin" "$dest/node/bin/node"
  say "included Node $(node --version) ($node_bin)"
fi

# 4. Debian packages a fresh system of this release lacks (with --debs): the runtime packages and
#    their dependencies, less what every Debian has (priority required).
if [ "$DEBS" = 1 ]; then
  want=(ffmpeg socat) # socat: the simulated GPS of the demo (a pty pair)
  ldd "$node_bin" 2>/dev/null | grep -q libnode && want+=(nodejs)
  mkdir -p "$dest/debs/partial"
  # apt resolves the closure as for a system with nothing installed (an empty dpkg status): one
  # consistent set, alternatives chosen as apt would; then what every Debian has (priority
  # required) is dropped. The installer skips the rest where they are installed already.
  status=$(mktemp); trap 'rm -rf "$stage" "$status"' EXIT
  if ! apt-get install -y -q --download-only --no-install-recommends -o Dir::State::status="$status" \
      -o Dir::Cache::archives="$dest/debs" "${want[@]}" > "$stage/apt.log" 2>&1; then
    cat "$stage/apt.log" >&2; echo "bundle.sh: could not download ${want[*]} and their dependencies (root needed; network?)" >&2; exit 1
  fi
  rm -rf "$dest/debs/partial" "$dest/debs/lock"
  for f in "$dest"/debs/*.deb; do
    if [ "$(dpkg-deb -f "$f" Priority)" = required ]; then rm "$f"; fi # in every Debian (debootstrap's minbase is these)
  done
  say "$(ls "$dest"/debs/*.deb | wc -l) Debian packages (${want[*]} and their dependencies) in debs/"
fi

cat > "$dest/jaudiosync" <<'SH'
#!/bin/sh
# jaudiosync from an offline bundle (or its installed copy in /opt/jaudiosync): the Node on PATH when
# it is 20 or newer, else the one in node/. `install` and `uninstall` need no Node: they run the
# installer, which first puts in the Debian packages from debs/.
here=$(cd "$(dirname "$0")" && pwd)
case "$1" in
  install) shift; exec bash "$here/systemd/install.sh" "$@" ;;
  uninstall) shift; exec bash "$here/systemd/install.sh" --uninstall "$@" ;;
esac
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then node=node
elif [ -x "$here/node/bin/node" ]; then node="$here/node/bin/node"
else echo "jaudiosync: needs Node.js 20 or newer (none on PATH, none in $here/node): run $here/jaudiosync install" >&2; exit 1; fi
exec "$node" "$here/bin/jaudiosync.js" "$@"
SH
chmod +x "$dest/jaudiosync"
{ echo "jaudiosync $version for $arch, bundled $(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "node: $(node --version)$([ -x "$dest/node/bin/node" ] && echo ' (in node/)' || echo ' (Debian package in debs/)')"
  [ -d "$dest/debs" ] && echo "debs: $(ls "$dest/debs" | wc -l) packages"; } > "$dest/BUNDLE.txt"

mkdir -p "$OUT"
file="$OUT/jaudiosync-$version-$arch.tar.gz"
tar -C "$stage" -czf "$file" jaudiosync
say "wrote $file ($(du -h "$file" | cut -f1)): on the Pi: tar -xzf $(basename "$file") && sudo ./jaudiosync/jaudiosync install"
