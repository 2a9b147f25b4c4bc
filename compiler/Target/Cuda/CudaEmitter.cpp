//===- CudaEmitter.cpp - The cuda target: memory-planned IR -> .cu --------===//
//
// Mirrors HostEmitter.cpp op for op: the same planned module, the same arena offsets, one
// launcher call of runtime/cuda/Kernels.cuh per op under a comment naming the op and its .ingot
// line. What differs: pointers are into the GPU arena, shapes and strides travel by value
// (Dims), a few backward kernels get a scratch area placed after the plan's arena, and the
// gradient norm is reduced on the device and read back once per step.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/Cuda/CudaEmitter.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

namespace {

class CudaEmitter {
public:
  CudaEmitter(ModuleOp module, const TargetEmitOptions &options, raw_ostream &os)
      : module(module), options(options), os(os) {}

  LogicalResult emit();

private:
  /// `at<float>(A, 1234)`: a pointer to `v` in the GPU arena.
  std::string ptr(Value v) {
    const char *t = typeOf(v).getElementType().isInteger(32) ? "int32_t" : "float";
    return llvm::formatv("at<{0}>(A, {1})", t, plan.offset(v)).str();
  }
  std::string ptrAt(int64_t off) { return llvm::formatv("at<float>(A, {0})", off).str(); }
  static std::string dims(ArrayRef<int64_t> values) { return "Dims{" + list(values) + "}"; }

  /// Bytes of transient scratch the kernels of `op` need (placed after the plan's arena).
  int64_t scratchBytes(Operation *op);
  LogicalResult emitFunction(func::FuncOp fn, StringRef name);
  LogicalResult emitOp(Operation *op);
  LogicalResult emitOptimizer(func::FuncOp fn);
  void line(const Twine &text) { os << "  " << text << "\n"; }

