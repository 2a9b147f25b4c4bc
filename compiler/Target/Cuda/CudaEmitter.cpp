//===- CudaEmitter.cpp - The cuda target: memory-planned IR -> .cu --------===//
//
// Mirrors HostEmitter.cpp op for op: the same planned module, one launcher call of
// runtime/cuda/Kernels.cuh per op under a comment naming the op and its .ingot line; the calls
// themselves come from KernelCalls.cpp (kCudaStyle spells them). What differs: pointers are
// into the GPU arena and typed by the storage ingot-assign-storage chose (bf16 activations
// under precision bf16), GEMMs read the bf16 working copies of their weights (AdamW writes
// them with the masters; a pass refreshes them only after the runtime wrote masters through the
// arena hooks), shapes and strides travel by value (Dims), and after the
// plan's arena come a scratch area for the kernels that need one (sized by
// runtime/cuda/Scratch.h) and one log-sum-exp slot per attention op, kept from the forward to
// its backward. The gradient norm, the clip factor and the non-finite decision stay on the
// device (the updates read them there); the host reads the norm once the step is queued.
//
// Pipeline stages (P > 1): @forward_backward cut into segments (PipelineSegments.h), each a
// function of the same launcher calls on the same arena offsets. A segment refreshes the bf16
// working copies of the parameters it reads; no fusion joins ops of two segments
// (KernelCallEmitter::beginFunction); the log-sum-exp slots are a region the runtime keeps per
// micro-batch beside the activations (PipelineDesc::statsOffset), and its buffers, copies and
// the tied gradient's addition are device hooks (runtime/cuda/PipelineBuffers.h). Segments run
// launch by launch, not as a captured graph.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/Cuda/CudaEmitter.h"
#include "compiler/Target/KernelCalls.h"
#include "compiler/Target/PipelineSegments.h"

#include "cuda/Scratch.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

namespace {

class CudaEmitter {
public:
  CudaEmitter(ModuleOp module, const TargetEmitOptions &options, raw_ostream &os)
      : module(module), options(options), os(os), calls(kCudaStyle, plan, os) {}

  LogicalResult emit();

private:
  /// Pointers into the GPU arena, shapes and strides by value (Dims), scratch after the arena.
  static constexpr KernelCallStyle kCudaStyle{
      /*target=*/"cuda",         /*calleeSuffix=*/"",          /*floatType=*/"float",
      /*dimsByValue=*/true,      /*scratchArg=*/", scratch(A)", /*lossCopy=*/"copy({0}, {1}, 1);",
      /*keepStats=*/true,        /*foldGradAccumulate=*/true, /*shadowWeights=*/true,
      /*fuseEpilogues=*/true};

  std::string ptrAt(int64_t off) { return calls.ptrAt(off); }

  /// Bytes of transient scratch the kernels of `op` need (placed after the plan's arena).
  int64_t scratchBytes(Operation *op);
  LogicalResult emitOptimizer(func::FuncOp fn);
  /// refreshWorkingCopies and the arena hooks that make the working copies stale; false (and
  /// nothing written) when no parameter has a bf16 working copy.
  bool emitWorkingCopies();
  /// The segment functions and the pipeline tables, the statistics region being
  /// [statsOffset, statsOffset + statsBytes).
  LogicalResult emitPipeline(int64_t statsOffset, int64_t statsBytes);
  void line(const Twine &text) { calls.line(text); }

