#!/usr/bin/env bash
# Build the n8n image locally (no registry here): a Debian bookworm minbase rootfs (debootstrap),
# the host's Node 20 (n8n 2.8.4 is the newest release that runs on it), n8n installed from the
# npm registry with the committed lockfile, imported with `docker import`.
#
# Slow the first time (~4 min, ~1.7 GB); cached afterwards: the image carries a label with the
# hash of its inputs and is rebuilt only when they change. The rootfs and node_modules are kept
# under $TENANTRY_BUILD_CACHE (default /var/cache/tenantry) between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${N8N_IMAGE:-tenantry/n8n:2.8.4}
CACHE=${TENANTRY_BUILD_CACHE:-/var/cache/tenantry}/n8n
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

node_version=$(node --version)
case "$node_version" in
  v20.*) ;;
  *) echo "build-n8n-image: needs Node 20 on the host (found $node_version)" >&2; exit 1 ;;
esac
digest=$( (cat images/n8n/package.json images/n8n/package-lock.json "$0"; echo "$node_version") | sha256sum | cut -c1-16)
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "tenantry.content" }}' "$IMAGE" 2>/dev/null || true)" = "$digest" ]; then
  echo "build-n8n-image: $IMAGE is up to date"
  exit 0
fi

mkdir -p "$CACHE"
need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v make >/dev/null 2>&1 || need+=(make)
command -v g++ >/dev/null 2>&1 || need+=(g++)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 1. The Debian base, kept as a tarball once made.
base=$CACHE/bookworm-minbase.tar
if [ ! -f "$base" ]; then
  echo "build-n8n-image: debootstrap bookworm (minbase)"
  tmp=$(mktemp -d)
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6,tzdata bookworm "$tmp" "$MIRROR" >/dev/null
  tar -C "$tmp" -cf "$base.part.$$" . && mv "$base.part.$$" "$base"  # builds may run side by side (make -j)
  rm -rf "$tmp"
fi

# 2. n8n and its dependencies, installed by the host's npm (same Node, same glibc as the image).
app=$CACHE/app
mkdir -p "$app"
cp images/n8n/package.json images/n8n/package-lock.json "$app/"
if ! cmp -s images/n8n/package-lock.json "$app/.installed-lock" 2>/dev/null; then
  echo "build-n8n-image: npm install n8n (a few minutes)"
  # `npm ci` refuses this lockfile (peer-dependency conflicts): install with it instead.
  (cd "$app" && npm install --legacy-peer-deps --omit=dev --no-audit --no-fund --loglevel=error)
  cp images/n8n/package-lock.json "$app/.installed-lock"
fi

# 3. Assemble and import.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$base"
install -m 0755 "$(command -v node)" "$root/usr/local/bin/node"
mkdir -p "$root/opt/n8n" "$root/home/node/.n8n"
cp -a "$app/node_modules" "$app/package.json" "$root/opt/n8n/"
echo 'node:x:1000:1000:n8n:/home/node:/bin/sh' >> "$root/etc/passwd"
echo 'node:x:1000:' >> "$root/etc/group"
chown -R 1000:1000 "$root/home/node"
rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"*
tar -C "$root" -cf - . | "$DOCKER" import \
  --change 'USER node' \
  --change 'WORKDIR /home/node' \
  --change 'ENV NODE_ENV=production PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/node' \
  --change 'EXPOSE 5678' \
  --change 'CMD ["/usr/local/bin/node", "/opt/n8n/node_modules/n8n/bin/n8n", "start"]' \
  --change "LABEL tenantry.content=$digest" \
  - "$IMAGE" >/dev/null
echo "build-n8n-image: built $IMAGE ($digest)"
