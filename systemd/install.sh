#!/usr/bin/env bash
# Installs (or uninstalls) jaudiosync as a boot service. Idempotent: running it again changes
# nothing that is already right, and never overwrites a config or state it finds.
#
#   sudo systemd/install.sh                       install, enable and start at boot
#   sudo systemd/install.sh --edit-boot-config    also add the missing lines to config.txt (backed up first)
#   sudo systemd/install.sh --uninstall [--purge] remove the service (--purge: also config, state, user)
#   systemd/install.sh --root DIR ...             everything under DIR instead of / (no systemctl): tests, images
#
# What it does: the jaudiosync system user (in the audio, dialout, i2c and gpio groups, created
# when missing), the project in /opt/jaudiosync, /etc/jaudiosync/config.toml from the example if
# none exists, the bundled Music in /var/lib/jaudiosync/Music if none exists, the unit in
# /etc/systemd/system, enabled; then it checks /boot/firmware/config.txt for I2C, the UART and
# pps-gpio and prints the exact lines to add.
set -euo pipefail

ROOT=""
EDIT_BOOT=0
UNINSTALL=0
PURGE=0
ENABLE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --edit-boot-config) EDIT_BOOT=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    --no-enable) ENABLE=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
USER_NAME=jaudiosync
PREFIX="$ROOT/opt/jaudiosync"
ETC="$ROOT/etc/jaudiosync"
STATE="$ROOT/var/lib/jaudiosync"
UNIT="$ROOT/etc/systemd/system/jaudiosync.service"
GROUPS_WANTED=(audio dialout i2c gpio)
say() { echo "jaudiosync install: $*"; }

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run it as root (sudo $0 $*), or with --root DIR to install into a folder" >&2
  exit 1
fi
# systemctl only on the live system with systemd running.
live_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }
# useradd/groupadd on the live system, or on DIR/etc/{passwd,group} with --prefix.
prefix_args() { if [ -n "$ROOT" ]; then echo "--prefix $ROOT"; fi; }
has_group() { grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; }
has_user() { grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null; }

if [ "$UNINSTALL" = 1 ]; then
  if live_systemd; then systemctl disable --now jaudiosync.service 2>/dev/null || true; fi
  rm -f "$UNIT"
  if live_systemd; then systemctl daemon-reload; fi
  rm -rf "$PREFIX"
  say "removed the unit and $PREFIX"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ETC" "$STATE"
    # shellcheck disable=SC2046
    if has_user "$USER_NAME"; then userdel $(prefix_args) "$USER_NAME" 2>/dev/null || true; fi
    # shellcheck disable=SC2046
    if has_group "$USER_NAME"; then groupdel $(prefix_args) "$USER_NAME" 2>/dev/null || true; fi
    say "purged $ETC, $STATE and the $USER_NAME user"
  else
    say "kept $ETC and $STATE (--purge removes them and the user)"
  fi
  exit 0
fi

# 1. The user and its groups. Groups a plain Debian lacks (i2c, gpio) are created so that the
#    unit's SupplementaryGroups= resolves; on a Pi they exist and own the devices.
for g in "${GROUPS_WANTED[@]}"; do
  # shellcheck disable=SC2046
  if ! has_group "$g"; then groupadd --system $(prefix_args) "$g"; say "created group $g"; fi
done
if ! has_user "$USER_NAME"; then
  # shellcheck disable=SC2046
  useradd --system $(prefix_args) --user-group --home-dir /var/lib/jaudiosync --no-create-home --shell /usr/sbin/nologin \
    --groups "$(IFS=,; echo "${GROUPS_WANTED[*]}")" "$USER_NAME"
  say "created user $USER_NAME"
else
  # shellcheck disable=SC2046
  usermod $(prefix_args) --append --groups "$(IFS=,; echo "${GROUPS_WANTED[*]}")" "$USER_NAME"
fi

# 2. The project (built, with its node_modules) in /opt/jaudiosync.
if [ ! -f "$SRC/dist/src/cli/main.js" ]; then
  echo "install.sh: $SRC is not built: run ./scripts/setup.sh first" >&2
  exit 1
