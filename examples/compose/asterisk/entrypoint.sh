#!/bin/sh
# Entry point of the compose example's Asterisk: installs the snippets of
# asterisk-conf/ (mounted read-only) into the config folder it shares with the
# sidecar, then starts Asterisk. Runs at every start and changes nothing the
# second time: an admin's own edits to iax.conf and extensions.conf stay.
set -eu

conf="${ASTERISK_CONFIG_DIR:-/etc/asterisk}"
snippets="${UURU_SNIPPETS_DIR:-/opt/uuru-federation/asterisk-conf}"
group="${ASTERISK_GROUP:-asterisk}"
placeholder='CHANGE-ME-long-random-password'

fail() {
  echo "asterisk-entrypoint: $*" >&2
  exit 2
}

# A password lands in manager.conf / ari.conf as it is: ';' would start a comment there.
check_password() {
  case "$2" in
    '') fail "$1 is empty: set it in .env" ;;
    *[\;[:space:]]*) fail "$1 holds a ';' or white space, which Asterisk's config files cannot carry" ;;
    "$placeholder") fail "$1 is still the example's placeholder" ;;
  esac
}
check_password AMI_PASSWORD "${AMI_PASSWORD:-}"
check_password ARI_PASSWORD "${ARI_PASSWORD:-}"

# The shared folder: group $group, group-writable, setgid, so that the files the
# sidecar creates (mode 0640) belong to that group and Asterisk can read them.
chgrp "$group" "$conf"
chmod 2770 "$conf"

# $1: snippet; $2: the password that replaces the placeholder in it (none: copied as it is).
install_snippet() {
  PASSWORD="${2:-}" awk -v ph="$placeholder" '
    BEGIN { pw = ENVIRON["PASSWORD"] }
    {
      out = ""; s = $0
      if (pw != "") while ((i = index(s, ph)) > 0) { out = out substr(s, 1, i - 1) pw; s = substr(s, i + length(ph)) }
      print out s
    }' "$snippets/$1" >"$conf/.$1.new"
  chown "root:$group" "$conf/.$1.new"
  chmod 0640 "$conf/.$1.new"
  mv "$conf/.$1.new" "$conf/$1"
}
install_snippet manager.conf "$AMI_PASSWORD"
install_snippet ari.conf "$ARI_PASSWORD"
install_snippet http.conf

# iax.conf and extensions.conf keep the package's (or the admin's) content; the
# snippet with the #tryinclude line is appended once.
append_once() {
  if ! grep -qxF "$2" "$conf/$1" 2>/dev/null; then
    printf '\n' >>"$conf/$1"
    cat "$snippets/$1" >>"$conf/$1"
  fi
}
append_once iax.conf '#tryinclude iax-uuru-federation.conf'
append_once extensions.conf '#tryinclude extensions-uuru-federation.conf'

exec "$@"
