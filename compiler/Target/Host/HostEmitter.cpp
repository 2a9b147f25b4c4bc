//===- HostEmitter.cpp - The host target: memory-planned IR -> C++ --------===//
#include "compiler/Target/Host/HostEmitter.h"

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

namespace {

RankedTensorType typeOf(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// "{1, 2, 3}" for a C++ array initializer.
std::string list(ArrayRef<int64_t> values) {
  std::string s = "{";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "}";
}

/// A double as C++ source that reads back exactly.
std::string number(double v) { return llvm::formatv("{0:e17}", v).str(); }

/// Row-major element strides of `shape`, aligned to an output of rank `rank` with numpy
/// broadcasting: 0 for dimensions that are missing or stretched.
SmallVector<int64_t> broadcastStrides(ArrayRef<int64_t> shape, ArrayRef<int64_t> out) {
  SmallVector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  int64_t lead = out.size() - shape.size();
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    strides[d + lead] = shape[d] == out[d + lead] ? stride : 0;
    stride *= shape[d];
  }
  return strides;
}

std::string locationComment(Location loc) {
  if (auto file = llvm::dyn_cast<FileLineColLoc>(loc))
    return llvm::formatv("{0}:{1}:{2}", llvm::sys::path::filename(file.getFilename().getValue()),
                         file.getLine(), file.getColumn())
        .str();
  return "";
}

class Emitter {
public:
  Emitter(ModuleOp module, const HostEmitOptions &options, raw_ostream &os)
      : module(module), options(options), os(os) {}

  LogicalResult emit();

private:
  /// The arena offset of `v`.
  int64_t offset(Value v) {
    if (auto arg = llvm::dyn_cast<BlockArgument>(v))
      return inputOffsets[arg.getArgNumber()];
    auto offsets = v.getDefiningOp()->getAttrOfType<DenseI64ArrayAttr>("ingot.offsets");
    return offsets[llvm::cast<OpResult>(v).getResultNumber()];
  }
  /// `at<T>(A, 1234)`: a pointer to `v` in the arena.
  std::string ptr(Value v) {
    const char *t = typeOf(v).getElementType().isInteger(32) ? "int32_t" : "T";
    return llvm::formatv("at<{0}>(A, {1})", t, offset(v)).str();
  }
  std::string ptrAt(int64_t off) { return llvm::formatv("at<T>(A, {0})", off).str(); }

  LogicalResult emitFunction(func::FuncOp fn, StringRef cxxName);
  LogicalResult emitOp(Operation *op);
  LogicalResult emitOptimizer(func::FuncOp fn);
  void emitModelDesc();
  void line(const Twine &text) { os << "  " << text << "\n"; }

