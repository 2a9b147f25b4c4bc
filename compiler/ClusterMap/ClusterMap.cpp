//===- ClusterMap.cpp - Reading and checking a cluster map ----------------===//
#include "compiler/ClusterMap/ClusterMap.h"

#include "cluster_generated.h"
#include "compiler/ClusterMap/ClusterSchema.inc" // kClusterSchema: runtime/schema/cluster.fbs

#include "flatbuffers/idl.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <regex>

using namespace ingot;

namespace {

const char *kSchedules[] = {"gpipe", "1f1b", "interleaved", "zb-h1"};

bool knownSchedule(llvm::StringRef s) { return llvm::is_contained(kSchedules, s); }

/// flatbuffers reports "<name>:LINE: COL: error: MESSAGE"; turn it into the usual
/// "path:LINE:COL: error: MESSAGE".
std::string reformat(const std::string &error, llvm::StringRef path) {
  static const std::regex located(R"(^.*?:(\d+):\s*(\d+):\s*error:\s*(.*)$)");
  std::string out;
  for (llvm::StringRef line : llvm::split(llvm::StringRef(error).trim(), '\n')) {
    std::smatch m;
    std::string text = line.str();
    if (std::regex_match(text, m, located))
      out += llvm::formatv("{0}:{1}:{2}: error: {3}\n", path, m[1].str(), m[2].str(), m[3].str())
                 .str();
    else
      out += (path + ": error: " + line.ltrim() + "\n").str();
  }
  return out;
}

} // namespace

std::optional<ClusterMap> ingot::parseClusterMap(llvm::StringRef json, llvm::StringRef path,
                                                 std::string &errors) {
  flatbuffers::IDLOptions options;
  options.skip_unexpected_fields_in_json = false;
  flatbuffers::Parser parser(options);
  if (!parser.Parse(kClusterSchema)) {
    errors = "internal error: the embedded cluster schema does not parse: " + parser.error_ + "\n";
    return std::nullopt;
  }
  std::string text = json.str(); // Parse needs a NUL-terminated string
  if (text.find('\0') != std::string::npos) {
    errors = (path + ": error: the file contains a NUL byte; a cluster map is JSON text\n").str();
    return std::nullopt;
  }
  std::string name = path.str();
  if (!parser.Parse(text.c_str(), nullptr, name.c_str())) {
    errors = reformat(parser.error_, path);
    return std::nullopt;
  }
  ClusterMap map;
  map.binary.assign(parser.builder_.GetBufferPointer(),
                    parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  flatbuffers::Verifier verifier(map.binary.data(), map.binary.size());
  if (!cluster::VerifyClusterMapBuffer(verifier)) {
    errors = (path + ": error: internal error: the parsed map does not verify\n").str();
    return std::nullopt;
  }
  const cluster::ClusterMap *root = cluster::GetClusterMap(map.binary.data());
  map.name = root->name()->str();
  map.deviceKind = root->device()->kind()->str();
  map.deviceModel = root->device()->model()->str();
  map.deviceMemoryBytes = root->device()->memory_bytes();
  map.peakBf16Flops = root->device()->peak_bf16_flops();
  map.hbmBytesPerSecond = root->device()->hbm_bytes_per_second();
  map.nodes = root->nodes();
  map.devicesPerNode = root->devices_per_node();
  if (const cluster::Layout *layout = root->layout()) {
    map.layout.stages = layout->stages();
    map.layout.data = layout->data();
    map.layout.microbatches = layout->microbatches();
    map.layout.chunks = layout->chunks();
    if (layout->schedule())
      map.layout.schedule = layout->schedule()->str();
  }

  // Meaning, field by field.
  std::string problems;
  auto problem = [&](const llvm::Twine &message) {
    problems += (path + ": error: " + message + "\n").str();
  };
  if (map.deviceKind != "gpu" && map.deviceKind != "cpu")
    problem("device.kind must be \"gpu\" or \"cpu\", found \"" + map.deviceKind + "\"");
  if (map.deviceMemoryBytes == 0)
    problem("device.memory_bytes must be positive (the memory one rank may use)");
  if (map.deviceKind == "gpu" && !(map.peakBf16Flops > 0))
    problem("device.peak_bf16_flops must be positive for a gpu");
  if (!std::isfinite(map.peakBf16Flops) || !std::isfinite(map.hbmBytesPerSecond) ||
      map.peakBf16Flops < 0 || map.hbmBytesPerSecond < 0)
    problem("device rates must be finite and not negative");
  if (map.nodes < 1)
    problem("nodes must be at least 1");
  if (map.devicesPerNode < 1)
    problem("devices_per_node must be at least 1");
  const ClusterLayout &l = map.layout;
  if (l.stages < 0 || l.data < 0 || l.microbatches < 0 || l.chunks < 0)
    problem(llvm::formatv("layout sizes must be positive (or left out), found stages {0}, data "
                          "{1}, microbatches {2}, chunks {3}",
                          l.stages, l.data, l.microbatches, l.chunks));
  if (!l.schedule.empty() && !knownSchedule(l.schedule))
    problem("layout.schedule must be \"gpipe\", \"1f1b\", \"interleaved\" or \"zb-h1\", found \"" +
            l.schedule + "\"");
  if (!problems.empty()) {
    errors = problems;
    return std::nullopt;
  }
  return map;
}

std::string ingot::checkLayout(const ClusterMap &map, int64_t &stages, int64_t &data,
                               int64_t &microbatches, std::string &schedule, int64_t &chunks) {
  const ClusterLayout &l = map.layout;
  if (l.stages)
    stages = l.stages;
  if (l.data)
    data = l.data;
  if (l.microbatches)
    microbatches = l.microbatches;
  if (!l.schedule.empty())
    schedule = l.schedule;
  if (l.chunks)
    chunks = l.chunks;
  if (stages * data != map.ranks())
    return llvm::formatv("stages x data = {0} x {1} = {2} ranks, but the map '{3}' has {4} "
                         "({5} node{6} x {7})",
                         stages, data, stages * data, map.name, map.ranks(), map.nodes,
                         map.nodes == 1 ? "" : "s", map.devicesPerNode)
        .str();
  if (chunks > 1 && schedule != "interleaved")
    return llvm::formatv("chunks = {0} needs schedule \"interleaved\", found \"{1}\"", chunks,
                         schedule)
        .str();
  if (stages > 1 && schedule != "gpipe" && microbatches < stages)
    return llvm::formatv("schedule \"{0}\" needs at least as many micro-batches as stages: "
                         "microbatches = {1} < stages = {2}",
                         schedule, microbatches, stages)
        .str();
  return "";
}
