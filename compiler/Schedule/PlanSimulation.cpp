//===- PlanSimulation.cpp - A scheduled pipeline.plan, as the simulator sees it ===//
#include "compiler/Schedule/PipelineCommon.h"
#include "compiler/Schedule/PipelinePasses.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace ingot;
using namespace ingot::pipeline;

std::optional<sched::PlanSummary>
ingot::summarizePlan(ModuleOp module, PlanOp plan,
                     std::vector<std::vector<sched::Step>> &programs, std::string &error) {
  std::optional<sched::Kind> kind =
      plan.getSchedule() ? sched::parseKind(*plan.getSchedule()) : std::nullopt;
  if (!kind) {
    error = "the pipeline.plan is not scheduled (run pipeline-schedule)";
    return std::nullopt;
  }
  sched::PlanSummary summary;
  summary.layout = {*kind, plan.getStages(), plan.getChunks(), plan.getMicrobatches()};
  if (auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel"))
    if (auto d = parallel.getAs<IntegerAttr>("data"))
      summary.data = std::max<int64_t>(1, d.getInt());
  if (auto device = module->getAttrOfType<DictionaryAttr>("ingot.device")) {
    if (auto n = device.getAs<IntegerAttr>("devices_per_node"))
      summary.devicesPerNode = std::max<int64_t>(1, n.getInt());
    if (auto m = device.getAs<StringAttr>("model"))
      summary.deviceName = m.getValue().str();
    if (auto m = device.getAs<IntegerAttr>("memory_bytes"))
      summary.deviceMemoryBytes = double(m.getInt());
  }
  const int64_t p = plan.getStages();
  summary.stageStaticBytes.assign(p, 0);
  summary.stageWorkspaceBytes.assign(p, 0);
  for (ChunkOp chunk : plan.getChunkOps()) {
    summary.costs.push_back({chunk.getForwardTime().convertToDouble(),
                             chunk.getBackwardInputTime().convertToDouble(),
                             chunk.getBackwardWeightTime().convertToDouble(),
                             chunk.getTransferTime().convertToDouble(),
                             double(chunk.getActivationBytes()),
                             chunk.getGradReduceTime().convertToDouble(),
                             chunk.getOptimizerTime().convertToDouble()});
    std::string label =
        chunk.getEndLayer() - chunk.getFirstLayer() == 1
            ? llvm::formatv("layer {0}", chunk.getFirstLayer()).str()
            : llvm::formatv("layers {0}-{1}", chunk.getFirstLayer(), chunk.getEndLayer() - 1)
                  .str();
    if (chunk.getEmbedding())
      label += " + embedding";
    if (chunk.getHead())
      label += " + head";
    summary.chunkLabels.push_back(label);
    int64_t s = chunk.getStage();
    summary.stageStaticBytes[s] += kStaticCopies * double(chunk.getParamBytes());
    if (auto w = chunk->getAttrOfType<IntegerAttr>("workspace_bytes"))
      summary.stageWorkspaceBytes[s] = std::max(summary.stageWorkspaceBytes[s], double(w.getInt()));
  }
  programs.assign(p, {});
  for (ProgramOp program : plan.getProgramOps())
    for (Operation &op : program.getBody().front()) {
      std::optional<sched::StepKind> kind;
      if (isa<ForwardOp>(op))
        kind = sched::StepKind::Forward;
      else if (isa<BackwardOp>(op))
        kind = sched::StepKind::Backward;
      else if (isa<BackwardInputOp>(op))
        kind = sched::StepKind::BackwardInput;
      else if (isa<BackwardWeightOp>(op))
        kind = sched::StepKind::BackwardWeight;
      if (!kind)
        continue;
      programs[program.getStage()].push_back(
          {*kind, static_cast<int32_t>(op.getAttrOfType<IntegerAttr>("microbatch").getInt()),
           static_cast<int32_t>(op.getAttrOfType<IntegerAttr>("chunk").getInt())});
    }
  return summary;
}
