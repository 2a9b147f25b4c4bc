//===- PipelinePartition.cpp - pipeline-partition -------------------------===//
//
// Cuts the training step into stages x chunks. The work is measured in layers because that is
// the unit a person thinks in ("48 layers on 8 stages") and the unit ingot-unroll-blocks tags;
// each layer's time comes from the cost interface on the map's device, so an uneven model
// (a heavy head, an embedding on the first stage) is still balanced.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/PipelineCommon.h"
#include "compiler/Schedule/PipelinePasses.h"

#include "dialects/Ingot/IngotOps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ingot {
#define GEN_PASS_DEF_PIPELINEPARTITION
#include "compiler/Schedule/PipelinePasses.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

/// A run of ops: one layer, or the ops before the first layer (embedding) or after the last
/// (head).
struct Unit {
  int64_t layer = -1; // -1: embedding or head
  bool embedding = false, head = false;
  double forward = 0, backwardInput = 0, backwardWeight = 0;
  double activationBytes = 0, workspaceBytes = 0;
  llvm::SetVector<StringAttr> params;
  std::vector<Operation *> forwardOps;
  std::vector<std::pair<Operation *, double>> kept; // forward results its backward reads
  double total() const { return forward + backwardInput + backwardWeight; }
};

struct PartitionPass : public ingot::impl::PipelinePartitionBase<PartitionPass> {
  void runOnOperation() override;
};

std::string where(Location loc) {
  if (auto file = llvm::dyn_cast<FileLineColLoc>(loc))
    return llvm::formatv(" at {0}:{1}:{2}", llvm::sys::path::filename(file.getFilename().getValue()),
                         file.getLine(), file.getColumn())
        .str();
  return "";
}

} // namespace

