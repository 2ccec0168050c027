#!/bin/bash
# build.sh ARCH BINARY OUTDIR VERSION: packs the cunbo binary, the systemd
# units and the default configuration into OUTDIR/cunbo_VERSION_ARCH.deb
# with plain dpkg-deb (no debhelper).
set -euo pipefail
arch=$1 bin=$2 out=$3 version=$4
here=$(cd "$(dirname "$0")" && pwd)
sd=$(dirname "$here")
repo=$(dirname "$sd")
case $arch in amd64|arm64|armhf) ;; *) echo "build.sh: unsupported arch $arch" >&2; exit 2;; esac
[ -x "$bin" ] || { echo "build.sh: $bin is not an executable" >&2; exit 2; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/bin/cunbo"
install -D -m 0644 "$sd/cunbo.service" "$root/usr/lib/systemd/system/cunbo.service"
install -D -m 0644 "$sd/cunbo.tmpfiles" "$root/usr/lib/tmpfiles.d/cunbo.conf"
install -D -m 0644 "$sd/cunbo.sysusers" "$root/usr/lib/sysusers.d/cunbo.conf"
# nmcli for the service (Wi-Fi from a bundle, the setup hotspot), and the
# USB stick mounted read-only where the box looks for setup bundles.
install -D -m 0644 "$sd/cunbo-nm.rules" "$root/etc/polkit-1/rules.d/50-cunbo-nm.rules"
install -D -m 0644 "$sd/90-cunbo-stick.rules" "$root/usr/lib/udev/rules.d/90-cunbo-stick.rules"
# The config holds the PIN and stream keys: readable by the service only.
install -D -m 0640 "$repo/firmware/cunbo.example.toml" "$root/etc/cunbo/cunbo.toml"
install -D -m 0644 "$repo/firmware/cunbo.example.toml" "$root/usr/share/doc/cunbo/cunbo.example.toml"
install -d "$root/DEBIAN"
for f in postinst prerm postrm; do install -m 0755 "$here/$f" "$root/DEBIAN/$f"; done
echo /etc/cunbo/cunbo.toml > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" > "$root/DEBIAN/control"
mkdir -p "$out"
deb="$out/cunbo_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
