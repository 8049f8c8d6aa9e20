#!/usr/bin/env bash
# Builds a Debian package of maildedup with dpkg-deb: the release binary, every man page
# (`maildedup man --dir`), completions for bash, zsh and fish, the systemd units and the
# example config, and the licences. Writes target/debian/maildedup_VERSION_ARCH.deb and
# prints its path.
#
# Usage: bash contrib/deb/build.sh [--no-build]   (--no-build: use target/release as it is)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${1:-}" = "--no-build" ] || cargo build --release --locked --quiet
bin=target/release/maildedup
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
root=target/debian/root
rm -rf "$root"
install -D -m 0755 "$bin" "$root/usr/bin/maildedup"
"$bin" man --dir "$root/usr/share/man/man1" >/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
"$bin" completions bash > "$root/usr/share/bash-completion/completions/maildedup"
"$bin" completions zsh > "$root/usr/share/zsh/vendor-completions/_maildedup"
"$bin" completions fish > "$root/usr/share/fish/vendor_completions.d/maildedup.fish"
# User units: `systemctl --user enable --now maildedup-nightly.timer`.
install -d "$root/usr/lib/systemd/user"
for unit in contrib/systemd/*.service contrib/systemd/*.timer; do
    sed 's#%h/\.cargo/bin/maildedup#/usr/bin/maildedup#g' "$unit" \
        > "$root/usr/lib/systemd/user/$(basename "$unit")"
done
install -D -m 0644 contrib/maildedup.toml "$root/usr/share/doc/maildedup/examples/maildedup.toml"
install -D -m 0644 contrib/cron/maildedup.crontab "$root/usr/share/doc/maildedup/examples/maildedup.crontab"
install -D -m 0644 README.md "$root/usr/share/doc/maildedup/README.md"
for d in docs/*.md; do install -D -m 0644 "$d" "$root/usr/share/doc/maildedup/$d"; done
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: maildedup"
    echo
    echo "Files: *"
    echo "License: MIT or Apache-2.0"
    echo
    sed 's/^$/./; s/^/ /' LICENSE-MIT
} > "$root/usr/share/doc/maildedup/copyright"
size=$(du -sk "$root" | cut -f1)
install -d "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: maildedup
Version: $version
Architecture: $arch
Maintainer: maildedup developers <maildedup@example.invalid>
Installed-Size: $size
Depends: libc6
Section: mail
Priority: optional
Homepage: https://example.invalid/maildedup
Description: find duplicate mail in Maildir and mbox stores, move extras aside losslessly
 maildedup scans Maildir, Maildir++ and mbox stores, groups copies of one message by
 Message-ID and a hash of what the author wrote, explains when and why the duplicates
 appeared, and moves the extra copies into a quarantine Maildir with a manifest, from
 which restore puts them back byte for byte. It never deletes mail.
CONTROL
out=target/debian/maildedup_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
