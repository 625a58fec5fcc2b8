#!/usr/bin/env bash
# Build the WordPress image locally (no registry here): Debian's `wordpress` package with PHP
# (php-fpm, workers on demand) and nginx, in the bookworm minbase rootfs the n8n build caches,
# imported with `docker import`. Its interface is the official image's as the `wordpress` spec
# uses it (port 80, the WORDPRESS_* environment, the site's files in a volume at /var/www/html);
# the configuration comes from the environment (images/wordpress/wp-config.php), so the image is
# the same for every instance and its root filesystem can be read-only.
#
# Rebuilt only when its inputs change (a label holds their hash); ~2 min the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/debian-rootfs.sh
. scripts/debian-rootfs.sh
# PHP and nginx first: `wordpress` depends on "apache2 | httpd" and "libapache2-mod-php | php",
# which apt would answer with Apache unless the alternatives are installed already.
SERVER_PACKAGES="nginx php8.2-fpm php8.2-mysql php8.2-gd php8.2-curl php8.2-xml php8.2-mbstring php8.2-zip php8.2-intl"
APP_PACKAGES="php wordpress wordpress-theme-twentytwentythree"

# The tag carries the Debian package's major.minor version (6.1 on bookworm).
version=$(debian_major_minor wordpress)
IMAGE=${WORDPRESS_IMAGE:-tenantry/wordpress:$version}
digest=$( (find images/wordpress -type f | sort | xargs cat; cat scripts/debian-rootfs.sh "$0"; echo "$version") \
  | sha256sum | cut -c1-16)
if debian_image_current "$IMAGE" "$digest"; then
  echo "build-wordpress-image: $IMAGE is up to date"
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debian_rootfs "$root" "$SERVER_PACKAGES" "$APP_PACKAGES"
if [ -e "$root/usr/sbin/apache2" ]; then
  echo "build-wordpress-image: apache2 was pulled in; the image serves with nginx" >&2
  exit 1
fi
# Debian's wp-config.php (a link to /etc/wordpress) picks a file per host name: replaced by one
# reading the environment.
rm -f "$root/usr/share/wordpress/wp-config.php"
install -m 0644 images/wordpress/wp-config.php "$root/usr/share/wordpress/wp-config.php"
mkdir -p "$root/usr/share/tenantry-wordpress/mu-plugins" "$root/etc/tenantry-wordpress"
install -m 0644 images/wordpress/mu-plugins/*.php "$root/usr/share/tenantry-wordpress/mu-plugins/"
install -m 0644 images/wordpress/nginx.conf images/wordpress/php-fpm.conf "$root/etc/tenantry-wordpress/"
install -m 0755 images/wordpress/entrypoint.sh "$root/usr/local/bin/tenantry-wordpress"
rm -rf "$root/var/www/html" && mkdir -p "$root/var/www/html"
chroot "$root" chown www-data:www-data /var/www/html
if [ -n "${KEEP_ROOTFS:-}" ]; then cp -a "$root" "$KEEP_ROOTFS"; fi
debian_import "$root" "$IMAGE" "$digest" \
  --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /usr/share/wordpress' \
  --change 'EXPOSE 80' \
  --change 'CMD ["/usr/local/bin/tenantry-wordpress"]'
echo "build-wordpress-image: built $IMAGE ($digest)"