  ModuleOp module;
  const HostEmitOptions &options;
  raw_ostream &os;
  SmallVector<int64_t> inputOffsets;
  int64_t lossOffset = 0;
  llvm::StringMap<ParamOp> params;
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
  /// [outer, axis, inner] around dimension `axis` of `shape`.
  auto around = [](ArrayRef<int64_t> shape, int64_t axis) {
    return std::make_tuple(product(shape.take_front(axis)), shape[axis],
                           product(shape.drop_front(axis + 1)));
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
        auto a = typeOf(m.getLhs()).getShape(), b = typeOf(m.getRhs()).getShape();
        auto c = typeOf(m.getResult()).getShape();
        bool ta = m.getTransposeLhs(), tb = m.getTransposeRhs();
        int64_t rows = c[c.size() - 2], cols = c.back();
        int64_t k = ta ? a[a.size() - 2] : a.back();
        ArrayRef<int64_t> batchC = c.drop_back(2);
        int64_t batch = product(batchC), sa = 0, sb = 0;
        if (b.size() == 2 && !ta) { // a weight shared by the batch: fold the batch into rows
          rows *= batch;
          batch = 1;
        } else {
          if (a.size() > 2) {
            if (a.drop_back(2) != batchC)
              return op->emitError("the host target cannot broadcast matmul batch dimensions "
                                   "partially");
            sa = a[a.size() - 2] * a.back();
          }
          if (b.size() > 2) {
            if (b.drop_back(2) != batchC)
              return op->emitError("the host target cannot broadcast matmul batch dimensions "
                                   "partially");
            sb = b[b.size() - 2] * b.back();
          }
        }
        line(llvm::formatv("matmul<T>({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, "
                           "false);",
                           ptr(m.getResult()), ptr(m.getLhs()), ptr(m.getRhs()), batch, rows, cols,
                           k, ta, tb, sa, sb, c[c.size() - 2] * cols));
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
        SmallVector<int64_t> axes = r.getNormalizedAxes();
        auto x = typeOf(r.getX()).getShape();
        llvm::sort(axes);
        for (size_t i = 1; i < axes.size(); ++i)
          if (axes[i] != axes[i - 1] + 1)
            return op->emitError("the host target reduces over consecutive axes only");
        StringRef kind = llvm::isa<ReduceSumOp>(op)    ? "sum"
                         : llvm::isa<ReduceMeanOp>(op) ? "mean"
                                                       : "max";
        int64_t outer = 1, axis = 1, inner = 1;
        if (!axes.empty()) {
          outer = product(x.take_front(axes.front()));
          axis = product(x.slice(axes.front(), axes.size()));
          inner = product(x.drop_front(axes.back() + 1));
        } else {
          inner = product(x);
        }
        line(llvm::formatv("reduce<T>(Reduce::{0}, {1}, {2}, {3}, {4}, {5});", kind,
                           ptr(r.getResult()), ptr(r.getX()), outer, axis, inner));
        return success();
      })
      .Case<ParamGradOp>([&](ParamGradOp g) {
        ParamOp p = params.lookup(g.getName());
        line(llvm::formatv("accumulate<T>({0}, {1}, {2});",
                           ptrAt(p->getAttrOfType<IntegerAttr>("ingot.grad_offset").getInt()),
                           ptr(g.getGrad()), p.getTensorType().getNumElements()));
        return success();
      })
      .Case<func::ReturnOp>([&](func::ReturnOp r) {
        line(llvm::formatv("*{0} = *{1};", ptrAt(lossOffset), ptr(r.getOperand(0))));
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
        ParamOp p = params.lookup(llvm::cast<FlatSymbolRefAttr>(name).getValue());
        line(llvm::formatv("sumsq += sumSquares<T>({0}, {1});",
                           ptrAt(p->getAttrOfType<IntegerAttr>("ingot.grad_offset").getInt()),
                           p.getTensorType().getNumElements()));
      }
      line("const double norm = std::sqrt(sumsq);");
      line("s->gradNorm = norm;");
      line("s->nonFinite = !std::isfinite(norm);");
      line("if (s->nonFinite)");
      line("  return; // no update on a non-finite gradient");
      line("const double scale = s->clip > 0 && norm > s->clip ? s->clip / norm : 1.0;");
    } else if (auto adam = llvm::dyn_cast<AdamWOp>(op)) {
      ParamOp p = params.lookup(adam.getName());
      auto off = [&](StringRef key) { return p->getAttrOfType<IntegerAttr>(key).getInt(); };
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

/// Escapes `s` as the body of a C++ string literal.
std::string cxxString(StringRef s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n\"\n\"";
      continue;
    }
    out += c;
  }
  return out;
}

