#!/usr/bin/env bash
# Checks the systemd files in systemd/: the hardening score of each unit, `systemd-analyze verify`, and (as root) that
# sysusers.d and tmpfiles.d create what the units expect. Part of `make test`.
#
#   scripts/check-systemd.sh            exit 0 when everything passes, 1 otherwise
#
# Scores come from `systemd-analyze security --offline=true UNIT_FILE` (0.0 = fully locked down, 10.0 = fully
# exposed). Limits: waiaas-signerd.service <= 1.0, yubihsm-connector.service <= 2.0 (override with the environment
# variables SIGNER_MAX_EXPOSURE and CONNECTOR_MAX_EXPOSURE, e.g. to see how a drop-in would score).
# The units carry @NODE@/@PREFIX@ placeholders (scripts/install.sh fills them in): they are checked as a temporary
# copy with PREFIX=/usr and @NODE@ = the node on PATH (so verify finds an executable), or /usr/bin/node.
#
# Needs systemd-analyze with --offline (systemd >= 250). When it is missing: as root with apt-get it installs the
# `systemd` package; otherwise it says what to install and fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIGNER_MAX="${SIGNER_MAX_EXPOSURE:-1.0}"
CONNECTOR_MAX="${CONNECTOR_MAX_EXPOSURE:-2.0}"
failed=0
fail() { echo "check-systemd: FAIL: $*"; failed=1; }
note() { echo "check-systemd: $*"; }

# ---- systemd-analyze, installed when missing.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    note "systemd-analyze is missing; installing the systemd package with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
  else
    echo "check-systemd: systemd-analyze is not installed, and this script can only install it as root with apt-get." >&2
    echo "               Install the systemd package (Debian/Ubuntu: sudo apt-get install systemd; Fedora: dnf install systemd)," >&2
    echo "               then run it again." >&2
    exit 1
  fi
fi
version="$(systemd-analyze --version | awk 'NR==1 {print $2}')"
if ! [[ "$version" =~ ^[0-9]+$ ]] || [ "$version" -lt 250 ]; then
  echo "check-systemd: systemd-analyze $version has no 'security --offline' (needs systemd >= 250)." >&2
  exit 1
fi
note "systemd-analyze $version"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/waiaas-check-systemd.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

NODE_BIN="$(command -v node 2>/dev/null || true)"
if [ -n "$NODE_BIN" ]; then NODE_BIN="$(readlink -f "$NODE_BIN")"; else NODE_BIN=/usr/bin/node; fi
for unit in waiaas-signerd.service yubihsm-connector.service; do
  sed -e "s|@NODE@|$NODE_BIN|g" -e "s|@PREFIX@|/usr|g" "$ROOT/systemd/$unit" >"$TMP/$unit"
  if grep -n '@[A-Z_]*@' "$TMP/$unit"; then fail "$unit has a placeholder install.sh does not substitute"; fi
done

# ---- Exposure scores.
score_of() { # score_of UNIT -> prints the overall exposure, the report goes to $TMP/UNIT.security
  local unit="$1"
  if ! systemd-analyze security --offline=true --no-pager "$TMP/$unit" >"$TMP/$unit.security" 2>&1; then
    # A non-zero status alone is not a failure (older versions exit 1 when anything is exposed); no score is.
    :
  fi
  sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$TMP/$unit.security" | head -n1
}
check_score() { # check_score UNIT MAX
  local unit="$1" max="$2" score
  score="$(score_of "$unit")"
  if [ -z "$score" ]; then
    cat "$TMP/$unit.security"
    fail "$unit: no overall exposure level in the output of systemd-analyze security"
    return
  fi
  # What is still exposed, with its share of the score.
  grep '✗' "$TMP/$unit.security" | sed -e 's/^✗ */    exposed: /' -e 's/  \{2,\}/  /g' || true
  if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
    note "$unit: exposure $score (limit $max) OK"
  else
    fail "$unit: exposure $score is above the limit $max"
  fi
}
check_score waiaas-signerd.service "$SIGNER_MAX"
check_score yubihsm-connector.service "$CONNECTOR_MAX"

