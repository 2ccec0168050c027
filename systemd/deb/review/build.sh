#!/bin/bash
# build.sh ARCH BINARY OUTDIR VERSION: packs the cunbo-review binary, its
# systemd unit, an /etc/default file for its flags and its README into
# OUTDIR/cunbo-review_VERSION_ARCH.deb with plain dpkg-deb, as ../build.sh
# does for the box.
set -euo pipefail
arch=$1 bin=$2 out=$3 version=$4
here=$(cd "$(dirname "$0")" && pwd)
sd=$(dirname "$(dirname "$here")")
repo=$(dirname "$sd")
case $arch in amd64|arm64) ;; *) echo "build.sh: unsupported arch $arch" >&2; exit 2;; esac
[ -x "$bin" ] || { echo "build.sh: $bin is not an executable" >&2; exit 2; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/bin/cunbo-review"
install -D -m 0644 "$sd/cunbo-review.service" "$root/usr/lib/systemd/system/cunbo-review.service"
# May hold S3 credentials: root only (systemd reads it before dropping to
# the service's dynamic user).
install -D -m 0600 "$here/default" "$root/etc/default/cunbo-review"
install -D -m 0644 "$repo/review/README.md" "$root/usr/share/doc/cunbo-review/README.md"
install -d "$root/DEBIAN"
for f in postinst prerm postrm; do install -m 0755 "$here/$f" "$root/DEBIAN/$f"; done
echo /etc/default/cunbo-review > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" > "$root/DEBIAN/control"
mkdir -p "$out"
deb="$out/cunbo-review_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
