# Waiting for another package manager, sourced by setup.sh and install.sh (and by their test).
# A fresh Pi runs apt-daily (apt-get update) and unattended-upgrades minutes after its first boot,
# just when a rider runs start.sh: apt-get then fails at once on a lock, and the half-installed
# state left by the other looks like an interrupted install. So wait for the holder, saying who it
# is, and only then look. Needs: say (a line on the terminal), as_root.

# dpkg's frontend lock and apt's package-list lock (apt-get update holds only that one, and
# DPkg::Lock::Timeout does not cover it); a test points this at files of its own.
DPKG_LOCK_FILES="${JAUDIOSYNC_DPKG_LOCK_FILES:-/var/lib/dpkg/lock-frontend /var/lib/apt/lists/lock}"
# A first boot's upgrade takes minutes on a Pi; beyond this something is stuck, not busy.
DPKG_LOCK_WAIT_S="${JAUDIOSYNC_DPKG_LOCK_WAIT_S:-900}"

# The pid holding an fcntl lock on one of DPKG_LOCK_FILES (from /proc/locks), or nothing (status 1).
dpkg_lock_holder() {
  local f id ids=""
  for f in $DPKG_LOCK_FILES; do
    # /proc/locks names a file as <major>:<minor>:<inode>, the device numbers in hex.
    id=$(stat -c '%Hd %Ld %i' "$f" 2>/dev/null) || continue
    # shellcheck disable=SC2086 # the three numbers, split on purpose
    ids="$ids $(printf '%02x:%02x:%s' $id)"
  done
  [ -n "$ids" ] || return 1
  # "1: POSIX ADVISORY WRITE <pid> <file> <start> <end>"; a waiter's line has "->" second.
  awk -v ids="$ids " '$2 != "->" && index(ids, " " $6 " ") { print $5; exit }' /proc/locks 2>/dev/null | grep .
}

# Returns once nobody holds the locks; exits 1 (saying what to do) after DPKG_LOCK_WAIT_S. Says
# it on stderr: the apt-get lines it guards send their own output to /dev/null.
wait_dpkg_lock() {
  local pid waited=0 who
  while pid=$(dpkg_lock_holder); do
    if [ "$waited" = 0 ]; then
      # The holder may be gone by now: that is no error, only a shorter wait.
      who=$(ps -o args= -p "$pid" 2>/dev/null | cut -c1-80) || who=""
      say "another package manager holds apt's or dpkg's lock (pid $pid${who:+: $who}): waiting for it to finish (up to ${DPKG_LOCK_WAIT_S} s)" >&2
    fi
    if [ "$waited" -ge "$DPKG_LOCK_WAIT_S" ]; then
      say "pid $pid still holds the lock after ${DPKG_LOCK_WAIT_S} s: let it finish (or stop it), then run this again" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  [ "$waited" = 0 ] || say "the other package manager finished after ${waited} s" >&2
  return 0
}

# apt-get once the locks are free; apt's own timeout covers a dpkg run that starts in between.
apt_get() {
  wait_dpkg_lock
  as_root apt-get -o DPkg::Lock::Timeout="$DPKG_LOCK_WAIT_S" "$@"
}
