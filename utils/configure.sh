# Sourced by the scripts in utils/: configures the build tree with clang-22 and lld, the
# toolchain that matches Debian's LLVM 22 and builds the libFuzzer targets.
ingot_configure() {
  local root=$1 build=$2
  local launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
  cmake -G Ninja -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 -DLLVM_USE_LINKER=lld \
    "${launcher[@]}" >/dev/null
}
