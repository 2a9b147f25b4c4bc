#!/usr/bin/env bash
# The one test command: installs what is missing, configures, builds and runs every test suite
# (lit, GoogleTest, the fuzzers for a bounded time). Used by the README and by .ci/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${INGOT_BUILD_DIR:-$root/build}

bash "$root/utils/setup.sh"
source "$root/utils/configure.sh"
ingot_configure "$root" "$build"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure --timeout 1500
