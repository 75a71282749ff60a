#!/usr/bin/env bash
# Command (1): install what is missing, build, and start the whole platform on this machine.
# Arguments are passed to `carillon up` (e.g. --state-dir DIR --port-offset N).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCARILLON_TESTS=OFF -DCARILLON_BENCH=OFF >/dev/null
cmake --build build/release --target carillon -j "$(nproc)"
# The portal and web client (web/dist), served by `carillon up` at /.
(cd web && npm ci --no-audit --no-fund && npm run build)
exec build/release/src/carillon up --web-root web/dist "$@"
