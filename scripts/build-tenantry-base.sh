#!/usr/bin/env bash
# Build the base of Tenantry's own image locally (no registry here): the bookworm minbase rootfs
# the other builds cache (debootstrap), Debian's Python 3.11 and the system libraries Tenantry
# needs (Pango for invoices, iptables for the tenant firewall, redis-server for compose's Redis),
# and a virtualenv with every Python dependency of pyproject.toml, installed from wheels the
# host builds (same Debian, same Python: the wheels fit), imported with `docker import`.
#
# deploy/Dockerfile adds Tenantry's own code on top (a small layer, rebuilt by compose when the
# code changes). This base is rebuilt only when its inputs change: the image carries a label
# with their hash. First build ~3 min; then nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${TENANTRY_BASE_IMAGE:-tenantry/base:local}
CACHE=${TENANTRY_BUILD_CACHE:-/var/cache/tenantry}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Debian's own Python (the image's): the wheels must match its version (environment markers).
PYTHON=${TENANTRY_WHEEL_PYTHON:-/usr/bin/python3}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
PACKAGES="python3 python3-venv libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core iptables redis-server"

digest=$( (cat pyproject.toml "$0"; echo "$PACKAGES") | sha256sum | cut -c1-16)
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "tenantry.content" }}' "$IMAGE" 2>/dev/null || true)" = "$digest" ]; then
  echo "build-tenantry-base: $IMAGE is up to date"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

base=$CACHE/n8n/bookworm-minbase.tar  # shared with scripts/build-n8n-image.sh
if [ ! -f "$base" ]; then
  echo "build-tenantry-base: debootstrap bookworm (minbase)"
  mkdir -p "$(dirname "$base")"
  tmp=$(mktemp -d)
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6,tzdata bookworm "$tmp" "$MIRROR" >/dev/null
  tar -C "$tmp" -cf "$base.part.$$" . && mv "$base.part.$$" "$base"  # builds may run side by side (make -j)
  rm -rf "$tmp"
fi

# Wheels of every dependency (not Tenantry itself), built by the host from PyPI (pip's cache
# makes a rebuild quick); kept per input hash.
wheels=$CACHE/tenantry-wheels/$digest
if [ ! -f "$wheels/.complete" ]; then
  echo "build-tenantry-base: pip wheel (dependencies of pyproject.toml)"
  rm -rf "$wheels" && mkdir -p "$wheels"
  "$PYTHON" -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
    > "$wheels/requirements.txt"
  "$PYTHON" -m pip wheel -q --wheel-dir "$wheels" -r "$wheels/requirements.txt"
  touch "$wheels/.complete"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$base"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo "build-tenantry-base: apt-get install $PACKAGES"
chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null"
rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"* "$root/usr/sbin/policy-rc.d"
echo "build-tenantry-base: virtualenv"
mkdir -p "$root/tmp/wheels" && cp "$wheels"/*.whl "$root/tmp/wheels/"
chroot "$root" /bin/sh -c "python3 -m venv /opt/tenantry/.venv && /opt/tenantry/.venv/bin/pip install -q --no-index /tmp/wheels/*.whl"
rm -rf "$root/tmp/wheels" "$root/root/.cache"
# The console script, for Tenantry's code that deploy/Dockerfile puts in /opt/tenantry/src.
printf '#!/bin/sh\nexec /opt/tenantry/.venv/bin/python -m tenantry.cli "$@"\n' > "$root/usr/local/bin/tenantry"
chmod 0755 "$root/usr/local/bin/tenantry"
mkdir -p "$root/var/lib/tenantry"
tar -C "$root" -cf - . | "$DOCKER" import \
  --change 'ENV PATH=/opt/tenantry/.venv/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/opt/tenantry/src DJANGO_SETTINGS_MODULE=tenantry.settings TENANTRY_DATA_DIR=/var/lib/tenantry PYTHONUNBUFFERED=1' \
  --change 'WORKDIR /var/lib/tenantry' \
  --change "LABEL tenantry.content=$digest" \
  - "$IMAGE" >/dev/null
echo "build-tenantry-base: built $IMAGE ($digest)"
