#!/bin/sh
# Install this Rig Attest bundle for the current user, where it lies (nothing is copied but the
# menu entry, metainfo and icons): ~/.local/bin/attest-gui and ~/.local/bin/attest, and
# "Rig Attest" in the desktop's application menu. PREFIX=/usr/local (as root) installs for all.
# Undo with: sh install.sh --uninstall
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-$HOME/.local}
app=org.rigattest.RigAttest
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$prefix/bin/attest-gui" "$prefix/bin/attest" "$prefix/share/applications/$app.desktop" \
          "$prefix/share/metainfo/$app.metainfo.xml"
    find "$prefix/share/icons/hicolor" -name "$app.*" -delete 2>/dev/null || true
    echo "uninstalled Rig Attest from $prefix"
    exit 0
fi
mkdir -p "$prefix/bin" "$prefix/share/applications" "$prefix/share/metainfo" "$prefix/share/icons"
ln -sf "$here/attest-gui" "$prefix/bin/attest-gui"
ln -sf "$here/attest" "$prefix/bin/attest"
# The menu entry runs this bundle by its full path, so it works without ~/.local/bin on PATH.
sed "s|^Exec=attest-gui|Exec=\"$here/attest-gui\"|" "$here/share/applications/$app.desktop" \
    > "$prefix/share/applications/$app.desktop"
cp "$here/share/metainfo/$app.metainfo.xml" "$prefix/share/metainfo/"
cp -R "$here/share/icons/hicolor" "$prefix/share/icons/"
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$prefix/share/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" 2>/dev/null || true
fi
echo "installed Rig Attest: $prefix/bin/attest-gui, $prefix/bin/attest, and a menu entry"
