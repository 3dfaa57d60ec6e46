#!/bin/sh
# Install the npm packages of hcache-sandbox (sandbox/package.json, pinned
# by sandbox/package-lock.json) into sandbox/node_modules, which git
# ignores: swagger-ui-dist, whose files the server serves at /swagger-ui
# (Debian does not ship Swagger UI), and for make check the OpenAPI
# validator and playwright-core, which drives Debian's chromium. Does
# nothing when they are installed from the same lock file.
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
# cache when it has the packages. --ignore-scripts: none of these needs an
# install script, and swagger-ui-dist's dependency @scarf/scarf would
# otherwise report the install to its makers over the network (so would
# playwright's, to download browsers; playwright-core has none, and the
# tests use /usr/bin/chromium).
SCARF_ANALYTICS=false npm ci --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
