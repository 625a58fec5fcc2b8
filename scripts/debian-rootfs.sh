# Shared by the image builds that install Debian packages (sourced, not run): the bookworm
# minbase rootfs made once by debootstrap and kept as a tarball, packages installed into a copy
# of it with apt, and the result imported into Docker with a label holding the inputs' hash.
CACHE=${TENANTRY_BUILD_CACHE:-/var/cache/tenantry}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)

debian_base_tar() {
  local base=$CACHE/n8n/bookworm-minbase.tar  # shared with scripts/build-n8n-image.sh
  if [ ! -f "$base" ]; then
    command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    echo "debian-rootfs: debootstrap bookworm (minbase)" >&2
    mkdir -p "$(dirname "$base")"
    local tmp
    tmp=$(mktemp -d)
    debootstrap --variant=minbase --include=ca-certificates,libstdc++6,tzdata bookworm "$tmp" "$MIRROR" >/dev/null
    tar -C "$tmp" -cf "$base.part.$$" . && mv "$base.part.$$" "$base"  # builds may run side by side (make -j)
    rm -rf "$tmp"
  fi
  echo "$base"
}

# The version apt would install (the host runs the same Debian release as the image).
debian_candidate_version() {
  apt-cache policy "$1" | awk '/Candidate:/ {print $2}'
}

# Its major.minor, without the epoch (10.11, 6.1): what the images' tags carry.
debian_major_minor() {
  debian_candidate_version "$1" | sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/'
}

# debian_image_current IMAGE DIGEST: true when IMAGE exists, built from the inputs of that hash.
debian_image_current() {
  [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "tenantry.content" }}' "$1" 2>/dev/null || true)" = "$2" ]
}

# debian_rootfs ROOT "PACKAGES" ["PACKAGES"...]: the base rootfs unpacked in ROOT with the
# packages installed, one `apt-get install` per argument in order (apt resolves a dependency's
# alternatives by the first one unless another is already installed); no recommends, no
# service started, apt's caches removed.
debian_rootfs() {
  local root=$1; shift
  tar -C "$root" -xf "$(debian_base_tar)"
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get update -qq
  local packages
  for packages in "$@"; do
    echo "debian-rootfs: apt-get install $packages" >&2
    # shellcheck disable=SC2086
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
  done
  rm -rf "$root/var/cache/apt/"* "$root/var/lib/apt/lists/"* "$root/usr/sbin/policy-rc.d"
}

# debian_import ROOT IMAGE DIGEST [--change ...]: ROOT imported as IMAGE, labelled with DIGEST.
debian_import() {
  local root=$1 image=$2 digest=$3; shift 3
  tar -C "$root" -cf - . | "$DOCKER" import "$@" --change "LABEL tenantry.content=$digest" - "$image" >/dev/null
}
