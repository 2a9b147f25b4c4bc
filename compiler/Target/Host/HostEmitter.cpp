//===- HostEmitter.cpp - The host target: memory-planned IR -> C++ --------===//
#include "compiler/Target/Host/HostEmitter.h"
#include "compiler/Target/EmitCommon.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

namespace {

class Emitter {
public:
  Emitter(ModuleOp module, const HostEmitOptions &options, raw_ostream &os)
      : module(module), options(options), os(os) {}

  LogicalResult emit();

private:
  int64_t offset(Value v) { return plan.offset(v); }
  /// `at<T>(A, 1234)`: a pointer to `v` in the arena.
  std::string ptr(Value v) {
    const char *t = typeOf(v).getElementType().isInteger(32) ? "int32_t" : "T";
    return llvm::formatv("at<{0}>(A, {1})", t, offset(v)).str();
  }
  std::string ptrAt(int64_t off) { return llvm::formatv("at<T>(A, {0})", off).str(); }

  LogicalResult emitFunction(func::FuncOp fn, StringRef cxxName);
  LogicalResult emitOp(Operation *op);
  LogicalResult emitOptimizer(func::FuncOp fn);
  void line(const Twine &text) { os << "  " << text << "\n"; }

  ModuleOp module;
  const HostEmitOptions &options;
  raw_ostream &os;
  ArenaPlan plan;
};

LogicalResult Emitter::emitOp(Operation *op) {
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
    line(llvm::formatv("unary<T>(Unary::{0}, {1}, {2}, {3});", kind, ptr(op->getResult(0)),
                       ptr(op->getOperand(0)), typeOf(op->getResult(0)).getNumElements()));
    return success();
  }
  auto binary = [&](StringRef kind) {
    auto out = typeOf(op->getResult(0)).getShape();
    line("{");
    line(llvm::formatv("  static const int64_t shape[] = {0}, sa[] = {1}, sb[] = {2};", list(out),
                       list(broadcastStrides(typeOf(op->getOperand(0)).getShape(), out)),
                       list(broadcastStrides(typeOf(op->getOperand(1)).getShape(), out))));
    line(llvm::formatv("  binary<T>(Binary::{0}, {1}, {2}, {3}, {4}, shape, sa, sb);", kind,
                       ptr(op->getResult(0)), ptr(op->getOperand(0)), ptr(op->getOperand(1)),
                       out.size()));
    line("}");
    return success();
  };
  auto around = [](ArrayRef<int64_t> shape, int64_t axis) {
    AxisSplit s = codegen::around(shape, axis);
    return std::make_tuple(s.outer, s.axis, s.inner);
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<ParamRefOp, ReshapeOp>([](auto) { return success(); }) // views: no code
      .Case<ConstantOp>([&](ConstantOp c) -> LogicalResult {
        auto value = llvm::dyn_cast<DenseElementsAttr>(c.getValue());
        if (!value || !value.isSplat() || !llvm::isa<FloatType>(value.getElementType()))
          return op->emitError("the host target supports splat float constants only");
        line(llvm::formatv("fill<T>({0}, {1}, {2});", ptr(c.getResult()),
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
        line(llvm::formatv("unary<T>(Unary::{0}, {1}, {2}, {3});",
                           g.getApproximate() == "tanh" ? "gelu_tanh" : "gelu_erf",
                           ptr(g.getResult()), ptr(g.getX()), typeOf(g.getX()).getNumElements()));
        return success();
      })
      .Case<CastOp>([&](CastOp c) {
        bool toBF16 = typeOf(c.getResult()).getElementType().isBF16();
        line(llvm::formatv("cast<T>({0}, {1}, {2}, {3});", ptr(c.getResult()), ptr(c.getX()),
                           typeOf(c.getX()).getNumElements(), toBF16 ? "true" : "false"));
        return success();
      })
      .Case<MatmulOp>([&](MatmulOp m) -> LogicalResult {
        FailureOr<MatmulGeometry> g = matmulGeometry(m, "host");
        if (failed(g))
          return failure();
        line(llvm::formatv("matmul<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, "
                           "false);",
                           ptr(m.getResult()), ptr(m.getLhs()), ptr(m.getRhs()), g->batch, g->rows,
                           g->cols, g->k, g->transA, g->transB, g->strideA, g->strideB,
                           g->strideC));
        return success();
      })
      .Case<EmbeddingOp>([&](EmbeddingOp e) {
        auto table = typeOf(e.getTable()).getShape();
        line(llvm::formatv("embedding<T>({0}, {1}, {2}, {3}, {4}, {5});", ptr(e.getResult()),
                           ptr(e.getTable()), ptr(e.getIndices()),
                           typeOf(e.getIndices()).getNumElements(), table[0], table[1]));
        return success();
      })
      .Case<EmbeddingGradOp>([&](EmbeddingGradOp e) {
        auto table = typeOf(e.getResult()).getShape();
        line(llvm::formatv("embeddingGrad<T>({0}, {1}, {2}, {3}, {4}, {5});", ptr(e.getResult()),
                           ptr(e.getIndices()), ptr(e.getGradOutput()),
                           typeOf(e.getIndices()).getNumElements(), table[0], table[1]));
        return success();
      })
      .Case<LayerNormOp>([&](LayerNormOp n) {
        int64_t dim = typeOf(n.getX()).getShape().back();
        line(llvm::formatv("layerNorm<T>({0}, {1}, {2}, {3}, {4}, {5}, {6});", ptr(n.getResult()),
                           ptr(n.getX()), ptr(n.getGamma()), ptr(n.getBeta()),
                           typeOf(n.getX()).getNumElements() / dim, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<LayerNormGradOp>([&](LayerNormGradOp n) {
        int64_t dim = typeOf(n.getX()).getShape().back();
        line(llvm::formatv("layerNormGrad<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8});",
                           ptr(n.getGradX()), ptr(n.getGradGamma()), ptr(n.getGradBeta()),
                           ptr(n.getX()), ptr(n.getGamma()), ptr(n.getGradOutput()),
                           typeOf(n.getX()).getNumElements() / dim, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<RmsNormOp>([&](RmsNormOp n) {
        int64_t dim = typeOf(n.getX()).getShape().back();
        line(llvm::formatv("rmsNorm<T>({0}, {1}, {2}, {3}, {4}, {5});", ptr(n.getResult()),
                           ptr(n.getX()), ptr(n.getGamma()), typeOf(n.getX()).getNumElements() / dim,
                           dim, number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<RmsNormGradOp>([&](RmsNormGradOp n) {
        int64_t dim = typeOf(n.getX()).getShape().back();
        line(llvm::formatv("rmsNormGrad<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7});",
                           ptr(n.getGradX()), ptr(n.getGradGamma()), ptr(n.getX()),
                           ptr(n.getGamma()), ptr(n.getGradOutput()),
                           typeOf(n.getX()).getNumElements() / dim, dim,
                           number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<SoftmaxOp>([&](SoftmaxOp s) {
        auto [outer, axis, inner] = around(typeOf(s.getX()).getShape(), s.getNormalizedAxis());
        line(llvm::formatv("softmax<T>({0}, {1}, {2}, {3}, {4});", ptr(s.getResult()),
                           ptr(s.getX()), outer, axis, inner));
        return success();
      })
      .Case<SoftmaxGradOp>([&](SoftmaxGradOp s) {
        auto [outer, axis, inner] = around(typeOf(s.getOutput()).getShape(), s.getNormalizedAxis());
        line(llvm::formatv("softmaxGrad<T>({0}, {1}, {2}, {3}, {4}, {5});", ptr(s.getGradX()),
                           ptr(s.getOutput()), ptr(s.getGradOutput()), outer, axis, inner));
        return success();
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        auto q = typeOf(a.getQuery()).getShape(), k = typeOf(a.getKey()).getShape();
        int64_t heads = a.getNumHeads();
        line(llvm::formatv("attention<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, "
                           "{11});",
                           ptr(a.getResult()), ptr(a.getQuery()), ptr(a.getKey()),
                           ptr(a.getValue()), q[0], q[1], k[1], heads, a.getNumKvHeads(),
                           q[2] / heads, a.getCausal(), number(a.getScale().convertToDouble())));
        return success();
      })
      .Case<AttentionGradOp>([&](AttentionGradOp a) {
        auto q = typeOf(a.getQuery()).getShape(), k = typeOf(a.getKey()).getShape();
        int64_t heads = a.getNumHeads();
        line(llvm::formatv("attentionGrad<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, "
                           "{10}, {11}, {12}, {13}, {14}, {15});",
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
        line(llvm::formatv("rope<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7});", ptr(r.getResult()),
                           ptr(r.getX()), x[0], x[1], heads, x[2] / heads,
                           number(r.getTheta().convertToDouble()), r.getInverse()));
        return success();
      })
      .Case<CrossEntropyOp>([&](CrossEntropyOp c) {
        int64_t classes = typeOf(c.getLogits()).getShape().back();
        line(llvm::formatv("crossEntropy<T>({0}, {1}, {2}, {3}, {4});", ptr(c.getResult()),
                           ptr(c.getLogits()), ptr(c.getTargets()),
                           typeOf(c.getTargets()).getNumElements(), classes));
        return success();
      })
      .Case<CrossEntropyGradOp>([&](CrossEntropyGradOp c) {
        int64_t classes = typeOf(c.getLogits()).getShape().back();
        line(llvm::formatv("crossEntropyGrad<T>({0}, {1}, {2}, {3}, {4}, {5});",
                           ptr(c.getGradLogits()), ptr(c.getLogits()), ptr(c.getTargets()),
                           ptr(c.getGradLoss()), typeOf(c.getTargets()).getNumElements(),
                           classes));
        return success();
      })
      .Case<GeluGradOp>([&](GeluGradOp g) {
        line(llvm::formatv("geluGrad<T>({0}, {1}, {2}, {3}, {4});", ptr(g.getGradX()),
                           ptr(g.getX()), ptr(g.getGradOutput()),
                           typeOf(g.getX()).getNumElements(), g.getApproximate() == "tanh"));
        return success();
      })
      .Case<SiluGradOp, ReluGradOp>([&](auto g) {
        line(llvm::formatv("{0}<T>({1}, {2}, {3}, {4});",
                           llvm::isa<SiluGradOp>(op) ? "siluGrad" : "reluGrad", ptr(g.getGradX()),
                           ptr(g.getX()), ptr(g.getGradOutput()),
                           typeOf(g.getX()).getNumElements()));
        return success();
      })
      .Case<TransposeOp>([&](TransposeOp t) {
        auto x = typeOf(t.getX()).getShape();
        line("{");
        line(llvm::formatv("  static const int64_t shape[] = {0}, perm[] = {1};", list(x),
                           list(t.getPermutation())));
        line(llvm::formatv("  transpose<T>({0}, {1}, {2}, shape, perm);", ptr(t.getResult()),
                           ptr(t.getX()), x.size()));
        line("}");
        return success();
      })
      .Case<SliceOp>([&](SliceOp s) {
        auto [outer, axis, inner] = around(typeOf(s.getX()).getShape(), s.getNormalizedAxis());
        line(llvm::formatv("copyAxis<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, 0, {4}, false);",
                           ptr(s.getResult()), ptr(s.getX()), outer, axis, s.getSize(), inner,
                           s.getStart()));
        return success();
      })
      .Case<PadOp>([&](PadOp p) {
        auto [outer, axis, inner] = around(typeOf(p.getX()).getShape(), p.getNormalizedAxis());
        line(llvm::formatv("copyAxis<T>({0}, {1}, {2}, {3}, {4}, {5}, 0, {6}, {3}, true);",
                           ptr(p.getResult()), ptr(p.getX()), outer, axis,
                           axis + p.getBefore() + p.getAfter(), inner, p.getBefore()));
        return success();
      })
      .Case<ConcatOp>([&](ConcatOp c) {
        int64_t axisIndex = c.getNormalizedAxis();
        auto outShape = typeOf(c.getResult()).getShape();
        int64_t start = 0;
        for (Value input : c.getInputs()) {
          auto [outer, axis, inner] = around(typeOf(input).getShape(), axisIndex);
          line(llvm::formatv("copyAxis<T>({0}, {1}, {2}, {3}, {4}, {5}, 0, {6}, {3}, false);",
                             ptr(c.getResult()), ptr(input), outer, axis, outShape[axisIndex],
                             inner, start));
          start += axis;
        }
        return success();
      })
      .Case<BroadcastOp>([&](BroadcastOp b) {
        auto out = typeOf(b.getResult()).getShape();
        line("{");
        line(llvm::formatv("  static const int64_t shape[] = {0}, sx[] = {1};", list(out),
                           list(broadcastStrides(typeOf(b.getX()).getShape(), out))));
        line(llvm::formatv("  broadcast<T>({0}, {1}, {2}, shape, sx);", ptr(b.getResult()),
                           ptr(b.getX()), out.size()));
        line("}");
        return success();
      })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>([&](auto r) -> LogicalResult {
        FailureOr<AxisSplit> split =
            reductionSplit(op, typeOf(r.getX()).getShape(), r.getNormalizedAxes(), "host");
        if (failed(split))
          return failure();
        StringRef kind = llvm::isa<ReduceSumOp>(op)    ? "sum"
                         : llvm::isa<ReduceMeanOp>(op) ? "mean"
                                                       : "max";
        auto [outer, axis, inner] = *split;
        line(llvm::formatv("reduce<T>(Reduce::{0}, {1}, {2}, {3}, {4}, {5});", kind,
                           ptr(r.getResult()), ptr(r.getX()), outer, axis, inner));
        return success();
      })
      .Case<ParamGradOp>([&](ParamGradOp g) {
        ParamOp p = plan.param(g.getName());
        line(llvm::formatv("accumulate<T>({0}, {1}, {2});",
                           ptrAt(ArenaPlan::paramOffset(p, "ingot.grad_offset")),
                           ptr(g.getGrad()), p.getTensorType().getNumElements()));
        return success();
      })
      .Case<func::ReturnOp>([&](func::ReturnOp r) {
        line(llvm::formatv("*{0} = *{1};", ptrAt(plan.lossOffset), ptr(r.getOperand(0))));
        return success();
      })
      .Default([&](Operation *) {
        return op->emitError() << "the host target has no kernel for '" << op->getName() << "'";
      });
}

LogicalResult Emitter::emitFunction(func::FuncOp fn, StringRef cxxName) {
  os << "void " << cxxName << "(char *A) {\n";
  for (Operation &op : fn.getBody().front())
    if (failed(emitOp(&op)))
      return failure();
  os << "}\n\n";
  return success();
}

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
      line("s->gradNorm = norm;");
      line("s->nonFinite = !std::isfinite(norm);");
      line("if (s->nonFinite)");
      line("  return; // no update on a non-finite gradient");
      line("const double scale = s->clip > 0 && norm > s->clip ? s->clip / norm : 1.0;");
    } else if (auto adam = llvm::dyn_cast<AdamWOp>(op)) {
      ParamOp p = plan.param(adam.getName());
      auto off = [&](StringRef key) { return ArenaPlan::paramOffset(p, key); };
      line(llvm::formatv("adamw<T>({0}, {1}, {2}, {3}, {4}, s->lr, s->beta1, s->beta2, s->eps, "
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
  if (failed(emitFunction(plan.forwardBackward, "forwardBackward")) ||
      failed(emitFunction(plan.forward, "forward")) || failed(emitOptimizer(plan.optimizerStep)))
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
