//===- Driver.cpp - ingotc's pipeline stages: --emit=pipeline and --emit=schedule ===//
#include "compiler/Schedule/Driver.h"
#include "compiler/Schedule/PipelinePasses.h"
#include "compiler/Schedule/Report.h"

#include "cluster_generated.h"

#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;

DictionaryAttr ingot::deviceAttr(MLIRContext *context, const ClusterMap &map) {
  Builder b(context);
  SmallVector<NamedAttribute> entries = {
      b.getNamedAttr("model", b.getStringAttr(map.deviceModel)),
      b.getNamedAttr("kind", b.getStringAttr(map.deviceKind)),
      b.getNamedAttr("memory_bytes",
                     b.getI64IntegerAttr(static_cast<int64_t>(map.deviceMemoryBytes))),
      b.getNamedAttr("peak_flops", b.getF64FloatAttr(map.peakBf16Flops)),
      b.getNamedAttr("hbm_bytes_per_second", b.getF64FloatAttr(map.hbmBytesPerSecond)),
      b.getNamedAttr("nodes", b.getI64IntegerAttr(map.nodes)),
      b.getNamedAttr("devices_per_node", b.getI64IntegerAttr(map.devicesPerNode)),
  };
  // The links are only in the validated binary form of the map.
  const cluster::ClusterMap *root = cluster::GetClusterMap(map.binary.data());
  if (const cluster::Links *links = root->links()) {
    if (links->intra_node())
      entries.push_back(b.getNamedAttr("intra_node_bytes_per_second",
                                       b.getF64FloatAttr(links->intra_node()->bytes_per_second())));
    if (links->inter_node())
      entries.push_back(b.getNamedAttr("inter_node_bytes_per_second",
                                       b.getF64FloatAttr(links->inter_node()->bytes_per_second())));
  }
  return b.getDictionaryAttr(entries);
}

LogicalResult ingot::planPipeline(ModuleOp module, const ClusterMap &map) {
  // These errors name their cause; the whole module printed after them would bury it.
  module.getContext()->printOpOnDiagnostic(false);
  // A layout the schedule cannot run is the map's (or the parallel section's) fault: say so
  // before any pass runs, naming the map.
  if (auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel")) {
    auto get = [&](StringRef key) {
      auto a = parallel.getAs<IntegerAttr>(key);
      return a ? a.getInt() : int64_t(1);
    };
    auto name = parallel.getAs<StringAttr>("schedule");
    std::optional<sched::Kind> kind = sched::parseKind(name ? name.getValue() : "1f1b");
    if (kind) {
      std::string problem = sched::checkLayout(
          {*kind, get("stages"), get("chunks"), get("microbatches")});
      if (!problem.empty())
        return module.emitError() << "the layout of cluster map '" << map.name
                                  << "' and the model's parallel section: " << problem;
    }
  }
  module->setAttr("ingot.device", deviceAttr(module.getContext(), map));
  PassManager pm(module.getContext());
  pm.addPass(createPipelinePartition());
  pm.addPass(createPipelineSchedule());
  pm.addPass(createCollectiveInsert());
  return pm.run(module);
}

std::string ingot::writeSchedule(ModuleOp module, llvm::ArrayRef<int64_t> ranks,
                                 llvm::raw_ostream &trace, llvm::raw_ostream &table) {
  pipeline::PlanOp plan = findPlan(module);
  if (!plan)
    return "internal error: no pipeline.plan to simulate";
  std::vector<std::vector<sched::Step>> programs;
  std::string error;
  std::optional<sched::PlanSummary> summary = summarizePlan(module, plan, programs, error);
  if (!summary)
    return error;
  int64_t numRanks = summary->layout.stages * summary->data;
  for (int64_t r : ranks)
    if (r < 0 || r >= numRanks)
      return llvm::formatv("--trace-ranks: rank {0} is not one of the layout's {1} ranks (0 to "
                           "{2})",
                           r, numRanks, numRanks - 1)
          .str();
  std::optional<sched::Timeline> timeline =
      sched::simulate(summary->layout, programs, summary->costs, error);
  if (!timeline)
    return error;
  sched::writeTable(*summary, *timeline, table);
  sched::writeChromeTrace(*summary, *timeline, ranks, trace);
  return "";
}
