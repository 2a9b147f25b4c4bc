//===- CudaEmitter.cpp - The cuda target: memory-planned IR -> .cu --------===//
//
// Mirrors HostEmitter.cpp op for op: the same planned module, the same arena offsets, one
// launcher call of runtime/cuda/Kernels.cuh per op under a comment naming the op and its .ingot
// line; the calls themselves come from KernelCalls.cpp (kCudaStyle spells them). What differs:
// pointers are into the GPU arena, shapes and strides travel by value (Dims), a few backward
// kernels get a scratch area placed after the plan's arena, and the gradient norm is reduced on
// the device and read back once per step.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/Cuda/CudaEmitter.h"
#include "compiler/Target/KernelCalls.h"

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
      /*dimsByValue=*/true,      /*scratchArg=*/", scratch(A)", /*lossCopy=*/"copy({0}, {1}, 1);"};

  std::string ptrAt(int64_t off) { return calls.ptrAt(off); }

  /// Bytes of transient scratch the kernels of `op` need (placed after the plan's arena).
  int64_t scratchBytes(Operation *op);
  LogicalResult emitOptimizer(func::FuncOp fn);
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
    return product(shape) / shape.back();
  };
  if (auto n = llvm::dyn_cast<LayerNormGradOp>(op))
    return rows(n.getX()) * 16; // mean and rstd per row, double
  if (auto n = llvm::dyn_cast<RmsNormGradOp>(op))
    return rows(n.getX()) * 16;
  if (auto a = llvm::dyn_cast<AttentionGradOp>(op)) {
    auto q = typeOf(a.getQuery()).getShape();
    return 2 * q[0] * a.getNumHeads() * q[1] * 4; // log-sum-exp and delta per query row
  }
  if (auto n = llvm::dyn_cast<GlobalGradNormOp>(op))
    return int64_t(n.getParams().size()) * 8; // one float64 partial sum per parameter
  return 0;
}

LogicalResult CudaEmitter::emitOptimizer(func::FuncOp fn) {
  os << "void optimizerStep(char *A, ingot::rt::StepScalars *s) {\n";
  for (Operation &op : fn.getBody().front()) {
    if (auto norm = llvm::dyn_cast<GlobalGradNormOp>(op)) {
      line("// global gradient norm: a float64 sum of squares per parameter on the device, "
           "added in parameter order on the host");
      int64_t i = 0;
      for (Attribute name : norm.getParams()) {
        ParamOp p = plan.param(llvm::cast<FlatSymbolRefAttr>(name).getValue());
        line(llvm::formatv("sumSquares({0}, {1}, partial(A, {2}));",
                           ptrAt(ArenaPlan::paramOffset(p, "ingot.grad_offset")),
                           p.getTensorType().getNumElements(), i++));
      }
      line(llvm::formatv("const double norm = std::sqrt(sumPartials(partial(A, 0), {0}));", i));
      line("s->gradNorm = norm;");
      line("s->nonFinite = !std::isfinite(norm);");
      line("if (s->nonFinite)");
      line("  return; // no update on a non-finite gradient");
      line("const double scale = s->clip > 0 && norm > s->clip ? s->clip / norm : 1.0;");
    } else if (auto adam = llvm::dyn_cast<AdamWOp>(op)) {
      ParamOp p = plan.param(adam.getName());
      auto off = [&](StringRef key) { return ArenaPlan::paramOffset(p, key); };
      line(llvm::formatv("adamw({0}, {1}, {2}, {3}, {4}, s->lr, s->beta1, s->beta2, s->eps, "
                         "{5}, s->step, scale); // {6}",
                         ptrAt(off("ingot.offset")), ptrAt(off("ingot.grad_offset")),
                         ptrAt(off("ingot.m_offset")), ptrAt(off("ingot.v_offset")),
                         p.getTensorType().getNumElements(),
                         adam.getWeightDecay() ? "s->weightDecay" : "0.0", p.getSymName()));
    } else if (!llvm::isa<func::ReturnOp>(op)) {
      return op.emitError() << "unexpected '" << op.getName() << "' in @optimizer_step";
    }
  }
  os << "}\n\n";
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

  os << "// Generated by ingotc " << options.compilerVersion << " from " << options.sourceName
     << " for the cuda target. Do not edit.\n"
     << "// Every shape and arena offset below is a compile-time constant; each launch names\n"
     << "// the ingot op and the .ingot line it came from. Tensors are fp32 in one GPU arena.\n"
     << "#include \"cuda/Kernels.cuh\"\n#include \"ingot/rt/Model.h\"\n\n"
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
     << "inline double *partial(char *arena, int i) {\n"
     << "  return reinterpret_cast<double *>(arena + kScratchOffset) + i;\n}\n\n";
  if (failed(calls.emitFunction(plan.forwardBackward, "forwardBackward")) ||
      failed(calls.emitFunction(plan.forward, "forward")) ||
      failed(emitOptimizer(plan.optimizerStep)))
    return failure();
  emitModelDesc(module, options, plan, "cuda", scratchOffset + scratch,
                "    ingot::cuda::allocArena, ingot::cuda::freeArena, ingot::cuda::copyToArena,\n"
                "    ingot::cuda::copyFromArena, ingot::cuda::zeroArena,\n",
                os);
  os << "\n} // namespace\n\n"
     << "extern \"C\" const ingot::rt::ModelDesc *ingot_model() { return &kModel; }\n";
  return success();
}

} // namespace

LogicalResult ingot::emitCudaProgram(ModuleOp module, const TargetEmitOptions &options,
                                     raw_ostream &os) {
  return CudaEmitter(module, options, os).emit();
}
