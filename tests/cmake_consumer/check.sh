#!/usr/bin/env bash
# Installs weft from the build tree into a scratch prefix, then builds and runs a consumer
# with find_package(weft), and another with add_subdirectory(weft).
set -euo pipefail
source_dir=$1 build_dir=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir/tests/cmake_consumer" -B "$scratch/installed" \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/installed" -j2 >/dev/null
"$scratch/installed/consumer"
echo "find_package(weft): ok"
cmake -S "$source_dir/tests/cmake_consumer" -B "$scratch/subdir" -DWEFT_SOURCE_DIR="$source_dir" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/subdir" -j2 >/dev/null
"$scratch/subdir/consumer"
echo "add_subdirectory(weft): ok"
