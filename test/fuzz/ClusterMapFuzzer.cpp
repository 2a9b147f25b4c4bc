//===- ClusterMapFuzzer.cpp - libFuzzer target for the cluster-map reader --===//
//
// Arbitrary bytes through parseClusterMap and checkLayout: errors are expected, crashes, hangs
// and sanitizer reports are not.
//
//===----------------------------------------------------------------------===//
#include "compiler/ClusterMap/ClusterMap.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string errors;
  auto map = ingot::parseClusterMap(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.json", errors);
  if (!map)
    return 0;
  int64_t stages = 1, dataParallel = 1, microbatches = 1, chunks = 1;
  std::string schedule = "1f1b";
  (void)ingot::checkLayout(*map, stages, dataParallel, microbatches, schedule, chunks);
  return 0;
}
