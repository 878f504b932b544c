#!/usr/bin/env bash
# Installs the system parts the test suite needs on a Debian machine, as root:
# MariaDB server binaries, PostgreSQL (a stock µURU's default application database, for the
# adopt tests), Chromium for the panel tests, promtool (from Debian's prometheus
# package, for the shipped alert rules' unit tests), debootstrap, and a cached Debian sid
# chroot with Asterisk 22. Idempotent: a warm machine returns in seconds.
# Runs at the same time (two test runs, a demo beside a test) wait for each other on a
# lock in the cache folder; the later one then finds the finished chroot.
set -euo pipefail

CACHE_DIR="${UURU_TEST_CACHE_DIR:-$HOME/.cache/uuru-federation}"
CHROOT="${UURU_TEST_ASTERISK_CHROOT:-$CACHE_DIR/asterisk-sid}"

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ "$(id -u)" != 0 ]; then
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup-system: not root; missing: ${need[*]} (install them, or point UURU_TEST_* variables at your own servers)" >&2
  fi
  exit 0
fi

# One run at a time per cache folder: without it a second run removed the first one's
# half-built chroot ($CHROOT.partial) and built its own over it. The lock is an open file
# descriptor, so it is released however this script ends.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/setup-system.lock"
if ! flock -n 9; then
  echo "setup-system: another run holds $CACHE_DIR/setup-system.lock; waiting for it"
  flock 9
fi

if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The mirror is read from this machine's own apt sources, never written into the repo.
mirror() {
  local m=""
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    m=$(awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | head -n1)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1=="deb"{print $2}' /etc/apt/sources.list | grep -v -- '-security' | head -n1)
  fi
  echo "$m"
}

if [ ! -x "$CHROOT/usr/sbin/asterisk" ]; then
  # A chroot folder without its Asterisk is a leftover (e.g. of two runs racing before the
  # lock): mv would put the new build inside it. Not removed here, since the path is the
  # user's to choose.
  if [ -e "$CHROOT" ]; then
    echo "setup-system: $CHROOT exists but has no usr/sbin/asterisk; remove it and run again" >&2
    exit 1
  fi
  tmp="$CHROOT.partial"
  rm -rf "$tmp"
  m=$(mirror)
  [ -n "$m" ] || { echo "setup-system: no Debian mirror found in apt sources" >&2; exit 1; }
  echo "setup-system: building Asterisk chroot in $CHROOT (about a minute)"
  debootstrap --variant=minbase --include=asterisk,asterisk-modules,asterisk-mysql sid "$tmp" "$m" >"$CACHE_DIR/debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  mv "$tmp" "$CHROOT"
fi
echo "setup-system: ok (chroot $CHROOT)"