  ModuleOp module;
  const TargetEmitOptions &options;
  raw_ostream &os;
  ArenaPlan plan;
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

LogicalResult CudaEmitter::emitOp(Operation *op) {
  std::string where = locationComment(op->getLoc());
  os << "  // " << op->getName() << (where.empty() ? "" : "  " + where) << "\n";
  auto unaryKind = [](Operation *o) -> StringRef {
    return llvm::TypeSwitch<Operation *, StringRef>(o)
        .Case<NegOp>([](auto) { return "neg"; })
        .Case<ExpOp>([](auto) { return "exp"; })
        .Case<LogOp>([](auto) { return "log"; })
        .Case<SqrtOp>([](auto) { return "sqrt"; })
        .Case<RsqrtOp>([](auto) { return "rsqrt"; })
        .Case<TanhOp>([](auto) { return "tanh"; })
        .Case<ReluOp>([](auto) { return "relu"; })
        .Case<SiluOp>([](auto) { return "silu"; })
        .Default([](auto) { return ""; });
  };
  if (StringRef kind = unaryKind(op); !kind.empty()) {
    line(llvm::formatv("unary(Unary::{0}, {1}, {2}, {3});", kind, ptr(op->getResult(0)),
                       ptr(op->getOperand(0)), typeOf(op->getResult(0)).getNumElements()));
    return success();
  }
  auto binary = [&](StringRef kind) {
    auto out = typeOf(op->getResult(0)).getShape();
    line(llvm::formatv("binary(Binary::{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7});", kind,
                       ptr(op->getResult(0)), ptr(op->getOperand(0)), ptr(op->getOperand(1)),
                       out.size(), dims(out),
                       dims(broadcastStrides(typeOf(op->getOperand(0)).getShape(), out)),
                       dims(broadcastStrides(typeOf(op->getOperand(1)).getShape(), out))));
    return success();
  };
  auto rowsOf = [](Value x) {
    auto shape = typeOf(x).getShape();
    return std::make_pair(typeOf(x).getNumElements() / shape.back(), shape.back());
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<ParamRefOp, ReshapeOp>([](auto) { return success(); }) // views: no code
      .Case<ConstantOp>([&](ConstantOp c) -> LogicalResult {
        auto value = llvm::dyn_cast<DenseElementsAttr>(c.getValue());
        if (!value || !value.isSplat() || !llvm::isa<FloatType>(value.getElementType()))
          return op->emitError("the cuda target supports splat float constants only");
        line(llvm::formatv("fill({0}, {1}, {2});", ptr(c.getResult()),
                           value.getType().getNumElements(),
                           number(value.getSplatValue<APFloat>().convertToDouble())));
        return success();
      })
      .Case<AddOp>([&](auto) { return binary("add"); })
      .Case<SubOp>([&](auto) { return binary("sub"); })
      .Case<MulOp>([&](auto) { return binary("mul"); })
      .Case<DivOp>([&](auto) { return binary("div"); })
      .Case<MaximumOp>([&](auto) { return binary("maximum"); })
      .Case<GeluOp>([&](GeluOp g) {
        line(llvm::formatv("unary(Unary::{0}, {1}, {2}, {3});",
                           g.getApproximate() == "tanh" ? "gelu_tanh" : "gelu_erf",
                           ptr(g.getResult()), ptr(g.getX()), typeOf(g.getX()).getNumElements()));
        return success();
      })
      .Case<CastOp>([&](CastOp c) {
        bool toBF16 = typeOf(c.getResult()).getElementType().isBF16();
        line(llvm::formatv("cast({0}, {1}, {2}, {3});", ptr(c.getResult()), ptr(c.getX()),
                           typeOf(c.getX()).getNumElements(), toBF16 ? "true" : "false"));
        return success();
      })
      .Case<MatmulOp>([&](MatmulOp m) -> LogicalResult {
        FailureOr<MatmulGeometry> g = matmulGeometry(m, "cuda");
        if (failed(g))
          return failure();
        line(llvm::formatv("matmul({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, "
                           "false);",
                           ptr(m.getResult()), ptr(m.getLhs()), ptr(m.getRhs()), g->batch, g->rows,
                           g->cols, g->k, g->transA, g->transB, g->strideA, g->strideB,
                           g->strideC));
        return success();
      })
      .Case<EmbeddingOp>([&](EmbeddingOp e) {
        auto table = typeOf(e.getTable()).getShape();
        line(llvm::formatv("embedding({0}, {1}, {2}, {3}, {4}, {5});", ptr(e.getResult()),
                           ptr(e.getTable()), ptr(e.getIndices()),
                           typeOf(e.getIndices()).getNumElements(), table[0], table[1]));
        return success();
      })
      .Case<EmbeddingGradOp>([&](EmbeddingGradOp e) {
        auto table = typeOf(e.getResult()).getShape();
        line(llvm::formatv("embeddingGrad({0}, {1}, {2}, {3}, {4}, {5});", ptr(e.getResult()),
                           ptr(e.getIndices()), ptr(e.getGradOutput()),
                           typeOf(e.getIndices()).getNumElements(), table[0], table[1]));
        return success();
      })
      .Case<LayerNormOp>([&](LayerNormOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        line(llvm::formatv("layerNorm({0}, {1}, {2}, {3}, {4}, {5}, {6});", ptr(n.getResult()),
                           ptr(n.getX()), ptr(n.getGamma()), ptr(n.getBeta()), rows, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<LayerNormGradOp>([&](LayerNormGradOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        line(llvm::formatv("layerNormGrad({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, scratch(A));",
                           ptr(n.getGradX()), ptr(n.getGradGamma()), ptr(n.getGradBeta()),
                           ptr(n.getX()), ptr(n.getGamma()), ptr(n.getGradOutput()), rows, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<RmsNormOp>([&](RmsNormOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        line(llvm::formatv("rmsNorm({0}, {1}, {2}, {3}, {4}, {5});", ptr(n.getResult()),
                           ptr(n.getX()), ptr(n.getGamma()), rows, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<RmsNormGradOp>([&](RmsNormGradOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        line(llvm::formatv("rmsNormGrad({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, scratch(A));",
                           ptr(n.getGradX()), ptr(n.getGradGamma()), ptr(n.getX()),
                           ptr(n.getGamma()), ptr(n.getGradOutput()), rows, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<SoftmaxOp>([&](SoftmaxOp s) {
        AxisSplit a = around(typeOf(s.getX()).getShape(), s.getNormalizedAxis());
        line(llvm::formatv("softmax({0}, {1}, {2}, {3}, {4});", ptr(s.getResult()), ptr(s.getX()),
                           a.outer, a.axis, a.inner));
        return success();
      })
      .Case<SoftmaxGradOp>([&](SoftmaxGradOp s) {
        AxisSplit a = around(typeOf(s.getOutput()).getShape(), s.getNormalizedAxis());
        line(llvm::formatv("softmaxGrad({0}, {1}, {2}, {3}, {4}, {5});", ptr(s.getGradX()),
                           ptr(s.getOutput()), ptr(s.getGradOutput()), a.outer, a.axis, a.inner));
        return success();
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        auto q = typeOf(a.getQuery()).getShape(), k = typeOf(a.getKey()).getShape();
        int64_t heads = a.getNumHeads();
        line(llvm::formatv("attention({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, "
                           "{11});",
                           ptr(a.getResult()), ptr(a.getQuery()), ptr(a.getKey()),
                           ptr(a.getValue()), q[0], q[1], k[1], heads, a.getNumKvHeads(),
                           q[2] / heads, a.getCausal(), number(a.getScale().convertToDouble())));
        return success();
      })
      .Case<AttentionGradOp>([&](AttentionGradOp a) {
        auto q = typeOf(a.getQuery()).getShape(), k = typeOf(a.getKey()).getShape();
        int64_t heads = a.getNumHeads();
        line(llvm::formatv("attentionGrad({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, "
                           "{10}, {11}, {12}, {13}, {14}, {15}, scratch(A));",
                           ptr(a.getGradQuery()), ptr(a.getGradKey()), ptr(a.getGradValue()),
                           ptr(a.getQuery()), ptr(a.getKey()), ptr(a.getValue()),
                           ptr(a.getOutput()), ptr(a.getGradOutput()), q[0], q[1], k[1], heads,
                           a.getNumKvHeads(), q[2] / heads, a.getCausal(),
                           number(a.getScale().convertToDouble())));
        return success();
      })
      .Case<RopeOp>([&](RopeOp r) {
        auto x = typeOf(r.getX()).getShape();
        int64_t heads = r.getNumHeads();
        line(llvm::formatv("rope({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7});", ptr(r.getResult()),
                           ptr(r.getX()), x[0], x[1], heads, x[2] / heads,
                           number(r.getTheta().convertToDouble()), r.getInverse()));
        return success();
      })
      .Case<CrossEntropyOp>([&](CrossEntropyOp c) {
        int64_t classes = typeOf(c.getLogits()).getShape().back();
        line(llvm::formatv("crossEntropy({0}, {1}, {2}, {3}, {4});", ptr(c.getResult()),
                           ptr(c.getLogits()), ptr(c.getTargets()),
                           typeOf(c.getTargets()).getNumElements(), classes));
        return success();
      })
      .Case<CrossEntropyGradOp>([&](CrossEntropyGradOp c) {
        int64_t classes = typeOf(c.getLogits()).getShape().back();
        line(llvm::formatv("crossEntropyGrad({0}, {1}, {2}, {3}, {4}, {5});",
                           ptr(c.getGradLogits()), ptr(c.getLogits()), ptr(c.getTargets()),
                           ptr(c.getGradLoss()), typeOf(c.getTargets()).getNumElements(),
                           classes));
        return success();
      })
      .Case<GeluGradOp>([&](GeluGradOp g) {
        line(llvm::formatv("geluGrad({0}, {1}, {2}, {3}, {4});", ptr(g.getGradX()), ptr(g.getX()),
                           ptr(g.getGradOutput()), typeOf(g.getX()).getNumElements(),
                           g.getApproximate() == "tanh"));
        return success();
      })
      .Case<SiluGradOp, ReluGradOp>([&](auto g) {
        line(llvm::formatv("{0}({1}, {2}, {3}, {4});",
                           llvm::isa<SiluGradOp>(op) ? "siluGrad" : "reluGrad", ptr(g.getGradX()),
                           ptr(g.getX()), ptr(g.getGradOutput()),
                           typeOf(g.getX()).getNumElements()));
        return success();
      })
      .Case<TransposeOp>([&](TransposeOp t) {
        auto x = typeOf(t.getX()).getShape();
        line(llvm::formatv("transpose({0}, {1}, {2}, {3}, {4});", ptr(t.getResult()),
                           ptr(t.getX()), x.size(), dims(x), dims(t.getPermutation())));
        return success();
      })
      .Case<SliceOp>([&](SliceOp s) {
        AxisSplit a = around(typeOf(s.getX()).getShape(), s.getNormalizedAxis());
        line(llvm::formatv("copyAxis({0}, {1}, {2}, {3}, {4}, {5}, {6}, 0, {4}, false);",
                           ptr(s.getResult()), ptr(s.getX()), a.outer, a.axis, s.getSize(),
                           a.inner, s.getStart()));
        return success();
      })
      .Case<PadOp>([&](PadOp p) {
        AxisSplit a = around(typeOf(p.getX()).getShape(), p.getNormalizedAxis());
        line(llvm::formatv("copyAxis({0}, {1}, {2}, {3}, {4}, {5}, 0, {6}, {3}, true);",
                           ptr(p.getResult()), ptr(p.getX()), a.outer, a.axis,
                           a.axis + p.getBefore() + p.getAfter(), a.inner, p.getBefore()));
        return success();
      })
      .Case<ConcatOp>([&](ConcatOp c) {
        int64_t axisIndex = c.getNormalizedAxis();
        auto outShape = typeOf(c.getResult()).getShape();
        int64_t start = 0;
        for (Value input : c.getInputs()) {
          AxisSplit a = around(typeOf(input).getShape(), axisIndex);
          line(llvm::formatv("copyAxis({0}, {1}, {2}, {3}, {4}, {5}, 0, {6}, {3}, false);",
                             ptr(c.getResult()), ptr(input), a.outer, a.axis,
                             outShape[axisIndex], a.inner, start));
          start += a.axis;
        }
        return success();
      })
      .Case<BroadcastOp>([&](BroadcastOp b) {
        auto out = typeOf(b.getResult()).getShape();
        line(llvm::formatv("broadcast({0}, {1}, {2}, {3}, {4});", ptr(b.getResult()),
                           ptr(b.getX()), out.size(), dims(out),
                           dims(broadcastStrides(typeOf(b.getX()).getShape(), out))));
        return success();
      })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>([&](auto r) -> LogicalResult {
        FailureOr<AxisSplit> split =
            reductionSplit(op, typeOf(r.getX()).getShape(), r.getNormalizedAxes(), "cuda");
        if (failed(split))
          return failure();
        StringRef kind = llvm::isa<ReduceSumOp>(op)    ? "sum"
                         : llvm::isa<ReduceMeanOp>(op) ? "mean"
                                                       : "max";
        line(llvm::formatv("reduce(Reduce::{0}, {1}, {2}, {3}, {4}, {5});", kind,
                           ptr(r.getResult()), ptr(r.getX()), split->outer, split->axis,
                           split->inner));
        return success();
      })
      .Case<ParamGradOp>([&](ParamGradOp g) {
        ParamOp p = plan.param(g.getName());
        line(llvm::formatv("accumulate({0}, {1}, {2});",
                           ptrAt(ArenaPlan::paramOffset(p, "ingot.grad_offset")),
                           ptr(g.getGrad()), p.getTensorType().getNumElements()));
        return success();
      })
      .Case<func::ReturnOp>([&](func::ReturnOp r) {
        line(llvm::formatv("copy({0}, {1}, 1);", ptrAt(plan.lossOffset), ptr(r.getOperand(0))));
        return success();
      })
      .Default([&](Operation *) {
        return op->emitError() << "the cuda target has no kernel for '" << op->getName() << "'";
      });
}

LogicalResult CudaEmitter::emitFunction(func::FuncOp fn, StringRef name) {
  os << "void " << name << "(char *A) {\n";
  for (Operation &op : fn.getBody().front())
    if (failed(emitOp(&op)))
      return failure();
  os << "}\n\n";
  return success();
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
  if (failed(emitFunction(plan.forwardBackward, "forwardBackward")) ||
      failed(emitFunction(plan.forward, "forward")) || failed(emitOptimizer(plan.optimizerStep)))
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
