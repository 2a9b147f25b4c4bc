//===- PipelineSegments.cpp - @forward_backward cut for pipeline stages ---===//
#include "compiler/Target/PipelineSegments.h"
#include "compiler/Target/KernelCalls.h"

#include "dialects/Ingot/IngotOps.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <map>

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

static const char *const kPhaseNames[] = {"forward", "backward", "backward_input",
                                          "backward_weight"};

LogicalResult PipelineSegments::build(ModuleOp module, const ArenaPlan &plan, StringRef target) {
  auto programs = module->getAttrOfType<ArrayAttr>("ingot.stage_programs");
  if (!programs || programs.empty())
    return module.emitError("the pipeline stages need `ingot.stage_programs` (ingotc records "
                            "them from pipeline-schedule)");
  func::FuncOp fb = plan.forwardBackward;
  body = &fb.getBody().front();
  const int64_t stages = programs.size();
  SmallVector<Operation *> ops;
  DenseMap<Operation *, int64_t> indexOf;
  int64_t firstBackward = -1;
  for (Operation &op : fb.getBody().front()) {
    indexOf[&op] = int64_t(ops.size());
    if (firstBackward < 0 && op.hasAttr("ingot.grad"))
      firstBackward = int64_t(ops.size());
    ops.push_back(&op);
  }
  std::map<std::pair<int64_t, int64_t>, int64_t> segmentIndex; // (chunk, phase) -> index
  // ZB-H1's programs (phases 2 and 3) split each backward by the ops' ingot.grad.
  bool split = false;
  for (Attribute program : programs) {
    ArrayRef<int64_t> triples = llvm::cast<DenseI64ArrayAttr>(program).asArrayRef();
    for (size_t i = 2; i < triples.size(); i += 3)
      split |= triples[i] >= 2;
  }
  int64_t lastChunk = -1;
  for (Operation *op : ops) {
    if (llvm::isa<func::ReturnOp>(op))
      continue;
    auto chunk = op->getAttrOfType<IntegerAttr>("pipeline.chunk");
    if (!chunk)
      return op->emitError() << "has no pipeline.chunk: the " << target
                             << " target's pipeline stages need pipeline-partition on every op "
                                "of @forward_backward";
    bool backward = firstBackward >= 0 && indexOf[op] >= firstBackward;
    auto grad = op->getAttrOfType<StringAttr>("ingot.grad");
    int64_t phase = !backward ? 0 : !split ? 1 : grad && grad.getValue() == "weight" ? 3 : 2;
    auto key = std::make_pair(chunk.getInt(), phase);
    auto [it, added] = segmentIndex.try_emplace(key, int64_t(segments.size()));
    if (added)
      segments.push_back({chunk.getInt(), chunk.getInt() % stages, phase, {}, {},
                          llvm::formatv("chunk{0}_{1}", chunk.getInt(), kPhaseNames[phase])
                              .str()});
    segments[it->second].ops.push_back(op);
    segments[it->second].emit.insert(op);
    segmentOfOp[op] = it->second;
    lastChunk = std::max(lastChunk, chunk.getInt());
  }
  auto stageOfSegment = [&](int64_t seg) { return segments[size_t(seg)].stage; };
  if (split)
    for (Operation *op : ops)
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && segmentOfOp.count(def) && segmentOfOp.count(op) &&
            segments[segmentOfOp.lookup(def)].phase == 3 &&
            segments[segmentOfOp.lookup(op)].phase == 2)
          return op->emitError("the input-gradient backward step reads a weight-gradient op's "
                               "result, so zb-h1 cannot split this backward");
  auto lossSegment = segmentIndex.find({lastChunk, 0});
  if (lossSegment == segmentIndex.end())
    return fb.emitError("the last chunk has no forward ops");
  segments[lossSegment->second].emit.insert(fb.getBody().front().getTerminator());

  auto describe = [&](Value v) {
    std::string shape;
    llvm::raw_string_ostream so(shape);
    llvm::interleave(typeOf(v).getShape(), so, "x");
    return shape;
  };
  llvm::DenseSet<std::pair<Value, int64_t>> received; // (value, receiving stage)
  for (auto [k, seg] : llvm::enumerate(segments)) {
    for (Operation *op : seg.ops)
      for (Value operand : op->getOperands()) {
        Operation *def = operand.getDefiningOp();
        if (!def)
          continue; // tokens and targets: every stage writes its own
        if (llvm::isa<ParamRefOp, ConstantOp>(def)) {
          seg.emit.insert(def); // no data to move: made again where used
          continue;
        }
        int64_t from = segmentOfOp.lookup(def);
        if (stageOfSegment(from) == seg.stage || !received.insert({operand, seg.stage}).second)
          continue;
        // The receiver writes the value when its segment starts: where the one-rank program
        // has already made it, so that the plan's offsets hold no other live value there.
        if (indexOf[def] > indexOf[seg.ops.front()])
          return op->emitError() << "the " << target
                                 << " target's pipeline stages need each value a stage "
                                    "receives to be made before the receiving segment starts";
        transfers.push_back({from, int64_t(k), plan.offset(operand), plan.bytes(operand), false,
                             llvm::formatv("{0} of {1} ({2})", def->getName().getStringRef(),
                                           segments[size_t(from)].name, describe(operand))
                                 .str()});
      }
  }
  // A parameter whose gradient two stages add to (an embedding tied to the head): per
  // micro-batch, the stage adding first sends its part and the other adds it before its own.
  llvm::MapVector<StringRef, SmallVector<ParamGradOp>> gradsOf;
  for (Operation *op : ops)
    if (auto g = llvm::dyn_cast<ParamGradOp>(op))
      gradsOf[g.getName()].push_back(g);
  for (auto &[name, grads] : gradsOf) {
    llvm::SetVector<int64_t> segs;
    for (ParamGradOp g : grads)
      segs.insert(segmentOfOp.lookup(g));
    bool sameStage = llvm::all_of(
        segs, [&](int64_t s) { return stageOfSegment(s) == stageOfSegment(segs[0]); });
    if (sameStage)
      continue;
    if (segs.size() != 2 || !segments[size_t(segs[0])].phase ||
        !segments[size_t(segs[1])].phase || stageOfSegment(segs[0]) <= stageOfSegment(segs[1]))
      return grads.front()->emitError()
             << "the " << target
             << " target's pipeline stages can share a parameter's gradient between two stages "
                "only, the later stage's backward adding first; '"
             << name << "' is not like that";
    ParamOp p = plan.param(name);
    transfers.push_back({segs[0], segs[1], ArenaPlan::paramOffset(p, "ingot.grad_offset"),
                         p.getTensorType().getNumElements() * plan.floatBytes, true,
                         llvm::formatv("the {0} part of tied parameter {1}'s gradient",
                                       segments[size_t(segs[0])].name, name)
                             .str()});
  }

  programBegin.push_back(0);
  for (auto [s, program] : llvm::enumerate(programs)) {
    ArrayRef<int64_t> triples = llvm::cast<DenseI64ArrayAttr>(program).asArrayRef();
    for (size_t i = 0; i + 2 < triples.size(); i += 3) {
      auto it = segmentIndex.find({triples[i], triples[i + 2]});
      if (it == segmentIndex.end() || stageOfSegment(it->second) != int64_t(s))
        return fb.emitError() << "stage " << s << "'s program runs the "
                              << kPhaseNames[std::clamp<int64_t>(triples[i + 2], 0, 3)]
                              << " of chunk " << triples[i] << ", which has no ops on that stage";
      steps.push_back({it->second, triples[i + 1]});
    }
    programBegin.push_back(int64_t(steps.size()));
  }
  auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel");
  auto scheduleAttr = parallel ? parallel.getAs<StringAttr>("schedule") : StringAttr();
  schedule = scheduleAttr ? scheduleAttr.getValue().str() : "1f1b";
  persistentBytes = plan.memory.getAs<IntegerAttr>("persistent_bytes").getInt();
  arenaBytes = plan.memory.getAs<IntegerAttr>("arena_bytes").getInt();
  return success();
}

