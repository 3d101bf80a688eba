#!/bin/sh
# Smoke-test a built bundle as shipped (make dist-test; CI runs it after the tests):
# headless, from a throwaway home and working directory, with nothing from the checkout or the
# venv on the path, so only what the bundle holds can make it pass.
set -eu
bundle=$(cd "${1:-dist/rig-attest}" && pwd)
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
cd "$home"
run() {
    env -i PATH=/usr/bin:/bin HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_STATE_HOME="$home/.state" \
        XDG_DATA_HOME="$home/.data" XDG_CACHE_HOME="$home/.cache" QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 "$@"
}
run "$bundle/attest" --version
# The warehouse store's driver and its bundled libpq load: a store that is not there is a clean
# "unreachable" (exit 2 with STORE_UNREACHABLE), not an import error.
out=$(run "$bundle/attest" store report --store postgresql://127.0.0.1:1/attest 2>&1) && exit 1 || true
case "$out" in *STORE_UNREACHABLE*) echo "attest store: psycopg and libpq load";; *) echo "$out"; exit 1;; esac
# The self-test bounds each of its steps; the outer limit catches a hang while shutting down.
run timeout 600 "$bundle/attest-gui" --self-test
if [ -x "$bundle/install.sh" ]; then
    # The desktop integration installs, and the commands work through its links.
    run env PREFIX="$home/.local" sh "$bundle/install.sh" >/dev/null
    run "$home/.local/bin/attest" --version >/dev/null
    if command -v desktop-file-validate >/dev/null 2>&1; then
        desktop-file-validate "$home/.local/share/applications/org.rigattest.RigAttest.desktop"
    fi
    if command -v appstreamcli >/dev/null 2>&1; then
        metainfo="$home/.local/share/metainfo/org.rigattest.RigAttest.metainfo.xml"
        out=$(appstreamcli validate --no-net "$metainfo" 2>&1) || { echo "$out"; exit 1; }
    fi
    echo "install.sh: menu entry, metainfo, icons and command links in place"
fi
echo "dist-test OK: $(du -sh "$bundle" | cut -f1) in $bundle"
