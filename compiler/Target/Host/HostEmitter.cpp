//===- HostEmitter.cpp - The host target: memory-planned IR -> C++ --------===//
#include "compiler/Target/Host/HostEmitter.h"
#include "compiler/Target/EmitCommon.h"
#include "compiler/Target/KernelCalls.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <map>

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

namespace {

class Emitter {
public:
  Emitter(ModuleOp module, const HostEmitOptions &options, raw_ostream &os)
      : module(module), options(options), os(os), calls(kHostStyle, plan, os) {}

  LogicalResult emit();

private:
  static constexpr KernelCallStyle kHostStyle{/*target=*/"host", /*calleeSuffix=*/"<T>",
                                              /*floatType=*/"T", /*dimsByValue=*/false,
                                              /*scratchArg=*/"", /*lossCopy=*/"*{0} = *{1};"};

  std::string ptrAt(int64_t off) { return calls.ptrAt(off); }
  LogicalResult emitOptimizer(func::FuncOp fn);
  LogicalResult emitPipeline(ArrayAttr programs);
  void line(const Twine &text) { calls.line(text); }

  ModuleOp module;
  const HostEmitOptions &options;
  raw_ostream &os;
  ArenaPlan plan;
  KernelCallEmitter calls;
};

LogicalResult Emitter::emitOptimizer(func::FuncOp fn) {
  os << "void optimizerStep(char *A, ingot::rt::StepScalars *s) {\n";
  for (Operation &op : fn.getBody().front()) {
    if (auto norm = llvm::dyn_cast<GlobalGradNormOp>(op)) {
      line("// global gradient norm, accumulated in float64 in parameter order");
      line("double sumsq = 0;");
      for (Attribute name : norm.getParams()) {
        ParamOp p = plan.param(llvm::cast<FlatSymbolRefAttr>(name).getValue());
        line(llvm::formatv("sumsq += sumSquares<T>({0}, {1});",
                           ptrAt(ArenaPlan::paramOffset(p, "ingot.grad_offset")),
                           p.getTensorType().getNumElements()));
      }
      line("const double norm = std::sqrt(sumsq);");
      calls.emitNormChecks();
    } else if (auto adam = llvm::dyn_cast<AdamWOp>(op)) {
      calls.emitAdamW(adam);
    } else if (!llvm::isa<func::ReturnOp>(op)) {
      return op.emitError() << "unexpected '" << op.getName() << "' in @optimizer_step";
    }
  }
  os << "}\n\n";
  return success();
}

/// Pipeline stages (the module's `ingot.stage_programs`, one program per stage of (chunk,
/// micro-batch, phase) triples, from pipeline-schedule): the ops of @forward_backward cut into
/// segments, one per chunk and phase (its forward; its backward, input and weight gradients
/// together, or for ZB-H1 its input-gradient ops (B) and its weight-gradient ops (W,
/// `ingot.grad = "weight"`), which ingotc has ordered after the chunk's B ops
/// together), each a function that keeps the one-rank program order and arena offsets; the
/// values that cross between stages; and each stage's order of (segment, micro-batch) steps.
/// The runtime (Trainer.cpp) runs a stage's steps, keeps a copy of the activation region per
/// micro-batch in flight, and moves the transfers with Comm send/recv.
LogicalResult Emitter::emitPipeline(ArrayAttr programs) {
  func::FuncOp fb = plan.forwardBackward;
  const int64_t stages = programs.size();
  const int64_t floatBytes = options.f64 ? 8 : 4;
  SmallVector<Operation *> ops;
  DenseMap<Operation *, int64_t> indexOf;
  int64_t firstBackward = -1;
  for (Operation &op : fb.getBody().front()) {
    indexOf[&op] = int64_t(ops.size());
    if (firstBackward < 0 && op.hasAttr("ingot.grad"))
      firstBackward = int64_t(ops.size());
    ops.push_back(&op);
  }
  struct Segment {
    int64_t chunk;
    int64_t phase; // 0: forward; 1: backward; 2: input-gradient backward; 3: weight-gradient
    SmallVector<Operation *> ops;
    llvm::DenseSet<Operation *> emit; // its ops, constants it re-makes, the loss copy
    std::string name;
  };
  std::vector<Segment> segments;
  std::map<std::pair<int64_t, int64_t>, int64_t> segmentOf; // (chunk, phase) -> index
  // ZB-H1's programs (phases 2 and 3) split each backward by the ops' ingot.grad.
  bool split = false;
  for (Attribute program : programs) {
    ArrayRef<int64_t> triples = llvm::cast<DenseI64ArrayAttr>(program).asArrayRef();
    for (size_t i = 2; i < triples.size(); i += 3)
      split |= triples[i] >= 2;
  }
  static const char *const phaseNames[] = {"forward", "backward", "backward_input",
                                           "backward_weight"};
  DenseMap<Operation *, int64_t> segOfOp;
  int64_t lastChunk = -1;
  for (Operation *op : ops) {
    if (llvm::isa<func::ReturnOp>(op))
      continue;
    auto chunk = op->getAttrOfType<IntegerAttr>("pipeline.chunk");
    if (!chunk)
      return op->emitError("has no pipeline.chunk: the host target's pipeline stages need "
                           "pipeline-partition on every op of @forward_backward");
    bool backward = firstBackward >= 0 && indexOf[op] >= firstBackward;
    auto grad = op->getAttrOfType<StringAttr>("ingot.grad");
    int64_t phase = !backward ? 0 : !split ? 1 : grad && grad.getValue() == "weight" ? 3 : 2;
    auto key = std::make_pair(chunk.getInt(), phase);
    auto [it, added] = segmentOf.try_emplace(key, int64_t(segments.size()));
    if (added)
      segments.push_back({chunk.getInt(), phase, {}, {},
                          llvm::formatv("chunk{0}_{1}", chunk.getInt(), phaseNames[phase])
                              .str()});
    segments[it->second].ops.push_back(op);
    segments[it->second].emit.insert(op);
    segOfOp[op] = it->second;
    lastChunk = std::max(lastChunk, chunk.getInt());
  }
  auto stageOf = [&](int64_t seg) { return segments[seg].chunk % stages; };
  if (split)
    for (Operation *op : ops)
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && segOfOp.count(def) && segOfOp.count(op) &&
            segments[segOfOp.lookup(def)].phase == 3 && segments[segOfOp.lookup(op)].phase == 2)
          return op->emitError("the input-gradient backward step reads a weight-gradient op's "
                               "result, so zb-h1 cannot split this backward");
  auto lossSegment = segmentOf.find({lastChunk, 0});
  if (lossSegment == segmentOf.end())
    return fb.emitError("the last chunk has no forward ops");
  segments[lossSegment->second].emit.insert(fb.getBody().front().getTerminator());