LogicalResult
PipelineSegments::emitFunctions(KernelCallEmitter &calls, raw_ostream &os,
                                llvm::function_ref<void(const Segment &)> prologue) const {
  for (const Segment &seg : segments) {
    os << "// The " << kPhaseNames[seg.phase] << " of chunk " << seg.chunk << " (stage "
       << seg.stage << "): " << seg.ops.size() << " ops of @forward_backward.\n";
    os << "void " << seg.name << "(char *A) {\n";
    if (prologue)
      prologue(seg);
    for (Operation &op : *body)
      if (seg.emit.contains(&op) && failed(calls.emitOp(&op)))
        return failure();
    os << "}\n\n";
  }
  return success();
}

void PipelineSegments::emitTables(raw_ostream &os, int64_t statsOffset, int64_t statsBytes,
                                  StringRef deviceHooks) const {
  os << "const ingot::rt::PipelineSegment kSegments[] = {\n";
  for (const Segment &seg : segments)
    os << llvm::formatv("    {{{0}, {1}, {2}, {3}, \"{3}\"},\n", seg.chunk, seg.stage, seg.phase,
                        seg.name);
  os << "};\n";
  os << "const ingot::rt::PipelineTransfer kTransfers[] = {\n";
  for (const Transfer &t : transfers)
    os << llvm::formatv("    {{{0}, {1}, {2}u, {3}u, {4}, \"{5}\"},\n", t.from, t.to, t.offset,
                        t.bytes, t.tiedGradient ? 1 : 0, t.what);
  if (transfers.empty())
    os << "    {0, 0, 0u, 0u, 0, \"\"},\n";
  os << "};\n";
  os << "const int32_t kProgramBegin[] = {"
     << llvm::join(llvm::map_range(programBegin, [](int64_t b) { return std::to_string(b); }),
                   ", ")
     << "};\n";
  os << "const ingot::rt::PipelineStep kSteps[] = {";
  for (const Step &st : steps)
    os << llvm::formatv("{{{0}, {1}}, ", st.segment, st.microbatch);
  os << "};\n";
  os << llvm::formatv("const ingot::rt::PipelineDesc kPipeline = {{\"{0}\", {1}, kSegments, {2}, "
                      "kTransfers, kProgramBegin, kSteps, {3}u, {4}u",
                      schedule, segments.size(), transfers.size(), persistentBytes,
                      arenaBytes - persistentBytes);
  if (statsBytes > 0 || !deviceHooks.empty())
    os << llvm::formatv(",\n    {0}u, {1}u,{2}{3}", statsOffset, statsBytes,
                        deviceHooks.empty() ? "" : "\n    ", deviceHooks.rtrim(", "));
  os << "};\n\n";
}
