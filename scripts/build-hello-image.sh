#!/usr/bin/env bash
# Build the `hello` test app image locally (no registry here): a busybox-static rootfs
# imported with `docker import`. Re-running is cheap and skips work when the image exists
# with the same content hash.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${HELLO_IMAGE:-tenantry/hello:1}
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=$(command -v busybox)

digest=$(cat images/hello/hello.sh "$BUSYBOX" | sha256sum | cut -c1-16)
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "tenantry.content" }}' "$IMAGE" 2>/dev/null || true)" = "$digest" ]; then
  echo "build-hello-image: $IMAGE is up to date"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,data,www,tmp,etc}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in sh httpd wget nc date cat wc ln mkdir sleep echo ls rm touch timeout id ps kill; do
  ln -s busybox "$root/bin/$applet"
done
install -m 0755 images/hello/hello.sh "$root/bin/hello"
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
tar -C "$root" -cf "$work/rootfs.tar" .
"$DOCKER" import \
  --change 'CMD ["/bin/hello"]' \
  --change 'ENV PATH=/bin' \
  --change 'EXPOSE 8080' \
  --change "LABEL tenantry.content=$digest" \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "build-hello-image: built $IMAGE ($digest)"