void Emitter::emitModelDesc() {
  auto memory = module->getAttrOfType<DictionaryAttr>("ingot.memory");
  auto train = module->getAttrOfType<DictionaryAttr>("ingot.train");
  auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel");
  auto mem = [&](StringRef key) { return memory.getAs<IntegerAttr>(key).getInt(); };
  auto tf = [&](StringRef key) { return number(train.getAs<FloatAttr>(key).getValueAsDouble()); };
  const char *dtype = options.f64 ? "ingot::rt::DType::f64" : "ingot::rt::DType::f32";
  int64_t floatBytes = options.f64 ? 8 : 4;

  auto tensor = [&](StringRef name, const char *dt, ArrayRef<int64_t> shape, int64_t off,
                    int64_t elementBytes) {
    SmallVector<int64_t> padded(shape);
    padded.resize(6, 0);
    return llvm::formatv("{\"{0}\", {1}, {2}, {3}, {4}u, {5}u}", name, dt, shape.size(),
                         list(padded), off, product(shape) * elementBytes)
        .str();
  };

  os << "const ingot::rt::ParamDesc kParams[] = {\n";
  for (ParamOp p : module.getOps<ParamOp>()) {
    auto shape = p.getTensorType().getShape();
    auto off = [&](StringRef key) { return p->getAttrOfType<IntegerAttr>(key).getInt(); };
    std::string name = p.getSymName().str();
    ArrayRef<double> args = p.getInitArgs();
    os << "    {" << tensor(name, dtype, shape, off("ingot.offset"), floatBytes) << ",\n     "
       << tensor(name + ".grad", dtype, shape, off("ingot.grad_offset"), floatBytes) << ",\n     "
       << tensor(name + ".m", dtype, shape, off("ingot.m_offset"), floatBytes) << ",\n     "
       << tensor(name + ".v", dtype, shape, off("ingot.v_offset"), floatBytes) << ",\n     {\""
       << p.getInit() << "\", {" << number(args.size() > 0 ? args[0] : 0) << ", "
       << number(args.size() > 1 ? args[1] : 0) << "}}, "
       << (shape.size() >= 2 ? "true" : "false") << "},\n";
  }
  os << "};\n\n";

  auto fwd = module.lookupSymbol<func::FuncOp>("forward");
  auto tokens = typeOf(fwd.getArgument(0)).getShape();
  // The vocabulary every token must be below: the smallest table or class count they index.
  int64_t vocab = INT64_MAX;
  fwd.walk([&](EmbeddingOp e) {
    if (e.getIndices() == fwd.getArgument(0))
      vocab = std::min(vocab, typeOf(e.getTable()).getDimSize(0));
  });
  fwd.walk([&](CrossEntropyOp c) { vocab = std::min(vocab, typeOf(c.getLogits()).getShape().back()); });

  os << "const char kManifest[] = \"" << cxxString(describeModule(module, options)) << "\";\n\n";
  os << "const ingot::rt::ModelDesc kModel = {\n";
  os << "    \"" << module.getName().value_or("model") << "\", \"host\", kManifest, "
     << options.sourceHash << "ull,\n";
  os << "    " << tokens[0] << ", " << tokens[1] << ", " << vocab << ", "
     << parallel.getAs<IntegerAttr>("microbatches").getInt() << ", " << dtype << ",\n";
  os << "    " << std::distance(module.getOps<ParamOp>().begin(), module.getOps<ParamOp>().end())
     << ", kParams, " << mem("arena_bytes") << "u, " << mem("grads_offset") << "u, "
     << mem("grads_bytes") << "u,\n";
  os << "    " << tensor("tokens", "ingot::rt::DType::i32", tokens, inputOffsets[0], 4) << ",\n";
  os << "    " << tensor("targets", "ingot::rt::DType::i32", tokens, inputOffsets[1], 4) << ",\n";
  os << "    " << tensor("loss", dtype, {}, lossOffset, floatBytes) << ",\n";
  os << "    {" << tf("lr") << ", " << tf("beta1") << ", " << tf("beta2") << ", " << tf("eps")
     << ", " << tf("weight_decay") << ", " << tf("clip") << ", \""
     << train.getAs<StringAttr>("lr_schedule").getValue() << "\", "
     << train.getAs<IntegerAttr>("warmup").getInt() << ", " << tf("lr_final") << "},\n";
  os << "    forwardBackward, forward, optimizerStep,\n};\n";
}

