# Waiting for another package manager, sourced by setup.sh (and by its test).
# A fresh Pi runs apt-daily / unattended-upgrades minutes after its first boot, just when a rider
# runs start.sh: apt-get then fails at once on dpkg's lock, and the half-installed state it leaves
# looks like an interrupted install. So wait for the holder, saying who it is, and only then look.
# Needs: say (a line on the terminal), as_root.

# dpkg's frontend lock; a test points it at a file of its own.
DPKG_LOCK_FILE="${JAUDIOSYNC_DPKG_LOCK_FILE:-/var/lib/dpkg/lock-frontend}"
# A first boot's upgrade takes minutes on a Pi; beyond this something is stuck, not busy.
DPKG_LOCK_WAIT_S="${JAUDIOSYNC_DPKG_LOCK_WAIT_S:-900}"

# The pid holding an fcntl lock on DPKG_LOCK_FILE (from /proc/locks), or nothing.
dpkg_lock_holder() {
  local id
  # /proc/locks names a file as <major>:<minor>:<inode>, the device numbers in hex.
  id=$(stat -c '%Hd %Ld %i' "$DPKG_LOCK_FILE" 2>/dev/null) || return 1
  # shellcheck disable=SC2086 # the three numbers, split on purpose
  id=$(printf '%02x:%02x:%s' $id)
  # "1: POSIX ADVISORY WRITE <pid> <file> <start> <end>"; a waiter's line has "->" second.
  awk -v id="$id" '$2 != "->" && $6 == id { print $5; exit }' /proc/locks | grep .
}

# Returns once nobody holds the lock; exits 1 (saying what to do) after DPKG_LOCK_WAIT_S.
wait_dpkg_lock() {
  local pid waited=0 who
  while pid=$(dpkg_lock_holder); do
    if [ "$waited" = 0 ]; then
      who=$(ps -o args= -p "$pid" 2>/dev/null | cut -c1-80)
      say "another package manager holds dpkg's lock (pid $pid${who:+: $who}): waiting for it to finish (up to ${DPKG_LOCK_WAIT_S} s)"
    fi
    if [ "$waited" -ge "$DPKG_LOCK_WAIT_S" ]; then
      say "pid $pid still holds dpkg's lock after ${DPKG_LOCK_WAIT_S} s: let it finish (or stop it), then run this again"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  [ "$waited" = 0 ] || say "the other package manager finished after ${waited} s"
}

# apt-get once the lock is free; apt's own timeout covers one that starts in between.
apt_get() {
  wait_dpkg_lock
  as_root apt-get -o DPkg::Lock::Timeout="$DPKG_LOCK_WAIT_S" "$@"
}