  ModuleOp module;
  const TargetEmitOptions &options;
  raw_ostream &os;
  ArenaPlan plan;
  KernelCallEmitter calls;
};

int64_t CudaEmitter::scratchBytes(Operation *op) {
  auto rows = [](Value x) {
    auto shape = typeOf(x).getShape();
    return std::make_pair(product(shape) / shape.back(), shape.back());
  };
  if (auto n = llvm::dyn_cast<LayerNormGradOp>(op)) {
    auto [r, d] = rows(n.getX());
    return cuda::scratchBytesNormGrad(r, d);
  }
  if (auto n = llvm::dyn_cast<RmsNormGradOp>(op)) {
    auto [r, d] = rows(n.getX());
    return cuda::scratchBytesNormGrad(r, d);
  }
  if (auto a = llvm::dyn_cast<AttentionGradOp>(op)) {
    auto q = typeOf(a.getQuery()).getShape();
    return cuda::scratchBytesAttentionGrad(q[0], a.getNumHeads(), q[1]);
  }
  if (auto c = llvm::dyn_cast<CrossEntropyOp>(op))
    return cuda::scratchBytesCrossEntropy(typeOf(c.getTargets()).getNumElements());
  if (llvm::isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(op)) {
    SmallVector<int64_t> axes;
    if (auto r = llvm::dyn_cast<ReduceSumOp>(op))
      axes = r.getNormalizedAxes();
    else if (auto r = llvm::dyn_cast<ReduceMeanOp>(op))
      axes = r.getNormalizedAxes();
    else
      axes = llvm::cast<ReduceMaxOp>(op).getNormalizedAxes();
    auto shape = typeOf(op->getOperand(0)).getShape();
    llvm::sort(axes);
    if (axes.empty())
      return 0;
    int64_t outer = product(shape.take_front(axes.front()));
    int64_t axis = product(shape.slice(axes.front(), axes.size()));
    int64_t inner = product(shape.drop_front(axes.back() + 1));
    // A bias gradient may be summed by its weight-gradient GEMM instead, into n floats.
    return std::max(cuda::scratchBytesReduce(outer, axis, inner),
                    outer == 1 ? cuda::scratchBytesWeightBiasGrad(inner) : 0);
  }
  if (llvm::isa<GlobalGradNormOp>(op))
    return cuda::kSumSquaresBlocks * 8 + 64; // the partial sums, then the step state
  return 0;
}

LogicalResult CudaEmitter::emitOptimizer(func::FuncOp fn) {
  // Every AdamW update in one launch (adamwAll) over this table of arena offsets.
  SmallVector<AdamWOp> updates;
  fn.walk([&](AdamWOp adam) { updates.push_back(adam); });
  if (!updates.empty()) {
    os << "// The AdamW step's tensors: param, grad, m, v, bf16 working copy (-1: none), "
          "elements, weight decay.\n"
       << "const ingot::cuda::AdamWTensor kAdamWTensors[] = {\n";
    for (AdamWOp adam : updates) {
      ParamOp p = plan.param(adam.getName());
      auto off = [&](StringRef key) { return ArenaPlan::paramOffset(p, key); };
      os << llvm::formatv("    {{{0}, {1}, {2}, {3}, {4}, {5}, {6}}, // {7}\n",
                          off("ingot.offset"), off("ingot.grad_offset"), off("ingot.m_offset"),
                          off("ingot.v_offset"),
                          p->hasAttr("ingot.shadow_offset") ? off("ingot.shadow_offset") : -1,
                          p.getTensorType().getNumElements(), adam.getWeightDecay() ? 1 : 0,
                          p.getSymName());
    }
    os << "};\n\n";
  }
  os << "void optimizerStep(char *A, ingot::rt::StepScalars *s) {\n";
  bool updated = false;
  for (Operation &op : fn.getBody().front()) {
    if (auto norm = llvm::dyn_cast<GlobalGradNormOp>(op)) {
      // Every gradient is fp32 in one contiguous region whose padding the runtime zeroes with
      // it each step, so one pass over the region is the norm over all parameters.
      auto all = module.getOps<ParamOp>();
      if (int64_t(norm.getParams().size()) != std::distance(all.begin(), all.end()))
        return norm.emitError("the cuda target computes the gradient norm over every "
                              "parameter only");
      line("// global gradient norm: float64 sums of squares over fixed chunks of the gradient "
           "region, added in order on the device; the clip factor and the non-finite decision "
           "stay there too, so the step never waits for the host");
      line(llvm::formatv("sumSquares({0}, {1}, partial(A));",
                         ptrAt(plan.memory.getAs<IntegerAttr>("grads_offset").getInt()),
                         plan.memory.getAs<IntegerAttr>("grads_bytes").getInt() / 4));
      line("finishGradNorm(partial(A), s->clip, stepState(A));");
    } else if (llvm::isa<AdamWOp>(op)) {
      if (!updated) // every parameter at once; none when the norm is non-finite
        line(llvm::formatv("adamwAll(A, kAdamWTensors, {0}, s->lr, s->beta1, s->beta2, s->eps, "
                           "s->weightDecay, s->step, stepState(A));",
                           updates.size()));
      updated = true;
    } else if (llvm::isa<func::ReturnOp>(op)) {
      line("// the norm and the decision for the log and the --on-nonfinite policy, read once "
           "the updates are queued");
      line("readStepState(stepState(A), &s->gradNorm, &s->nonFinite);");
    } else {
      return op.emitError() << "unexpected '" << op.getName() << "' in @optimizer_step";
    }
  }
  os << "}\n\n";
  return success();
}

bool CudaEmitter::emitWorkingCopies() {
  SmallVector<ParamOp> copied;
  int64_t mastersBegin = INT64_MAX, mastersEnd = 0;
  for (ParamOp p : module.getOps<ParamOp>()) {
    int64_t offset = ArenaPlan::paramOffset(p, "ingot.offset");
    mastersBegin = std::min(mastersBegin, offset);
    mastersEnd = std::max(mastersEnd, offset + p.getTensorType().getNumElements() * 4);
    if (p->hasAttr("ingot.shadow_offset"))
      copied.push_back(p);
  }
  if (copied.empty())
    return false;
  os << "// The bf16 working copies of the parameters GEMMs read. AdamW writes each one with its\n"
     << "// master (optimizerStep), so an update leaves them the masters' bf16 rounding; every\n"
     << "// other write of a master is the runtime's, through the arena hooks below\n"
     << "// (initialization, a checkpoint load), and makes them stale. A pass refreshes stale\n"
     << "// copies first, outside its graph. One host thread drives the arena.\n"
     << "constexpr uint64_t kMastersBegin = " << mastersBegin << ", kMastersEnd = " << mastersEnd
     << ";\n"
     << "// The arena whose working copies match its masters, or null.\n"
     << "char *freshArena = nullptr;\n\n"
     << "void refreshWorkingCopies(char *A) {\n"
     << "  if (A == freshArena)\n"
     << "    return;\n";
  for (ParamOp p : copied)
    line(llvm::formatv("convert(at<bf16>(A, {0}), {1}, {2}); // {3} working copy",
                       ArenaPlan::paramOffset(p, "ingot.shadow_offset"),
                       ptrAt(ArenaPlan::paramOffset(p, "ingot.offset")),
                       p.getTensorType().getNumElements(), p.getSymName()));
  os << "  freshArena = A;\n}\n\n"
     << "bool writesMasters(uint64_t offset, uint64_t bytes) {\n"
     << "  return offset < kMastersEnd && offset + bytes > kMastersBegin;\n}\n\n"
     << "void copyToArenaTracked(void *arena, uint64_t offset, const void *src, uint64_t bytes) {\n"
     << "  if (writesMasters(offset, bytes))\n"
     << "    freshArena = nullptr;\n"
     << "  ingot::cuda::copyToArena(arena, offset, src, bytes);\n}\n\n"
     << "void zeroArenaTracked(void *arena, uint64_t offset, uint64_t bytes) {\n"
     << "  if (writesMasters(offset, bytes))\n"
     << "    freshArena = nullptr;\n"
     << "  ingot::cuda::zeroArena(arena, offset, bytes);\n}\n\n";
  return true;
}

LogicalResult CudaEmitter::emitPipeline(int64_t statsOffset, int64_t statsBytes) {
  PipelineSegments pipeline;
  if (failed(pipeline.build(module, plan, "cuda")))
    return failure();
  calls.beginFunction(plan.forwardBackward, &pipeline);
  // A segment may run first on its stage after an optimizer step (or initialization, or a
  // checkpoint load): it refreshes the working copies of the parameters its ops read.
  auto refreshShadows = [&](const PipelineSegments::Segment &seg) {
    for (ParamOp p : module.getOps<ParamOp>()) {
      if (!p->hasAttr("ingot.shadow_offset"))
        continue;
      bool read = llvm::any_of(seg.emit, [&](Operation *op) {
        auto ref = llvm::dyn_cast<ParamRefOp>(op);
        return ref && ref.getName() == p.getSymName();
      });
      if (read)
        line(llvm::formatv("convert(at<bf16>(A, {0}), {1}, {2}); // {3} working copy",
                           ArenaPlan::paramOffset(p, "ingot.shadow_offset"),
                           ptrAt(ArenaPlan::paramOffset(p, "ingot.offset")),
                           p.getTensorType().getNumElements(), p.getSymName()));
    }
  };
  if (failed(pipeline.emitFunctions(calls, os, refreshShadows)))
    return failure();
  pipeline.emitTables(os, statsOffset, statsBytes,
                      "ingot::cuda::allocPipelineBuffer, ingot::cuda::freePipelineBuffer,\n"
                      "    ingot::cuda::copyPipelineBuffer, ingot::cuda::addPipelineBuffer,\n"
                      "    ingot::cuda::synchronizePipeline");
  return success();
}

LogicalResult CudaEmitter::emit() {
  if (options.f64)
    return module.emitError("the cuda target has no f64 mode (gradient checks run on the host "
                            "target)");
  if (failed(plan.read(module, 4, "cuda")))
    return failure();
  int64_t planBytes = plan.memory.getAs<IntegerAttr>("arena_bytes").getInt();
  int64_t scratchOffset = (planBytes + 255) / 256 * 256, scratch = 0;
  module.walk([&](Operation *op) { scratch = std::max(scratch, scratchBytes(op)); });
  // Each attention's and cross-entropy's log-sum-exp per row, kept from the forward to the
  // backward: one slot per such op of a function (the largest), after the scratch.
  int64_t lseSlot = 0, attentions = 0, forwardBackwardStats = 0;
  for (func::FuncOp fn : {plan.forwardBackward, plan.forward}) {
    int64_t count = 0;
    fn.walk([&](Operation *op) {
      int64_t rows = 0;
      if (auto a = llvm::dyn_cast<AttentionOp>(op)) {
        auto q = typeOf(a.getQuery()).getShape();
        rows = q[0] * a.getNumHeads() * q[1];
      } else if (auto c = llvm::dyn_cast<CrossEntropyOp>(op)) {
        rows = typeOf(c.getTargets()).getNumElements();
      } else {
        return;
      }
      lseSlot = std::max(lseSlot, (rows * 4 + 255) / 256 * 256);
      ++count;
    });
    attentions = std::max(attentions, count);
    if (fn == plan.forwardBackward)
      forwardBackwardStats = count;
  }
  int64_t lseOffset = (scratchOffset + scratch + 255) / 256 * 256;
  int64_t totalBytes = lseOffset + attentions * lseSlot;
  const bool pipelined = module->hasAttr("ingot.stage_programs");
  os << "// Generated by ingotc " << options.compilerVersion << " from " << options.sourceName
     << " for the cuda target. Do not edit.\n"
     << "// Every shape and arena offset below is a compile-time constant; each launch names\n"
     << "// the ingot op and the .ingot line it came from. One GPU arena holds every tensor:\n"
     << "// at<bf16> activations (precision bf16), at<float> master weights, gradients, moments.\n"
     << "#include \"cuda/Kernels.cuh\"\n"
     << (pipelined ? "#include \"cuda/PipelineBuffers.h\"\n" : "")
     << "#include \"ingot/rt/Model.h\"\n\n"
     << "#include <cmath>\n#include <cstdint>\n\n"
     << "namespace {\n\n"
     << "using namespace ingot::cuda;\n\n"
     << "template <typename X> inline X *at(char *arena, uint64_t offset) {\n"
     << "  return reinterpret_cast<X *>(arena + offset);\n}\n\n"
     << "// Transient scratch of the backward kernels and the gradient norm, after the memory\n"
     << "// plan's " << planBytes << " bytes.\n"
     << "constexpr uint64_t kScratchOffset = " << scratchOffset << ";\n"
     << "constexpr uint64_t kScratchBytes = " << scratch << ";\n"
     << "inline void *scratch(char *arena) { return arena + kScratchOffset; }\n"
     << "inline double *partial(char *arena) {\n"
     << "  return reinterpret_cast<double *>(arena + kScratchOffset);\n}\n"
     << "inline DeviceStepState *stepState(char *arena) {\n"
     << "  return reinterpret_cast<DeviceStepState *>(arena + kScratchOffset + "
     << cuda::kSumSquaresBlocks * 8 << ");\n}\n"
     << "// Attention and cross-entropy statistics (log-sum-exp per row), kept from forward to\n"
     << "// backward.\n"
     << "inline float *lse(char *arena, int i) {\n"
     << "  return reinterpret_cast<float *>(arena + " << lseOffset << "ull + uint64_t(i) * "
     << lseSlot << "ull);\n}\n\n";
  // Parameters GEMMs read get a bf16 working copy, written by AdamW with the master and
  // refreshed before a pass only after the runtime wrote masters (initialization, a checkpoint
  // load): not one convert per parameter per micro-batch.
  const bool workingCopies = emitWorkingCopies();
  auto refreshIfStale = [&] { line("refreshWorkingCopies(A);"); };
  if (failed(calls.emitFunction(plan.forwardBackward, "forwardBackwardPass")) ||
      failed(calls.emitFunction(plan.forward, "forward",
                                workingCopies ? llvm::function_ref<void()>(refreshIfStale)
                                              : nullptr)) ||
      failed(emitOptimizer(plan.optimizerStep)))
    return failure();
  os << "// The forward and backward of a micro-batch, replayed as one CUDA graph after its first\n"
     << "// run (ingot::cuda::runCaptured; INGOT_CUDA_GRAPH=0 runs it launch by launch).\n"
     << "void forwardBackward(char *A) {\n"
     << "  static CapturedPass pass;\n"
     << (workingCopies ? "  refreshWorkingCopies(A); // not in the graph: only when stale\n" : "")
     << "  runCaptured(pass, forwardBackwardPass, A);\n"
     << "}\n\n";
  if (pipelined && failed(emitPipeline(lseOffset, forwardBackwardStats * lseSlot)))
    return failure();
  // With working copies, the runtime's writes go through the hooks that notice masters.
  const char *hooks =
      workingCopies ? "    ingot::cuda::allocArena, ingot::cuda::freeArena, copyToArenaTracked,\n"
                      "    ingot::cuda::copyFromArena, zeroArenaTracked,\n"
                    : "    ingot::cuda::allocArena, ingot::cuda::freeArena, "
                      "ingot::cuda::copyToArena,\n"
                      "    ingot::cuda::copyFromArena, ingot::cuda::zeroArena,\n";
  emitModelDesc(module, options, plan, "cuda", totalBytes, hooks, os);
  os << "\n} // namespace\n\n"
     << "extern \"C\" const ingot::rt::ModelDesc *ingot_model() { return &kModel; }\n";
  return success();
}

} // namespace

LogicalResult ingot::emitCudaProgram(ModuleOp module, const TargetEmitOptions &options,
                                     raw_ostream &os) {
  return CudaEmitter(module, options, os).emit();
}
