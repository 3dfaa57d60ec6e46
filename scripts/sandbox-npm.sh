#!/bin/sh
# Install the npm tools of the sandbox's checks (sandbox/package.json,
# pinned by sandbox/package-lock.json) into sandbox/node_modules, which git
# ignores: the OpenAPI validator that make check runs on hcache-sandbox's
# document. Does nothing when they are installed from the same lock file.
# npm comes with Node.js (scripts/deps.sh test installs it).
set -eu
cd "$(dirname "$0")/../sandbox"
stamp=node_modules/.installed-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "sandbox-npm.sh: npm is missing (scripts/deps.sh test installs nodejs and npm)" >&2
    exit 1
fi
# npm ci installs exactly the lock file; --prefer-offline reuses npm's
# cache when it has the packages.
npm ci --prefer-offline --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
