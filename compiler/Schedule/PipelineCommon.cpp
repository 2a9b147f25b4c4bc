//===- PipelineCommon.cpp - What the pipeline passes read from a module ---===//
#include "compiler/Schedule/PipelineCommon.h"
#include "compiler/Schedule/PipelinePasses.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace ingot;

FailureOr<ParallelLayout> ingot::readParallelLayout(ModuleOp module) {
  ParallelLayout layout;
  auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel");
  if (!parallel)
    return layout;
  auto read = [&](StringRef key, int64_t &out) -> LogicalResult {
    Attribute a = parallel.get(key);
    if (!a)
      return success();
    auto i = llvm::dyn_cast<IntegerAttr>(a);
    if (!i || i.getInt() < 1)
      return module.emitError() << "ingot.parallel." << key << " must be a positive integer";
    out = i.getInt();
    return success();
  };
  if (failed(read("stages", layout.stages)) || failed(read("data", layout.data)) ||
      failed(read("microbatches", layout.microbatches)) || failed(read("chunks", layout.chunks)))
    return failure();
  if (auto s = parallel.getAs<StringAttr>("schedule"))
    layout.schedule = s.getValue().str();
  return layout;
}

FailureOr<DeviceInfo> ingot::readDevice(ModuleOp module) {
  auto dict = module->getAttrOfType<DictionaryAttr>("ingot.device");
  if (!dict)
    return module.emitError("the pipeline passes need the device of the cluster map as "
                            "ingot.device on the module (ingotc --cluster writes it)");
  DeviceInfo d;
  if (auto m = dict.getAs<StringAttr>("model"))
    d.model = m.getValue().str();
  auto rate = [&](StringRef key, double &out) {
    if (auto f = dict.getAs<FloatAttr>(key); f && f.getValueAsDouble() > 0)
      out = f.getValueAsDouble();
  };
  rate("peak_flops", d.peakFlops);
  rate("hbm_bytes_per_second", d.hbmBytesPerSecond);
  rate("intra_node_bytes_per_second", d.intraNodeBytesPerSecond);
  rate("inter_node_bytes_per_second", d.interNodeBytesPerSecond);
  auto memory = dict.getAs<IntegerAttr>("memory_bytes");
  if (!memory || memory.getInt() <= 0)
    return module.emitError("ingot.device.memory_bytes must be a positive integer");
  d.memoryBytes = static_cast<uint64_t>(memory.getInt());
  if (auto n = dict.getAs<IntegerAttr>("devices_per_node"); n && n.getInt() > 0)
    d.devicesPerNode = n.getInt();
  if (auto n = dict.getAs<IntegerAttr>("nodes"); n && n.getInt() > 0)
    d.nodes = n.getInt();
  return d;
}

pipeline::PlanOp ingot::findPlan(ModuleOp module) {
  auto plans = module.getOps<pipeline::PlanOp>();
  return plans.empty() ? pipeline::PlanOp() : *plans.begin();
}