# ---- systemd-analyze verify. Offline it checks syntax, known settings and that ExecStart's binary exists. Binaries
# that are installed separately on the target (Yubico's connector; node when none is on PATH here) are only noted.
for unit in waiaas-signerd.service yubihsm-connector.service; do
  # Each unit alone in its own directory: verify loads the units a unit names from the directory it is in.
  mkdir -p "$TMP/verify-$unit"
  cp "$TMP/$unit" "$TMP/verify-$unit/$unit"
  out="$(cd "$TMP/verify-$unit" && systemd-analyze verify --man=no "./$unit" 2>&1)" || true
  bad=0
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    case "$line" in
      *"Command /usr/bin/yubihsm-connector is not executable"*|*"Command $NODE_BIN is not executable"*)
        note "$unit: verify: ${line#*: } (installed separately on the target; not checked here)" ;;
      *"$unit"*|*"${TMP}"*)
        echo "    $line"; bad=1 ;;
      *)
        note "$unit: verify (about another unit on this machine, ignored): $line" ;;
    esac
  done <<<"$out"
  if [ $bad = 1 ]; then fail "$unit: systemd-analyze verify reported problems (above)"; else note "$unit: verify OK"; fi
done

# ---- sysusers.d and tmpfiles.d, applied to an empty root (root only: tmpfiles must chown).
if [ "$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
  R="$TMP/root"
  mkdir -p "$R/etc" "$R/usr/lib/sysusers.d" "$R/usr/lib/tmpfiles.d"
  cp "$ROOT"/systemd/sysusers.d/*.conf "$R/usr/lib/sysusers.d/"
  cp "$ROOT/systemd/tmpfiles.d/waiaas.conf" "$R/usr/lib/tmpfiles.d/"
  if systemd-sysusers --root="$R" >"$TMP/sysusers.log" 2>&1 && systemd-tmpfiles --root="$R" --create >"$TMP/tmpfiles.log" 2>&1; then
    uid="$(awk -F: '$1=="waiaas" {print $3}' "$R/etc/passwd")"
    gid="$(awk -F: '$1=="waiaas" {print $3}' "$R/etc/group")"
    expect() { # expect PATH MODE UID GID
      local got
      got="$(stat -c '%a %u %g' "$R$1" 2>/dev/null || echo missing)"
      if [ "$got" = "$2 $3 $4" ]; then note "tmpfiles: $1 $2 $3:$4 OK"; else fail "tmpfiles: $1 is '$got', expected '$2 $3 $4'"; fi
    }
    [ -n "$uid" ] && [ -n "$gid" ] || fail "sysusers: no waiaas user/group created"
    grep -q '^yubihsm-connector:' "$R/etc/passwd" || fail "sysusers: no yubihsm-connector user created"
    grep -q '^waiaas:[^:]*:[^:]*:[^:]*:[^:]*:/var/lib/waiaas:/usr/sbin/nologin$' "$R/etc/passwd" ||
      grep -q '^waiaas:[^:]*:[^:]*:[^:]*:[^:]*:/var/lib/waiaas:/sbin/nologin$' "$R/etc/passwd" ||
      fail "sysusers: waiaas should have home /var/lib/waiaas and no login shell: $(grep '^waiaas:' "$R/etc/passwd")"
    expect /etc/waiaas 750 0 "$gid"
    expect /var/lib/waiaas 700 "$uid" "$gid"
    expect /var/backups/waiaas 700 0 0
  else
    cat "$TMP"/sysusers.log "$TMP"/tmpfiles.log 2>/dev/null
    fail "systemd-sysusers / systemd-tmpfiles failed on systemd/sysusers.d, systemd/tmpfiles.d"
  fi
else
  note "sysusers.d/tmpfiles.d not applied (needs root and systemd-sysusers/systemd-tmpfiles)"
fi

# ---- The udev rule: `udevadm verify` exists from systemd 253 on.
if command -v udevadm >/dev/null && udevadm verify --help >/dev/null 2>&1; then
  if udevadm verify "$ROOT/systemd/70-yubihsm.rules"; then note "70-yubihsm.rules: udevadm verify OK"; else fail "70-yubihsm.rules: udevadm verify failed"; fi
else
  note "70-yubihsm.rules: not verified (udevadm verify needs systemd >= 253)"
fi

if [ $failed = 0 ]; then note "all checks passed"; else note "some checks FAILED"; fi
exit $failed
