#!/usr/bin/env bash
# Installs missing packages, then builds and runs every test: the release build, then the
# AddressSanitizer and ThreadSanitizer builds (stress counts scaled down there, never skipped).
# WEFT_TEST_PRESETS="release" limits the run to some presets.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
jobs=$(nproc)
status=0
for preset in ${WEFT_TEST_PRESETS:-release asan tsan}; do
  echo "=== weft tests: $preset ==="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  # TSan's shadow memory needs a fixed address-space layout on kernels with many
  # mmap random bits; setarch -R turns off randomisation for the test processes only.
  runner=()
  [ "$preset" = tsan ] && runner=(setarch "$(uname -m)" -R)
  "${runner[@]}" ctest --preset "$preset" -j "$jobs" || status=1
done
exit $status
