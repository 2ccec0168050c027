#!/bin/bash
# check.sh DEB: inspects a built package with dpkg-deb and fails unless the
# metadata and every installed file are right.
set -euo pipefail
deb=$1
fail() { echo "check.sh: $deb: $*" >&2; exit 1; }
info=$(dpkg-deb --info "$deb")
for want in "Package: cunbo" "Depends: ffmpeg, fonts-noto-cjk" " postinst" " conffiles"; do
	grep -qF -- "$want" <<<"$info" || fail "control lacks '$want'"
done
# The setup hotspot needs NetworkManager and its dnsmasq; the polkit rule
# needs polkitd (bookworm's JavaScript rules); the stick rule udev.
depends=$(dpkg-deb --field "$deb" Depends)
for want in network-manager dnsmasq-base polkitd udev; do
	grep -qE "(^|, )$want(,|$| )" <<<"$depends" || fail "Depends lacks $want"
done
arch=$(dpkg-deb --field "$deb" Architecture)
[[ $deb == *_"$arch".deb ]] || fail "architecture field $arch does not match the file name"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/cunbo ./usr/lib/systemd/system/cunbo.service ./usr/lib/tmpfiles.d/cunbo.conf \
	./usr/lib/sysusers.d/cunbo.conf ./etc/cunbo/cunbo.toml \
	./etc/polkit-1/rules.d/50-cunbo-nm.rules ./usr/lib/udev/rules.d/90-cunbo-stick.rules; do
	grep -qE " $f\$" <<<"$contents" || fail "missing $f"
done
grep -qE '^-rw-r----- root/root .* \./etc/cunbo/cunbo.toml$' <<<"$contents" || fail "config must be 0640 root"
grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/cunbo$' <<<"$contents" || fail "binary must be 0755 root"
x=$(mktemp -d); trap 'rm -rf "$x"' EXIT
dpkg-deb -x "$deb" "$x"
dpkg-deb -e "$deb" "$x/DEBIAN"
grep -qx /etc/cunbo/cunbo.toml "$x/DEBIAN/conffiles" || fail "config is not a conffile"
cmp -s "$x/etc/cunbo/cunbo.toml" "$(dirname "$0")/../../firmware/cunbo.example.toml" || fail "config differs from the example"
# Every box makes its own PIN on first start (/var/lib/cunbo/pin): a PIN in
# the package would be the same, published PIN on every box.
! grep -qE '^[[:space:]]*pin[[:space:]]*=' "$x/etc/cunbo/cunbo.toml" || fail "the installed config sets a pin"
grep -q '^Type=notify' "$x/usr/lib/systemd/system/cunbo.service" || fail "unit is not Type=notify"
sh -n "$x/DEBIAN/postinst" || fail "postinst is not valid sh"
cmp -s "$x/etc/polkit-1/rules.d/50-cunbo-nm.rules" "$(dirname "$0")/../cunbo-nm.rules" || fail "polkit rule differs from systemd/cunbo-nm.rules"
grep -q 'systemd-mount .*--options=ro,.* /media/cunbo-stick"$' "$x/usr/lib/udev/rules.d/90-cunbo-stick.rules" || fail "stick rule does not mount read-only at /media/cunbo-stick"
echo "ok $deb"
