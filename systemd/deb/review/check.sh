#!/bin/bash
# check.sh DEB: inspects a built cunbo-review package with dpkg-deb and
# fails unless the metadata and every installed file are right.
set -euo pipefail
deb=$1
fail() { echo "check.sh: $deb: $*" >&2; exit 1; }
info=$(dpkg-deb --info "$deb")
for want in "Package: cunbo-review" "Depends: systemd" "Recommends: ffmpeg" " postinst" " prerm" " postrm" " conffiles"; do
	grep -qF -- "$want" <<<"$info" || fail "control lacks '$want'"
done
arch=$(dpkg-deb --field "$deb" Architecture)
[[ $deb == *_"$arch".deb ]] || fail "architecture field $arch does not match the file name"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/cunbo-review ./usr/lib/systemd/system/cunbo-review.service ./etc/default/cunbo-review \
	./usr/share/doc/cunbo-review/README.md; do
	grep -qE " $f\$" <<<"$contents" || fail "missing $f"
done
grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/cunbo-review$' <<<"$contents" || fail "binary must be 0755 root"
grep -qE '^-rw------- root/root .* \./etc/default/cunbo-review$' <<<"$contents" || fail "/etc/default/cunbo-review must be 0600 root (S3 credentials)"
x=$(mktemp -d); trap 'rm -rf "$x"' EXIT
dpkg-deb -x "$deb" "$x"
dpkg-deb -e "$deb" "$x/DEBIAN"
grep -qx /etc/default/cunbo-review "$x/DEBIAN/conffiles" || fail "/etc/default/cunbo-review is not a conffile"
cmp -s "$x/usr/lib/systemd/system/cunbo-review.service" "$(dirname "$0")/../../cunbo-review.service" || fail "unit differs from systemd/cunbo-review.service"
grep -q '^DynamicUser=yes' "$x/usr/lib/systemd/system/cunbo-review.service" || fail "unit has no DynamicUser"
# Nothing in the package may name a secret: credentials are the operator's.
! grep -qE '^[[:space:]]*AWS_SECRET_ACCESS_KEY=[^[:space:]]' "$x/etc/default/cunbo-review" || fail "the default file sets a secret"
for s in postinst prerm postrm; do sh -n "$x/DEBIAN/$s" || fail "$s is not valid sh"; done
"$x/usr/bin/cunbo-review" help >/dev/null 2>&1 || [ "$arch" != "$(dpkg --print-architecture)" ] || fail "the binary does not run"
echo "ok $deb"