LogicalResult Emitter::emit() {
  auto memory = module->getAttrOfType<DictionaryAttr>("ingot.memory");
  auto fb = module.lookupSymbol<func::FuncOp>("forward_backward");
  auto fwd = module.lookupSymbol<func::FuncOp>("forward");
  auto opt = module.lookupSymbol<func::FuncOp>("optimizer_step");
  if (!memory || !fb || !fwd || !opt)
    return module.emitError("the host emitter needs the training step, the optimizer step and "
                            "the memory plan (ingot-autodiff, ingot-optimizer, ingot-plan-memory)");
  if (memory.getAs<IntegerAttr>("float_bytes").getInt() != (options.f64 ? 8 : 4))
    return module.emitError("the memory plan was made for another float size");
  llvm::append_range(inputOffsets, memory.getAs<DenseI64ArrayAttr>("input_offsets").asArrayRef());
  lossOffset = memory.getAs<IntegerAttr>("loss_offset").getInt();
  for (ParamOp p : module.getOps<ParamOp>())
    params[p.getSymName()] = p;

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
  if (failed(emitFunction(fb, "forwardBackward")) || failed(emitFunction(fwd, "forward")) ||
      failed(emitOptimizer(opt)))
    return failure();
  emitModelDesc();
  os << "\n} // namespace\n\n"
     << "extern \"C\" const ingot::rt::ModelDesc *ingot_model() { return &kModel; }\n";
  return success();
}

} // namespace

LogicalResult ingot::emitHostProgram(ModuleOp module, const HostEmitOptions &options,
                                     raw_ostream &os) {
  return Emitter(module, options, os).emit();
}

std::string ingot::describeModule(ModuleOp module, const HostEmitOptions &options) {
  std::string out;
  llvm::raw_string_ostream os(out);
  int64_t count = 0;
  for (ParamOp p : module.getOps<ParamOp>())
    count += p.getTensorType().getNumElements();
  os << "{\n  \"model\": \"" << module.getName().value_or("model") << "\",\n"
     << "  \"source\": \"" << llvm::sys::path::filename(options.sourceName) << "\",\n"
     << "  \"source_hash\": \"" << llvm::format_hex(options.sourceHash, 18) << "\",\n"
     << "  \"compiler\": \"ingotc " << options.compilerVersion << "\",\n"
     << "  \"target\": \"host\",\n"
     << "  \"compute_dtype\": \"" << (options.f64 ? "f64" : "f32") << "\",\n"
     << "  \"parameters\": " << count << ",\n";
  // The cost model's arithmetic per micro-batch (IngotCostOpInterface).
  auto flops = [&](StringRef fn) {
    uint64_t total = 0;
    if (auto f = module.lookupSymbol<func::FuncOp>(fn))
      f.walk([&](IngotCostOpInterface op) { total += op.getFlops(); });
    return total;
  };
  os << "  \"flops\": {\"forward\": " << flops("forward")
     << ", \"forward_backward\": " << flops("forward_backward")
     << ", \"optimizer_step\": " << flops("optimizer_step") << "},\n";
  auto dict = [&](StringRef key) {
    os << "  \"" << key.drop_front(6) << "\": {";
    auto attr = module->getAttrOfType<DictionaryAttr>(key);
    bool first = true;
    for (NamedAttribute a : attr) {
      os << (first ? "" : ", ") << "\"" << a.getName().getValue() << "\": ";
      first = false;
      if (auto b = llvm::dyn_cast<BoolAttr>(a.getValue()))
        os << (b.getValue() ? "true" : "false");
      else if (auto i = llvm::dyn_cast<IntegerAttr>(a.getValue()))
        os << i.getInt();
      else if (auto f = llvm::dyn_cast<FloatAttr>(a.getValue()))
        os << llvm::format("%.9g", f.getValueAsDouble());
      else if (auto s = llvm::dyn_cast<StringAttr>(a.getValue()))
        os << "\"" << s.getValue() << "\"";
      else if (auto arr = llvm::dyn_cast<DenseI64ArrayAttr>(a.getValue()))
        os << "[" << llvm::join(llvm::map_range(arr.asArrayRef(),
                                                [](int64_t v) { return std::to_string(v); }),
                                ", ")
           << "]";
      else
        os << "null";
    }
    os << "}";
  };
  dict("ingot.train");
  os << ",\n";
  dict("ingot.parallel");
  os << ",\n";
  dict("ingot.memory");
  os << "\n}\n";
  return out;
}