fi
# An offline bundle (scripts/bundle.sh --debs) carries the Debian packages this system lacks
# (ffmpeg, perhaps nodejs): install the ones not installed yet, from the bundle, with no network.
if compgen -G "$SRC/debs/*.deb" >/dev/null; then
  debs=()
  for f in "$SRC"/debs/*.deb; do
    p=$(dpkg-deb -f "$f" Package)
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || debs+=("$f")
  done
  if [ ${#debs[@]} -eq 0 ]; then say "the bundle's Debian packages are installed already"
  elif [ -n "$ROOT" ]; then say "would install ${#debs[@]} Debian packages from $SRC/debs (not with --root)"
  else
    # shellcheck source=../scripts/lib/dpkg-lock.sh
    . "$SRC/scripts/lib/dpkg-lock.sh"
    wait_dpkg_lock # a first boot's unattended-upgrades holds dpkg for minutes
    say "installing ${#debs[@]} Debian packages from $SRC/debs (no network needed)"
    DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}" >/dev/null || { echo "install.sh: dpkg could not install the bundle's packages (a different Debian release than the bundle's?)" >&2; exit 1; }
  fi
fi
mkdir -p "$PREFIX"
if [ "$SRC" != "$(cd "$PREFIX" && pwd)" ]; then
  tar -C "$SRC" --exclude=./.git --exclude=./bench/build --exclude=./debs --exclude='./*.wav' -cf - . | tar -C "$PREFIX" -xf -
  say "copied the project to $PREFIX"
fi

# 3. Config and music: created once, never overwritten.
mkdir -p "$ETC" "$STATE"
if [ -f "$ROOT/boot/firmware/jaudiosync.toml" ]; then
  say "$ROOT/boot/firmware/jaudiosync.toml (the boot partition) takes precedence over $ETC/config.toml"
fi
if [ ! -f "$ETC/config.toml" ]; then
  install -m 0640 "$SRC/examples/config.toml" "$ETC/config.toml"
  say "wrote $ETC/config.toml from the example: edit schedule.start and playlist.path"
else
  say "kept the existing $ETC/config.toml"
fi
if [ ! -d "$STATE/Music" ]; then
  cp -r "$SRC/Music" "$STATE/Music"
  say "copied the bundled Music to $STATE/Music"
fi
if [ -z "$ROOT" ]; then
  chown -R root:"$USER_NAME" "$ETC"
  chown -R "$USER_NAME:$USER_NAME" "$STATE"
fi

# 4. The unit, pointing at the node that runs here: Node 20+ on PATH, else the bundle's own.
NODE="$(command -v node || true)"
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
  if [ -x "$PREFIX/node/bin/node" ]; then NODE=/opt/jaudiosync/node/bin/node; say "using the bundle's Node ($NODE)"
  else say "WARNING: no Node.js 20 or newer here: install it (scripts/setup.sh does) before starting the service"; NODE=${NODE:-/usr/bin/node}; fi
fi
mkdir -p "$(dirname "$UNIT")"
sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE #" "$SRC/systemd/jaudiosync.service" > "$UNIT.tmp"
if [ -f "$UNIT" ] && cmp -s "$UNIT" "$UNIT.tmp"; then rm "$UNIT.tmp"; say "unit unchanged"; else mv "$UNIT.tmp" "$UNIT"; say "installed $UNIT"; fi
if live_systemd; then
  systemctl daemon-reload
  if [ "$ENABLE" = 1 ]; then systemctl enable jaudiosync.service >/dev/null; say "enabled: it starts at boot (now: sudo systemctl start jaudiosync)"; fi
fi

# 5. The Pi's boot config: I2C for the DS3231, the UART for the GPS, kernel PPS for its pulse and
#    for the DS3231's SQW. The kernel's own DS3231 driver must not claim 0x68.
BOOT="$ROOT/boot/firmware/config.txt"
[ -f "$BOOT" ] || BOOT="$ROOT/boot/config.txt"
WANT=("dtparam=i2c_arm=on" "enable_uart=1" "dtoverlay=pps-gpio,gpiopin=18" "dtoverlay=pps-gpio,gpiopin=17")
if [ -f "$BOOT" ]; then
  missing=()
  for l in "${WANT[@]}"; do grep -qxF "$l" "$BOOT" || missing+=("$l"); done
  if grep -Eq '^dtoverlay=i2c-rtc' "$BOOT"; then
    say "WARNING: $BOOT loads the kernel RTC driver (dtoverlay=i2c-rtc...), which takes the DS3231 at 0x68 from jaudiosync: remove that line"
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    say "$BOOT has I2C, the UART and PPS"
  elif [ "$EDIT_BOOT" = 1 ]; then
    cp -p "$BOOT" "$BOOT.jaudiosync-backup-$(date +%Y%m%d%H%M%S)"
    { echo ""; echo "# jaudiosync: I2C (DS3231), UART (GPS), kernel PPS (GPS PPS on GPIO18, DS3231 SQW on GPIO17)"; printf '%s\n' "${missing[@]}"; } >> "$BOOT"
    say "added to $BOOT (backup beside it): ${missing[*]}; reboot to apply"
  else
    say "add these lines to $BOOT and reboot (or rerun with --edit-boot-config):"
    printf '    %s\n' "${missing[@]}"
  fi
else
  say "no /boot/firmware/config.txt: not a Raspberry Pi? (I2C, UART and pps-gpio are set there on a Pi)"
fi
say "done. Status: jaudiosync status (as a member of the $USER_NAME group); logs: journalctl -u jaudiosync"
