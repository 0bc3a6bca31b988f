#!/usr/bin/env bash
# Boots systemd (as PID 1 of new PID, mount, cgroup, UTS and IPC namespaces) on a throw-away overlay of this
# machine's root file system, with WAIaaS Signer installed as `make install` would, so that boot.test.ts can start
# the real, fully hardened waiaas-signerd.service and talk to it. The host's network namespace is shared: the signer
# listens on the host's loopback. Nothing outside WORK is written on the host: the overlay's upper layer is a tmpfs
# that disappears with the namespaces.
#
#   test/systemd/boot.sh WORK DESTDIR DEVSTATE PORT
#     WORK      an empty folder: init.pid (host pid of the namespace's systemd), boot.log
#     DESTDIR   the output of scripts/install.sh --destdir DESTDIR --prefix /usr
#     DEVSTATE  a development state folder (server/devstate): its SoftHSM2 token, PIN, CA and server certificate
#     PORT      the port the signer listens on (127.0.0.1:PORT)
#
# Root only. Stop it with: kill -KILL "$(cat WORK/init.pid)".
set -euo pipefail
WORK="$1" DEST="$2" DS="$3" PORT="$4"

setup() {
  set -x
  local R="$WORK/root"
  mkdir -p "$WORK/rw" "$R"
  mount -t tmpfs -o size=4G,mode=0755 tmpfs "$WORK/rw"
  mkdir -p "$WORK/rw/upper" "$WORK/rw/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/rw/upper,workdir=$WORK/rw/work" "$R"
  mount -t proc proc "$R/proc"
  # Kernel tunables read-only: nothing in here changes the host's sysctls.
  mount --bind "$R/proc/sys" "$R/proc/sys"
  mount -o remount,bind,ro "$R/proc/sys"
  mount --rbind /dev "$R/dev"
  # /sys read-only, as in any container: no udev in here, and nothing is written to the host's devices.
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
  mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"
  mount -t tmpfs -o mode=0755 tmpfs "$R/run"
  mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"

  # make install, then what docs/operations.md tells the operator to do.
  cp -a "$DEST/." "$R/"
  chroot "$R" systemd-sysusers
  chroot "$R" systemd-tmpfiles --create waiaas.conf
  mkdir -p "$R/var/lib/waiaas/softhsm"
  cp -a "$DS/tokens" "$R/var/lib/waiaas/softhsm/tokens"
  chroot "$R" chown -R waiaas:waiaas /var/lib/waiaas
  printf 'directories.tokendir = /var/lib/waiaas/softhsm/tokens/\nobjectstore.backend = file\nlog.level = ERROR\n' >"$R/etc/waiaas/softhsm2.conf"
  install -m 0644 "$DS/server.pem" "$R/etc/waiaas/server.pem"
  install -m 0644 "$DS/ca.pem" "$R/etc/waiaas/client-ca.pem"
  sed -e 's/^token_label = "waiaas"$/token_label = "waiaas-dev"/' -e "s/^listen = .*/listen = \"127.0.0.1:$PORT\"/" \
    "$R/etc/waiaas/config.example.toml" >"$R/etc/waiaas/config.toml"
  chroot "$R" systemd-creds setup
  install -m 0600 "$DS/hsm.pin" "$R/run/hsm-pin"
  install -m 0600 "$DS/server.key" "$R/run/tls-key"
  chroot "$R" systemd-creds encrypt --with-key=host --name=hsm-pin /run/hsm-pin /etc/waiaas/hsm-pin.cred
  chroot "$R" systemd-creds encrypt --with-key=host --name=tls-key /run/tls-key /etc/waiaas/tls-key.cred
  rm -f "$R/run/hsm-pin" "$R/run/tls-key"
  chroot "$R" systemd-tmpfiles --create waiaas.conf

  mkdir -p "$R/etc/systemd/system/waiaas-signerd.service.d"
  cat >"$R/etc/systemd/system/waiaas-signerd.service.d/softhsm.conf" <<'EOF'
[Service]
Environment=SOFTHSM2_CONF=/etc/waiaas/softhsm2.conf
EOF
  cat >"$R/etc/systemd/system/waiaas-signerd.service.d/test.conf" <<'EOF'
# Test only. A system call outside the filter kills the process (SIGSYS) instead of failing with EPERM, so the test
# sees every call the filter would refuse. No restarts, and no sysinit.target (the host's boot units stay out).
[Unit]
DefaultDependencies=no
[Service]
SystemCallErrorNumber=
Restart=no
EOF
  cat >"$R/etc/systemd/system/waiaas-boot.target" <<'EOF'
[Unit]
Description=WAIaaS boot test
DefaultDependencies=no
Wants=systemd-journald.service
EOF

  # pivot_root, not chroot: a chrooted process may not create user namespaces (PrivateUsers=). And / shared: systemd
  # mounts each service's credentials in a child mount namespace and they must propagate back (systemd does not
  # make / shared inside a container; a real host and systemd-nspawn have it so).
  mkdir -p "$R/oldroot"
  cd "$R"
  pivot_root . oldroot
  umount -l /oldroot
  rmdir /oldroot
  mount --make-rshared /
  set +x
}

[ "$(id -u)" = 0 ] || { echo "boot.sh: root only" >&2; exit 1; }
mkdir -p "$WORK"
SYSTEMD=/usr/lib/systemd/systemd
[ -x "$SYSTEMD" ] || SYSTEMD=/lib/systemd/systemd
export WORK DEST DS PORT SYSTEMD
export -f setup
setsid unshare --mount --pid --fork --cgroup --uts --ipc --propagation private bash -c '
  set -euo pipefail
  setup >"$WORK/boot.log" 2>&1 || { echo "boot.sh: setup failed" >>"$WORK/boot.log"; exit 1; }
  cd /
  exec /usr/bin/env -i container=waiaas-test "$SYSTEMD" --unit=waiaas-boot.target --show-status=false --log-target=journal-or-kmsg
' </dev/null >>"$WORK/systemd.log" 2>&1 &
UNSHARE=$!
# The namespace's PID 1 is unshare's child.
for _ in $(seq 1 100); do
  init="$(pgrep -P "$UNSHARE" || true)"
  if [ -n "$init" ] && [ "$(readlink "/proc/$init/exe" 2>/dev/null)" = "$(readlink -f "$SYSTEMD")" ]; then
    echo "$init" >"$WORK/init.pid"
    exit 0
  fi
  if ! kill -0 "$UNSHARE" 2>/dev/null; then break; fi
  sleep 0.2
done
echo "boot.sh: systemd did not come up; see $WORK/boot.log" >&2
cat "$WORK/boot.log" >&2 || true
kill -KILL "$UNSHARE" 2>/dev/null || true
exit 1
