#!/usr/bin/env bash
# Installs the system parts the test suite needs on a Debian machine, as root:
# MariaDB server binaries (and galera-4 with rsync for a 3-node cluster), redis-server (the Valkey
# protocol, for the optional shared rate limits and sessions), PostgreSQL (a stock µURU's default application database, for the
# adopt tests), Chromium for the panel tests, promtool (from Debian's prometheus
# package, for the shipped alert rules' unit tests), debootstrap, a cached Debian sid
# chroot with Asterisk 22, and for the container image test Podman (with runc) and a
# cached Node.js base image made from Debian trixie and this machine's own Node.js (no
# container registry needed). Idempotent: a warm machine returns in seconds.
# Runs at the same time (two test runs, a demo beside a test) wait for each other on a
# lock in the cache folder; the later one then finds the finished chroot.
set -euo pipefail

CACHE_DIR="${UURU_TEST_CACHE_DIR:-$HOME/.cache/uuru-federation}"
CHROOT="${UURU_TEST_ASTERISK_CHROOT:-$CACHE_DIR/asterisk-sid}"
# The root file system of the stand-in for the image's public Node.js base
# (test/integration/container-image.test.ts imports it into Podman); "none": not built.
NODE_BASE="${UURU_TEST_NODE_BASE:-$CACHE_DIR/node-base-trixie}"

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
# The Galera provider and the state transfer tool of test/harness/galera.ts (replicas, issue 16).
[ -e /usr/lib/galera/libgalera_smm.so ] || need+=(galera-4)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
# The optional Valkey/Redis of replicas (test/harness/valkey.ts starts its own; the package's service is not used).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v podman >/dev/null 2>&1 || need+=(podman)
# crun 1.8 (bookworm) refuses a hybrid cgroup v1/v2 hierarchy; runc runs there.
command -v runc >/dev/null 2>&1 || need+=(runc)

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

# The Node.js base for building the image without a registry: Debian trixie (the
# public base's Debian) from the apt mirror, plus this machine's node, npm and node
# headers (better-sqlite3 compiles against them; nothing downloads them), the user
# "node" (uid 1000) the public image has, and this machine's CA bundle (a TLS-inspecting
# proxy between the machine and the npm registry is trusted inside the build as well).
if [ "$NODE_BASE" != none ] && [ ! -x "$NODE_BASE/usr/local/bin/node" ] && command -v node >/dev/null 2>&1; then
  if [ -e "$NODE_BASE" ]; then
    echo "setup-system: $NODE_BASE exists but has no usr/local/bin/node; remove it and run again" >&2
    exit 1
  fi
  node_bin=$(readlink -f "$(command -v node)")
  node_prefix=$(dirname "$(dirname "$node_bin")")
  if [ ! -d "$node_prefix/lib/node_modules/npm" ] || [ ! -f "$node_prefix/include/node/node.h" ]; then
    echo "setup-system: no npm or node headers beside $node_bin; skipping the Node.js base image" >&2
  else
    tmp="$NODE_BASE.partial"
    rm -rf "$tmp"
    m=$(mirror)
    [ -n "$m" ] || { echo "setup-system: no Debian mirror found in apt sources" >&2; exit 1; }
    echo "setup-system: building the Node.js base root in $NODE_BASE (a few minutes)"
    debootstrap --variant=minbase --include=ca-certificates trixie "$tmp" "$m" >"$CACHE_DIR/debootstrap-node-base.log" 2>&1 \
      || { tail -n 30 "$CACHE_DIR/debootstrap-node-base.log" >&2; exit 1; }
    mkdir -p "$tmp/usr/local/bin" "$tmp/usr/local/lib/node_modules" "$tmp/usr/local/include" "$tmp/usr/local/share/ca-certificates"
    cp "$node_bin" "$tmp/usr/local/bin/node"
    cp -a "$node_prefix/lib/node_modules/npm" "$tmp/usr/local/lib/node_modules/"
    cp -a "$node_prefix/include/node" "$tmp/usr/local/include/"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/local/bin/npx"
    cp /etc/ssl/certs/ca-certificates.crt "$tmp/usr/local/share/host-ca-bundle.crt"
    chroot "$tmp" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
    chroot "$tmp" /usr/local/bin/node --version >/dev/null
    mv "$tmp" "$NODE_BASE"
  fi
fi
echo "setup-system: ok (chroot $CHROOT, Node.js base $NODE_BASE)"