  auto bytesOf = [&](Value v) {
    RankedTensorType t = typeOf(v);
    return t.getNumElements() * (t.getElementType().isInteger(32) ? 4 : floatBytes);
  };
  auto describe = [&](Value v) {
    std::string shape;
    llvm::raw_string_ostream so(shape);
    llvm::interleave(typeOf(v).getShape(), so, "x");
    return shape;
  };
  struct Transfer {
    int64_t from, to;
    int64_t offset, bytes;
    bool tied;
    std::string what;
  };
  std::vector<Transfer> transfers;
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
        int64_t from = segOfOp.lookup(def);
        if (stageOf(from) == stageOf(k) || !received.insert({operand, stageOf(k)}).second)
          continue;
        // The receiver writes the value when its segment starts: where the one-rank program
        // has already made it, so that the plan's offsets hold no other live value there.
        if (indexOf[def] > indexOf[seg.ops.front()])
          return op->emitError() << "the host target's pipeline stages need each value a stage "
                                    "receives to be made before the receiving segment starts";
        transfers.push_back({from, int64_t(k), plan.offset(operand), bytesOf(operand), false,
                             llvm::formatv("{0} of {1} ({2})", def->getName().getStringRef(),
                                           segments[from].name, describe(operand))
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
      segs.insert(segOfOp.lookup(g));
    bool sameStage = llvm::all_of(segs, [&](int64_t s) { return stageOf(s) == stageOf(segs[0]); });
    if (sameStage)
      continue;
    if (segs.size() != 2 || !segments[segs[0]].phase || !segments[segs[1]].phase ||
        stageOf(segs[0]) <= stageOf(segs[1]))
      return grads.front()->emitError()
             << "the host target's pipeline stages can share a parameter's gradient between "
                "two stages only, the later stage's backward adding first; '"
             << name << "' is not like that";
    ParamOp p = plan.param(name);
    transfers.push_back({segs[0], segs[1], ArenaPlan::paramOffset(p, "ingot.grad_offset"),
                         p.getTensorType().getNumElements() * floatBytes, true,
                         llvm::formatv("the {0} part of tied parameter {1}'s gradient",
                                       segments[segs[0]].name, name)
                             .str()});
  }

  for (Segment &seg : segments) {
    os << "// The " << phaseNames[seg.phase] << " of chunk " << seg.chunk
       << " (stage " << seg.chunk % stages << "): " << seg.ops.size()
       << " ops of @forward_backward.\n";
    os << "void " << seg.name << "(char *A) {\n";
    for (Operation *op : ops)
      if (seg.emit.contains(op) && failed(calls.emitOp(op)))
        return failure();
    os << "}\n\n";
  }
  os << "const ingot::rt::PipelineSegment kSegments[] = {\n";
  for (const Segment &seg : segments)
    os << llvm::formatv("    {{{0}, {1}, {2}, {3}, \"{3}\"},\n", seg.chunk, seg.chunk % stages,
                        seg.phase, seg.name);
  os << "};\n";
  os << "const ingot::rt::PipelineTransfer kTransfers[] = {\n";
  for (const Transfer &t : transfers)
    os << llvm::formatv("    {{{0}, {1}, {2}u, {3}u, {4}, \"{5}\"},\n", t.from, t.to, t.offset,
                        t.bytes, t.tied ? 1 : 0, t.what);
  if (transfers.empty())
    os << "    {0, 0, 0u, 0u, 0, \"\"},\n";
  os << "};\n";
  std::string begins = "0", steps;
  int64_t count = 0;
  for (auto [s, program] : llvm::enumerate(programs)) {
    ArrayRef<int64_t> triples = llvm::cast<DenseI64ArrayAttr>(program).asArrayRef();
    for (size_t i = 0; i + 2 < triples.size(); i += 3) {
      auto it = segmentOf.find({triples[i], triples[i + 2]});
      if (it == segmentOf.end() || stageOf(it->second) != int64_t(s))
        return fb.emitError() << "stage " << s << "'s program runs the "
                              << phaseNames[std::clamp<int64_t>(triples[i + 2], 0, 3)]
                              << " of chunk "
                              << triples[i] << ", which has no ops on that stage";
      steps += llvm::formatv("{{{0}, {1}}, ", it->second, triples[i + 1]).str();
      ++count;
    }
    begins += ", " + std::to_string(count);
  }
  os << "const int32_t kProgramBegin[] = {" << begins << "};\n";
  os << "const ingot::rt::PipelineStep kSteps[] = {" << steps << "};\n";
  auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel");
  auto schedule = parallel ? parallel.getAs<StringAttr>("schedule") : StringAttr();
  int64_t persistent = plan.memory.getAs<IntegerAttr>("persistent_bytes").getInt();
  int64_t arena = plan.memory.getAs<IntegerAttr>("arena_bytes").getInt();
  os << llvm::formatv("const ingot::rt::PipelineDesc kPipeline = {{\"{0}\", {1}, kSegments, {2}, "
                      "kTransfers, kProgramBegin, kSteps, {3}u, {4}u};\n\n",
                      schedule ? schedule.getValue() : "1f1b", segments.size(), transfers.size(),
                      persistent, arena - persistent);
  return success();
}

LogicalResult Emitter::emit() {
  if (failed(plan.read(module, options.f64 ? 8 : 4, "host")))
    return failure();
  os << "// Generated by ingotc " << options.compilerVersion << " from " << options.sourceName
     << " for the host target. Do not edit.\n"
     << "// Every shape and arena offset below is a compile-time constant; each kernel call\n"
     << "// names the ingot op and the .ingot line it came from.\n"
     << "#include \"host/Kernels.h\"\n#include \"ingot/rt/Model.h\"\n\n"
     << "#include <cmath>\n#include <cstdint>\n\n"
     << "namespace {\n\n"
     << "using T = " << (options.f64 ? "double" : "float") << ";\n"
     << "using namespace ingot::host;\n\n"
     << "template <typename X> inline X *at(char *arena, uint64_t offset) {\n"
     << "  return reinterpret_cast<X *>(arena + offset);\n}\n\n";
  if (failed(calls.emitFunction(plan.forwardBackward, "forwardBackward")) ||
      failed(calls.emitFunction(plan.forward, "forward")) ||
      failed(emitOptimizer(plan.optimizerStep)))
    return failure();
  if (auto programs = module->getAttrOfType<ArrayAttr>("ingot.stage_programs"))
    if (failed(emitPipeline(programs)))
      return failure();
  emitModelDesc(module, options, plan, "host",
                plan.memory.getAs<IntegerAttr>("arena_bytes").getInt(), "", os);
  os << "\n} // namespace\n\n"
     << "extern \"C\" const ingot::rt::ModelDesc *ingot_model() { return &kModel; }\n";
  return success();
}

} // namespace

LogicalResult ingot::emitHostProgram(ModuleOp module, const HostEmitOptions &options,
                                     raw_ostream &os) {
  return Emitter(module, options, os).emit();
}
