#!/usr/bin/env bash
# Build a MariaDB image locally (no registry here) with the official image's interface as the
# WordPress spec uses it (MARIADB_ROOT_PASSWORD / MARIADB_DATABASE / MARIADB_USER /
# MARIADB_PASSWORD, data in /var/lib/mysql, `healthcheck.sh`, `mariadb` and `mariadb-dump`):
# Debian's mariadb-server installed into the bookworm minbase rootfs the n8n build caches,
# imported with `docker import`. Rebuilt only when its inputs change (a label holds their hash).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/debian-rootfs.sh
. scripts/debian-rootfs.sh

# The tag carries the Debian package's major.minor version (10.11 on bookworm).
version=$(debian_major_minor mariadb-server)
IMAGE=${MARIADB_IMAGE:-tenantry/mariadb:$version}
digest=$( (cat images/mariadb/* scripts/debian-rootfs.sh "$0"; echo "$version") | sha256sum | cut -c1-16)
if debian_image_current "$IMAGE" "$digest"; then
  echo "build-mariadb-image: $IMAGE is up to date"
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debian_rootfs "$root" mariadb-server
install -m 0755 images/mariadb/entrypoint.sh "$root/usr/local/bin/tenantry-mariadb"
install -m 0755 images/mariadb/healthcheck.sh "$root/usr/local/bin/healthcheck.sh"
install -m 0644 images/mariadb/tenantry.cnf "$root/etc/mysql/mariadb.conf.d/90-tenantry.cnf"
# Owned by `mysql`: Docker creates a new named volume with the ownership of the image's directory,
# so the server (never root) can write its data and the backup dumps.
rm -rf "$root/var/lib/mysql" && mkdir -p "$root/var/lib/mysql" "$root/var/backups/tenantry" "$root/run/mysqld"
chroot "$root" chown mysql:mysql /var/lib/mysql /var/backups/tenantry /run/mysqld
debian_import "$root" "$IMAGE" "$digest" \
  --change 'USER mysql' \
  --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'EXPOSE 3306' \
  --change 'CMD ["/usr/local/bin/tenantry-mariadb"]'
echo "build-mariadb-image: built $IMAGE ($digest)"
