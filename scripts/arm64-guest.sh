#!/bin/sh
# PID 1 of the arm64 check's guest (scripts/arm64-check.sh puts it at /jas/guest.sh). The stage comes
# on the kernel command line (jas_stage=base|check|offline). Input: a tar on /dev/vdc; output: a tar
# of /out written to the raw disk /dev/vdb; every step's wall time and result on the console and in
# /out/steps.txt as "STEP name rc=N SECONDS s". Powers the guest off at the end, whatever happened.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
export DEBIAN_FRONTEND=noninteractive CI=true NO_COLOR=1
export INITRD=No # the kernel package's hook builds no initramfs: the guest boots on the check's own
[ -e /proc/cmdline ] || mount -t proc proc /proc; [ -e /sys/class ] || mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts 2>/dev/null; mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mount -t tmpfs tmpfs /run 2>/dev/null; mount -t tmpfs tmpfs /tmp 2>/dev/null
mount -o remount,rw / 2>/dev/null
stage=$(sed -n 's/.*jas_stage=\([a-z]*\).*/\1/p' /proc/cmdline)
# jas_resume=1 (arm64-check.sh --resume): the disk of an interrupted check, booted again; a step with a
# STEP line already is not run again (delete the line to redo it).
resume=$(sed -n 's/.*jas_resume=\([01]\).*/\1/p' /proc/cmdline)
mkdir -p /out
if [ "$resume" = 1 ] && [ -f /out/steps.txt ]; then echo "RESUMED $(date -u +%FT%TZ)" >> /out/steps.txt; else : > /out/steps.txt; fi
say() { echo "[guest $(date +%H:%M:%S)] $*" > /dev/console; }

# True once process $1 has ended, or false after $2 seconds.
wait_for() {
  i=0
  while kill -0 "$1" 2>/dev/null; do
    [ "$i" -ge "$2" ] && return 1
    sleep 5; i=$((i + 5))
  done
  return 0
}

# Runs a step, records "STEP name rc=N Ts", and shows the end of its output on the console.
step() {
  name=$1; shift
  if grep -q "^STEP $name rc=0 " /out/steps.txt; then say "step $name: passed before the resume, not run again"; return 0; fi
  say "step $name: $*"
  t0=$(date +%s.%N)
  "$@" > "/out/$name.log" 2>&1 &
  pid=$!
  # A step can take an hour emulated: every 5 minutes, its last line on the console shows it is alive.
  while ! wait_for "$pid" 300; do say "step $name running: $(tail -n 1 "/out/$name.log" | cut -c1-150)"; done
  wait "$pid"
  rc=$?
  t1=$(date +%s.%N)
  line="STEP $name rc=$rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
  echo "$line" >> /out/steps.txt
  tail -n 15 "/out/$name.log" > /dev/console
  echo "$line" > /dev/console
  return $rc
}

finish() {
  sync
  (cd /out && tar -cf /dev/vdb .) 2>/dev/null
  sync
  say "done: powering off"
  echo o > /proc/sysrq-trigger
  sleep 5; poweroff -f
}

network() {
  ip link set lo up
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
  echo "nameserver 10.0.2.3" > /etc/resolv.conf
}

case "$stage" in
base)
  say "debootstrap --second-stage"
  step second-stage /debootstrap/debootstrap --second-stage
  [ -e /proc/cmdline ] || mount -t proc proc /proc
  network
  step apt-update apt-get update -q && echo "JAS-BASE-OK" > /dev/console
  apt-get clean
  ;;
check)
  network
  mkdir -p /root/jaudiosync && tar -xf /dev/vdc -C /root/jaudiosync
  cd /root/jaudiosync || finish
  echo "TREE $(cat .jas-tree 2>/dev/null)" >> /out/steps.txt # the steps after it ran on this tree
  if [ -d .jas-ca ]; then # the host's extra CAs (see project_disk in arm64-check.sh)
    cp .jas-ca/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates > /dev/null
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
  echo "uname: $(uname -srm); cpus: $(nproc); $(grep MemTotal /proc/meminfo)" >> /out/guest.txt
  step setup bash scripts/setup.sh
  # A resumed check runs on the current tree: setup again rebuilds what it changed (and installs
  # what its lock file changed) before any later step runs.
  resumes=$(grep -c '^RESUMED' /out/steps.txt)
  [ "$resumes" -gt 0 ] && step "setup-again-$resumes" bash scripts/setup.sh
  node --version >> /out/guest.txt 2>&1
  step help node bin/jaudiosync.js --help
  step doctor node bin/jaudiosync.js doctor
  step playlist node bin/jaudiosync.js playlist Music/Playlist.m3u8
  step decode-bench node --import tsx bench/decode.ts
  # The CPU it used, ffmpeg included (the shell's waited-for children), beside its wall time.
  step run-wav sh -c 'node bin/jaudiosync.js run --output wav --wav /tmp/run.wav; r=$?; awk "{ printf \"cpu: %.1f s (user+system, with ffmpeg)\\n\", (\$16 + \$17) / 100 }" /proc/$$/stat; exit $r'
  ls -l /tmp/run.wav >> /out/run-wav.log 2>&1
  step bundle bash scripts/bundle.sh --debs --out /out
  # Each test's child processes (the CLI run from source) take ~40 s here, not ~2 s: its guards against
  # a hang are scaled (test/helpers/cli.ts) so that slowness is not read as a hang.
  export JAS_TEST_TIMEOUT_SCALE=10
  step unit-tests npx ava --timeout=20m --concurrency 1 test/config.test.ts test/config-check.test.ts test/platform.test.ts \
    test/m3u.test.ts test/schedule.test.ts test/pps.test.ts test/ds3231.test.ts test/decoder.test.ts \
    test/tracks.test.ts test/log.test.ts test/drift-log.test.ts test/led.test.ts test/bundle.test.ts
  echo "CHECK-COMPLETE" >> /out/steps.txt
  ;;
offline)
  say "network: none ($(ls /sys/class/net | tr '\n' ' '))"
  mkdir -p /root/dl && tar -xf /dev/vdc -C /root/dl && cd /root || finish
  b=$(ls /root/dl/jaudiosync-*.tar.gz | head -n 1)
  step untar tar -xzf "$b" -C /root
  step install /root/jaudiosync/jaudiosync install
  step doctor /opt/jaudiosync/jaudiosync doctor
  step demo /opt/jaudiosync/jaudiosync run --output wav --wav /tmp/demo.wav
  ls -l /tmp/demo.wav >> /out/demo.log 2>&1
  ;;
*) say "no jas_stage on the command line" ;;
esac
finish
