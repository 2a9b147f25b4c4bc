//===- ClusterMap.h - Reading and checking a cluster map --------*- C++ -*-===//
//
// `ingotc --cluster map.json`: the JSON is parsed against runtime/schema/cluster.fbs (types,
// required fields, no unknown fields), then checked for meaning (positive sizes, a known
// schedule, P x D equal to the ranks the map has). Every problem is reported as
// `map.json:line:col: error: ...` or, for rules across fields, `map.json: error: ...`.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_CLUSTERMAP_CLUSTERMAP_H
#define INGOT_COMPILER_CLUSTERMAP_CLUSTERMAP_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ingot {

struct ClusterLayout {
  // 0 (or empty) where the map leaves the model's value.
  int64_t stages = 0, data = 0, microbatches = 0, chunks = 0;
  std::string schedule;
};

struct ClusterMap {
  std::string name;
  std::string deviceKind, deviceModel;
  uint64_t deviceMemoryBytes = 0;
  double peakBf16Flops = 0, hbmBytesPerSecond = 0;
  int64_t nodes = 1, devicesPerNode = 1;
  ClusterLayout layout;
  std::vector<uint8_t> binary; // the validated map in flatbuffers form, to embed

  int64_t ranks() const { return nodes * devicesPerNode; }
};

/// Parses and checks `json` (named `path` in messages). On failure returns nullopt and sets
/// `errors` to one message per line.
std::optional<ClusterMap> parseClusterMap(llvm::StringRef json, llvm::StringRef path,
                                          std::string &errors);

/// The layout after the map's overrides of the model's (stages, data, microbatches, schedule,
/// chunks); checks that P x D matches the map's ranks and that the schedule can run with M.
/// Returns an error message, or "" when the layout fits.
std::string checkLayout(const ClusterMap &map, int64_t &stages, int64_t &data,
                        int64_t &microbatches, std::string &schedule, int64_t &chunks);

} // namespace ingot

#endif // INGOT_COMPILER_CLUSTERMAP_CLUSTERMAP_H
