#!/usr/bin/env bash
# Build a PostgreSQL 15 image locally (no registry here) with the official image's interface
# (POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, PGDATA, port 5432): Debian's postgresql-15
# installed into the bookworm minbase rootfs the n8n build caches, imported with `docker import`.
# Production maps nothing and pulls the public `postgres:15`.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${POSTGRES_IMAGE:-tenantry/postgres:15}
CACHE=${TENANTRY_BUILD_CACHE:-/var/cache/tenantry}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

digest=$( (cat images/postgres/entrypoint.sh "$0") | sha256sum | cut -c1-16)
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "tenantry.content" }}' "$IMAGE" 2>/dev/null || true)" = "$digest" ]; then
  echo "build-postgres-image: $IMAGE is up to date"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

base=$CACHE/n8n/bookworm-minbase.tar  # shared with scripts/build-n8n-image.sh
if [ ! -f "$base" ]; then
  echo "build-postgres-image: debootstrap bookworm (minbase)"
  mkdir -p "$(dirname "$base")"
  tmp=$(mktemp -d)
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6,tzdata bookworm "$tmp" "$MIRROR" >/dev/null
  tar -C "$tmp" -cf "$base.part.$$" . && mv "$base.part.$$" "$base"  # builds may run side by side (make -j)
  rm -rf "$tmp"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$base"
# No services start inside the build root, and no default cluster is made (we initdb on first start).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/etc/postgresql-common"
echo "create_main_cluster = false" > "$root/etc/postgresql-common/createcluster.conf"
cp /etc/resolv.conf "$root/etc/resolv.conf"
echo "build-postgres-image: apt-get install postgresql-15"
chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null"
rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"* "$root/usr/sbin/policy-rc.d"
install -m 0755 images/postgres/entrypoint.sh "$root/usr/local/bin/tenantry-postgres"
mkdir -p "$root/var/lib/postgresql/data"
chown -R "$(chroot "$root" id -u postgres):$(chroot "$root" id -g postgres)" "$root/var/lib/postgresql"
chmod 700 "$root/var/lib/postgresql/data"
tar -C "$root" -cf - . | "$DOCKER" import \
  --change 'USER postgres' \
  --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin PGDATA=/var/lib/postgresql/data' \
  --change 'EXPOSE 5432' \
  --change 'CMD ["/usr/local/bin/tenantry-postgres"]' \
  --change "LABEL tenantry.content=$digest" \
  - "$IMAGE" >/dev/null
echo "build-postgres-image: built $IMAGE ($digest)"