void PartitionPass::runOnOperation() {
  ModuleOp module = getOperation();
  FailureOr<ParallelLayout> layoutOr = readParallelLayout(module);
  FailureOr<DeviceInfo> deviceOr = readDevice(module);
  if (failed(layoutOr) || failed(deviceOr))
    return signalPassFailure();
  const ParallelLayout &layout = *layoutOr;
  const DeviceInfo &device = *deviceOr;
  auto fb = module.lookupSymbol<func::FuncOp>("forward_backward");
  if (!fb) {
    module.emitError("pipeline-partition needs func.func @forward_backward (run ingot-autodiff "
                     "first)");
    return signalPassFailure();
  }
  if (findPlan(module)) {
    module.emitError("the module is already partitioned (it has a pipeline.plan)");
    return signalPassFailure();
  }
  SymbolTable symbols(module);

  // Units, in forward order: embedding, the layers, head.
  std::vector<Operation *> forwardOps, backwardOps;
  for (Operation &op : fb.getBody().front().without_terminator())
    (op.hasAttr("ingot.grad") ? backwardOps : forwardOps).push_back(&op);
  auto layerOf = [](Operation *op) -> std::optional<int64_t> {
    if (auto l = op->getAttrOfType<IntegerAttr>("ingot.layer"))
      return l.getInt();
    return std::nullopt;
  };
  auto firstLayered = llvm::find_if(forwardOps, [&](Operation *op) { return layerOf(op); });
  auto lastLayered = llvm::find_if(llvm::reverse(forwardOps),
                                   [&](Operation *op) { return layerOf(op).has_value(); });
  if (firstLayered == forwardOps.end()) {
    module.emitError("pipeline-partition found no layers (ops tagged ingot.layer by "
                     "ingot-unroll-blocks); a model needs a repeated block to be split into "
                     "stages");
    return signalPassFailure();
  }
  size_t firstIndex = firstLayered - forwardOps.begin();
  size_t lastIndex = forwardOps.size() - 1 - (lastLayered - forwardOps.rbegin());
  std::vector<Unit> units;
  DenseMap<Operation *, size_t> unitOf;
  units.push_back({});
  units.back().embedding = true;
  for (size_t i = 0; i < forwardOps.size(); ++i) {
    Operation *op = forwardOps[i];
    std::optional<int64_t> layer = layerOf(op);
    if (i > lastIndex && !units.back().head) {
      units.push_back({});
      units.back().head = true;
    } else if (layer && i >= firstIndex && (units.back().layer != *layer || units.back().embedding)) {
      units.push_back({});
      units.back().layer = *layer;
    }
    unitOf[op] = units.size() - 1;
    units.back().forwardOps.push_back(op);
  }
  if (!units.back().head) { // a model whose last op is a layer's: an empty head
    units.push_back({});
    units.back().head = true;
  }
  const size_t headUnit = units.size() - 1;

  // Backward ops come in reverse unit order, each VJP's ops together. Autodiff does not tag
  // them with layers, but a VJP reads the forward values of its own layer: its parameters and
  // saved activations. So the walk goes down from the head and moves to the unit of any such
  // value an op reads. A unit's outputs do not count: the next layer's backward reads its input
  // too (for its weight gradient). An op that reads no such value (a cotangent sum) stays with
  // the unit before it. (The embedding's backward may land on the first layer; they share a
  // chunk either way.)
  {
    DenseSet<Value> outputs; // forward values read by the forward ops of a later unit
    for (Operation *op : forwardOps)
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (auto it = unitOf.find(def); it != unitOf.end() && it->second < unitOf[op])
            outputs.insert(operand);
    size_t current = headUnit;
    for (Operation *op : backwardOps) {
      std::optional<size_t> latest;
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (auto it = unitOf.find(def);
              it != unitOf.end() && !def->hasAttr("ingot.grad") && !outputs.contains(operand))
            latest = std::max(latest.value_or(0), it->second);
      if (latest && *latest < current)
        current = *latest;
      unitOf[op] = current;
    }
  }

  // Costs.
  auto bytesOf = [](Type type) -> double {
    auto t = llvm::dyn_cast<RankedTensorType>(type);
    if (!t)
      return 0;
    return double(t.getNumElements()) * ((t.getElementType().getIntOrFloatBitWidth() + 7) / 8);
  };
  for (auto &[op, u] : unitOf) {
    Unit &unit = units[u];
    double time = 0;
    if (auto cost = llvm::dyn_cast<IngotCostOpInterface>(op))
      time = std::max(double(cost.getFlops()) / device.peakFlops,
                      double(cost.getBytesMoved()) / device.hbmBytesPerSecond);
    StringRef grad;
    if (auto g = op->getAttrOfType<StringAttr>("ingot.grad"))
      grad = g.getValue();
    (grad.empty() ? unit.forward : grad == "weight" ? unit.backwardWeight : unit.backwardInput) +=
        time;
    if (auto ref = llvm::dyn_cast<ParamRefOp>(op)) {
      unit.params.insert(ref.getNameAttr().getAttr());
      continue;
    }
    for (Value r : op->getResults())
      unit.workspaceBytes = std::max(unit.workspaceBytes, bytesOf(r.getType()));
  }

  // What a micro-batch's forward leaves for its backward: each forward value a backward op reads
  // (directly or through reshapes, which are views), counted once, on the latest unit whose
  // backward reads it: that unit's stage holds it until its backward (a layer's input, read by
  // its weight gradient, is held by the layer's stage, not the one that computed it).
  for (Operation *op : forwardOps) {
    if (llvm::isa<ParamRefOp, ConstantOp, ReshapeOp>(op))
      continue;
    for (Value r : op->getResults()) {
      std::optional<size_t> reader;
      SmallVector<Value> views = {r};
      while (!views.empty()) {
        Value v = views.pop_back_val();
        for (Operation *user : v.getUsers()) {
          if (llvm::isa<ReshapeOp>(user) && !user->hasAttr("ingot.grad"))
            views.push_back(user->getResult(0));
          else if (user->hasAttr("ingot.grad") && unitOf.count(user))
            reader = std::max(reader.value_or(0), unitOf[user]);
        }
      }
      if (reader) {
        units[*reader].activationBytes += bytesOf(r.getType());
        units[*reader].kept.push_back({op, bytesOf(r.getType())});
      }
    }
  }

  // The cut: P * v chunks of consecutive layers, minimizing the slowest chunk.
  const int64_t numLayers = static_cast<int64_t>(units.size()) - 2;
  const int64_t numChunks = layout.stages * layout.chunks;
  if (numLayers < numChunks) {
    module.emitError() << "the model has " << numLayers << " layer" << (numLayers == 1 ? "" : "s")
                       << ", which cannot be split into " << layout.stages << " stage"
                       << (layout.stages == 1 ? "" : "s") << " x " << layout.chunks
                       << " chunk" << (layout.chunks == 1 ? "" : "s") << " = " << numChunks
                       << " chunks of at least one layer each";
    return signalPassFailure();
  }
  std::vector<double> prefix(numLayers + 1, 0);
  for (int64_t i = 0; i < numLayers; ++i)
    prefix[i + 1] = prefix[i] + units[i + 1].total();
  auto chunkCost = [&](int64_t a, int64_t b) {
    return prefix[b] - prefix[a] + (a == 0 ? units[0].total() : 0) +
           (b == numLayers ? units[headUnit].total() : 0);
  };
  // Memory as a constraint of the cut, where a chunk is a whole stage (v = 1): its parameters
  // with gradients and moments, its activations times the micro-batches the schedule keeps in
  // flight on that stage (a property of the step order alone), and its largest buffer. With
  // v > 1 a stage's memory sums several chunks and is only checked after the cut.
  std::vector<double> unitParamBytes(units.size(), 0);
  for (size_t u = 0; u < units.size(); ++u)
    for (StringAttr name : units[u].params)
      if (auto param = symbols.lookup<ParamOp>(name))
        unitParamBytes[u] += bytesOf(param.getTensorType());
  std::vector<int64_t> inFlight(layout.stages, 1);
  std::optional<sched::Kind> scheduleKind = sched::parseKind(layout.schedule);
  if (scheduleKind) {
    sched::Layout order{*scheduleKind, layout.stages, layout.chunks, layout.microbatches};
    std::string ignored;
    if (sched::checkLayout(order).empty())
      if (auto t = sched::simulate(order, sched::buildPrograms(order),
                                   std::vector<sched::ChunkCost>(numChunks), ignored))
        inFlight = t->peakInFlight;
  }
  auto unitRange = [&](int64_t a, int64_t b) { // units of layers [a, b) with embedding and head
    std::pair<size_t, size_t> r{size_t(a) + 1, size_t(b) + 1};
    if (a == 0)
      r.first = 0;
    if (b == numLayers)
      r.second = headUnit + 1;
    return r;
  };
  // Prefix sums over units, and a sparse table for the largest buffer of a range, so the dynamic
  // program asks for a chunk's memory in constant time (models of hundreds of layers).
  std::vector<double> paramPrefix(units.size() + 1, 0), activationPrefix(units.size() + 1, 0);
  for (size_t u = 0; u < units.size(); ++u) {
    paramPrefix[u + 1] = paramPrefix[u] + unitParamBytes[u];
    activationPrefix[u + 1] = activationPrefix[u] + units[u].activationBytes;
  }
  std::vector<std::vector<double>> widest(1);
  for (const Unit &unit : units)
    widest[0].push_back(unit.workspaceBytes);
  for (size_t span = 1; 2 * span <= units.size(); span *= 2) {
    const std::vector<double> &prev = widest.back();
    std::vector<double> next(units.size() - 2 * span + 1);
    for (size_t u = 0; u < next.size(); ++u)
      next[u] = std::max(prev[u], prev[u + span]);
    widest.push_back(std::move(next));
  }
  auto chunkMemory = [&](int64_t a, int64_t b, int64_t chunk) {
    auto [first, end] = unitRange(a, b);
    size_t level = 0;
    while ((size_t(2) << level) <= end - first)
      ++level;
    double work = std::max(widest[level][first], widest[level][end - (size_t(1) << level)]);
    return kStaticCopies * (paramPrefix[end] - paramPrefix[first]) +
           double(inFlight[chunk % layout.stages]) *
               (activationPrefix[end] - activationPrefix[first]) +
           work;
  };
  const double inf = std::numeric_limits<double>::infinity();
  // best[k][j]: the slowest chunk when the first j layers form k chunks that each fit.
  auto cutLayers = [&](bool withMemory, std::vector<int64_t> &bounds) {
    std::vector<std::vector<double>> best(numChunks + 1, std::vector<double>(numLayers + 1, inf));
    std::vector<std::vector<int64_t>> cut(numChunks + 1, std::vector<int64_t>(numLayers + 1, -1));
    best[0][0] = 0;
    for (int64_t k = 1; k <= numChunks; ++k)
      for (int64_t j = k; j <= numLayers - (numChunks - k); ++j)
        for (int64_t i = k - 1; i < j; ++i) {
          if (best[k - 1][i] == inf)
            continue;
          if (withMemory && chunkMemory(i, j, k - 1) > double(device.memoryBytes))
            continue;
          double value = std::max(best[k - 1][i], chunkCost(i, j));
          if (value < best[k][j]) {
            best[k][j] = value;
            cut[k][j] = i;
          }
        }
    if (best[numChunks][numLayers] == inf)
      return false;
    bounds.assign(numChunks + 1, numLayers);
    for (int64_t k = numChunks; k > 0; --k)
      bounds[k - 1] = cut[k][bounds[k]];
    return true;
  };
  std::vector<int64_t> bounds;
  // Without a cut that fits, the fastest one, which the memory check below explains.
  if (!(layout.chunks == 1 && cutLayers(/*withMemory=*/true, bounds)))
    cutLayers(/*withMemory=*/false, bounds);

  // Unit -> chunk.
  std::vector<int64_t> chunkOfUnit(units.size(), 0);
  for (int64_t c = 0; c < numChunks; ++c)
    for (int64_t l = bounds[c]; l < bounds[c + 1]; ++l)
      chunkOfUnit[l + 1] = c;
  chunkOfUnit[0] = 0;
  chunkOfUnit[headUnit] = numChunks - 1;

  // The values each cut carries forward: forward values defined at or before chunk c and read
  // after it, by a forward or a backward op (a layer's weight gradient reads the layer's input).
  // And back: backward values of chunk c read by chunks before it (the gradients of those
  // inputs). Each stage reads its own parameters and constants and loads its own tokens and
  // targets.
  std::vector<SmallVector<Type>> boundary(numChunks), gradBoundary(numChunks);
  std::vector<double> boundaryBytes(numChunks, 0);
  for (Operation *op : forwardOps) {
    if (llvm::isa<ParamRefOp, ConstantOp>(op))
      continue;
    int64_t from = chunkOfUnit[unitOf[op]];
    for (Value r : op->getResults()) {
      int64_t to = from;
      for (Operation *user : r.getUsers())
        if (unitOf.count(user))
          to = std::max(to, chunkOfUnit[unitOf[user]]);
      for (int64_t c = from; c < to; ++c) {
        boundary[c].push_back(r.getType());
        boundaryBytes[c] += bytesOf(r.getType());
      }
    }
  }
  for (Operation *op : backwardOps) {
    if (llvm::isa<ConstantOp>(op))
      continue;
    int64_t from = chunkOfUnit[unitOf[op]];
    for (Value r : op->getResults()) {
      int64_t to = from;
      for (Operation *user : r.getUsers())
        if (unitOf.count(user))
          to = std::min(to, chunkOfUnit[unitOf[user]]);
      for (int64_t c = from; c > to; --c)
        gradBoundary[c].push_back(r.getType());
    }
  }

  // The chunks, their costs, and which chunks read each parameter.
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  auto plan = pipeline::PlanOp::create(b, module.getLoc(), layout.stages, layout.chunks,
                                       layout.microbatches);
  b.setInsertionPointToEnd(&plan.getBody().front());
  std::vector<double> paramBytes(numChunks, 0), activationBytes(numChunks, 0),
      workspace(numChunks, 0);
  std::vector<llvm::SetVector<StringAttr>> chunkParams(numChunks);
  std::vector<sched::ChunkCost> costs(numChunks);
  for (size_t u = 0; u < units.size(); ++u) {
    int64_t c = chunkOfUnit[u];
    costs[c].forward += units[u].forward;
    costs[c].backwardInput += units[u].backwardInput;
    costs[c].backwardWeight += units[u].backwardWeight;
    activationBytes[c] += units[u].activationBytes;
    workspace[c] = std::max(workspace[c], units[u].workspaceBytes);
    chunkParams[c].insert(units[u].params.begin(), units[u].params.end());
  }
  // The optimizer's time per parameter, from its ingot.adamw in @optimizer_step.
  llvm::DenseMap<StringAttr, double> adamTime;
  if (auto step = module.lookupSymbol<func::FuncOp>("optimizer_step"))
    step.walk([&](AdamWOp adam) {
      auto cost = llvm::cast<IngotCostOpInterface>(adam.getOperation());
      adamTime[adam.getNameAttr().getAttr()] =
          std::max(double(cost.getFlops()) / device.peakFlops,
                   double(cost.getBytesMoved()) / device.hbmBytesPerSecond);
    });
  // A ring all-reduce moves 2 (D - 1) / D of the gradient bytes over the slowest link of the
  // replicas (one node's NVLink when they fit in a node, the NIC otherwise); its latency grows
  // with log2(D), as the tree algorithms of NCCL and MPI at scale do (5 us a hop).
  auto allReduceTime = [&](int64_t stage, double bytes) {
    int64_t d = layout.data;
    if (d <= 1 || bytes <= 0)
      return 0.0;
    int64_t first = stage * d, last = first + d - 1;
    double bandwidth = first / device.devicesPerNode == last / device.devicesPerNode
                           ? device.intraNodeBytesPerSecond
                           : device.interNodeBytesPerSecond;
    return 2.0 * double(d - 1) / double(d) * bytes / bandwidth +
           2.0 * std::log2(double(d)) * 5e-6;
  };
  llvm::DenseMap<StringAttr, SmallVector<int64_t>> readers;
  for (int64_t c = 0; c < numChunks; ++c) {
    for (StringAttr p : chunkParams[c]) {
      if (auto param = symbols.lookup<ParamOp>(p))
        paramBytes[c] += bytesOf(param.getTensorType());
      readers[p].push_back(c);
      costs[c].optimizer += adamTime.lookup(p);
    }
    costs[c].gradReduce = allReduceTime(c % layout.stages, paramBytes[c]);
    int64_t s = c % layout.stages, next = (c + 1) % layout.stages;
    double bandwidth = device.linkBytesPerSecond(s, next, layout.data);
    costs[c].transfer = c + 1 < numChunks && s != next ? boundaryBytes[c] / bandwidth : 0;
    costs[c].activationBytes = activationBytes[c];
    auto chunk = pipeline::ChunkOp::create(
        b, module.getLoc(), b.getI64IntegerAttr(c), b.getI64IntegerAttr(s),
        b.getI64IntegerAttr(bounds[c]), b.getI64IntegerAttr(bounds[c + 1]),
        c == 0 ? b.getUnitAttr() : UnitAttr(), c == numChunks - 1 ? b.getUnitAttr() : UnitAttr(),
        b.getF64FloatAttr(costs[c].forward), b.getF64FloatAttr(costs[c].backwardInput),
        b.getF64FloatAttr(costs[c].backwardWeight), b.getF64FloatAttr(costs[c].transfer),
        b.getF64FloatAttr(costs[c].gradReduce), b.getF64FloatAttr(costs[c].optimizer),
        b.getI64IntegerAttr(static_cast<int64_t>(paramBytes[c])),
        b.getI64IntegerAttr(static_cast<int64_t>(activationBytes[c])),
        c + 1 < numChunks ? b.getTypeArrayAttr(boundary[c]) : ArrayAttr(),
        c > 0 ? b.getTypeArrayAttr(gradBoundary[c]) : ArrayAttr());
    chunk->setAttr("workspace_bytes", b.getI64IntegerAttr(static_cast<int64_t>(workspace[c])));
  }
  for (auto &[op, u] : unitOf)
    op->setAttr("pipeline.chunk", b.getI64IntegerAttr(chunkOfUnit[u]));
  for (ParamOp param : module.getOps<ParamOp>())
    if (auto it = readers.find(param.getSymNameAttr()); it != readers.end())
      param->setAttr("pipeline.chunks", b.getDenseI64ArrayAttr(it->second));

  // Memory: what each stage holds at its peak under the schedule's order.
  std::optional<sched::Kind> kind = sched::parseKind(layout.schedule);
  sched::Layout sl{kind.value_or(sched::Kind::OneFOneB), layout.stages, layout.chunks,
                   layout.microbatches};
  if (!sched::checkLayout(sl).empty())
    return; // pipeline-schedule reports it, with the schedule's words
  std::string error;
  std::optional<sched::Timeline> timeline =
      sched::simulate(sl, sched::buildPrograms(sl), costs, error);
  if (!timeline) {
    module.emitError() << error;
    return signalPassFailure();
  }
  for (int64_t s = 0; s < layout.stages; ++s) {
    double statics = 0, work = 0;
    for (int64_t c = s; c < numChunks; c += layout.stages) {
      statics += kStaticCopies * paramBytes[c];
      work = std::max(work, workspace[c]);
    }
    double total = statics + timeline->peakActivationBytes[s] + work;
    if (total <= double(device.memoryBytes))
      continue;
    // Name the largest buffers: parameters with their gradients and moments, and the
    // activations kept for the backward times the micro-batches in flight.
    struct Buffer {
      std::string what;
      double bytes;
    };
    std::vector<Buffer> buffers;
    int64_t inFlight = timeline->peakInFlight[s];
    for (int64_t c = s; c < numChunks; c += layout.stages) {
      for (StringAttr p : chunkParams[c])
        if (auto param = symbols.lookup<ParamOp>(p))
          buffers.push_back({("parameter '" + p.getValue() + "' with its gradient and moments" +
                              where(param.getLoc()))
                                 .str(),
                             kStaticCopies * bytesOf(param.getTensorType())});
      for (size_t u = 0; u < units.size(); ++u) {
        if (chunkOfUnit[u] != c)
          continue;
        for (auto [op, bytes] : units[u].kept)
          buffers.push_back({llvm::formatv("{0}{1} ({2} kept for the backward x {3} in flight)",
                                           op->getName().getStringRef(), where(op->getLoc()),
                                           sched::formatBytes(bytes), inFlight)
                                 .str(),
                             bytes * double(inFlight)});
      }
    }
    std::stable_sort(buffers.begin(), buffers.end(),
                     [](const Buffer &x, const Buffer &y) { return x.bytes > y.bytes; });
    std::string message = llvm::formatv(
        "stage {0} needs {1} (parameters, gradients and moments {2}, activations of the "
        "micro-batches the {3} schedule keeps in flight {4}, workspace {5}) but {6} has {7}; "
        "the largest buffers:",
        s, sched::formatBytes(total), sched::formatBytes(statics),
        layout.schedule, sched::formatBytes(timeline->peakActivationBytes[s]), sched::formatBytes(work),
        device.model, sched::formatBytes(double(device.memoryBytes)));
    for (size_t i = 0; i < buffers.size() && i < 5; ++i)
      message += "\n  " + sched::formatBytes(buffers[i].bytes) + "  " + buffers[i].what;
    module.emitError() << message;
    return signalPassFailure();
  }
}
