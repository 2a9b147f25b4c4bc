//===- KernelCalls.cpp - One kernel call per ingot op, for both targets ---===//
#include "compiler/Target/KernelCalls.h"
#include "compiler/Target/PipelineSegments.h"

#include "compiler/Transforms/Passes.h"
#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

/// `v` with the reshapes that made it looked through.
static Value throughReshapes(Value v) {
  while (auto reshape = v.getDefiningOp<ReshapeOp>())
    v = reshape.getX();
  return v;
}

namespace {
/// ", qRowStride, kvRowStride" when attention's q, k and v are views of wider rows
/// (ingot-attention-views marks all three or none), else "".
std::string viewStrides(Value query, Value key) {
  auto q = query.getDefiningOp<SliceOp>(), k = key.getDefiningOp<SliceOp>();
  if (!q || !k || !q->hasAttr("ingot.view") || !k->hasAttr("ingot.view"))
    return "";
  auto width = [](SliceOp s) {
    return llvm::cast<RankedTensorType>(s.getX().getType()).getShape().back();
  };
  return llvm::formatv(", {0}, {1}", width(q), width(k)).str();
}
} // namespace

std::string KernelCallEmitter::ptr(Value v) const {
  StringRef t = typeOf(v).getElementType().isInteger(32) ? StringRef("int32_t")
                : storedAsBf16(v)                         ? StringRef("bf16")
                                                          : style.floatType;
  return llvm::formatv("at<{0}>(A, {1})", t, plan.offset(v)).str();
}

bool KernelCallEmitter::sameSegment(Operation *a, Operation *b) const {
  return !segments || segments->segmentOf(a) == segments->segmentOf(b);
}

std::string KernelCallEmitter::statsOf(Operation *forward, Operation *user) {
  if (!forward || !statsIndex.count(forward)) {
    user->emitError() << "the " << style.target << " target needs '" << user->getName()
                      << "' to follow its forward op in the same function";
    return "";
  }
  // The slot is kept per micro-batch on the stage that wrote it (the runtime's copies of the
  // statistics region), so the reader must run there too.
  if (segments && user != forward && segments->stageOf(user) != segments->stageOf(forward)) {
    user->emitError() << "the " << style.target << " target's pipeline stages need '"
                      << user->getName() << "' on the stage of its forward op (stage "
                      << segments->stageOf(forward) << "), whose statistics it reads; it is on "
                      << "stage " << segments->stageOf(user);
    return "";
  }
  return llvm::formatv("lse(A, {0})", statsIndex.lookup(forward)).str();
}

/// The parameter gradient that is the only reader of `v` (through reshapes), if any.
static ParamGradOp soleGradUser(Value v) {
  while (v.hasOneUse()) {
    Operation *user = *v.getUsers().begin();
    if (auto grad = llvm::dyn_cast<ParamGradOp>(user))
      return grad;
    auto reshape = llvm::dyn_cast<ReshapeOp>(user);
    if (!reshape)
      return nullptr;
    v = reshape.getResult();
  }
  return nullptr;
}

/// Whether nothing between `producer` and `grad` adds into `grad`'s parameter gradient too (the
/// other part of a tied parameter's gradient, as a param_grad or folded into its producer).
/// Folding moves the addition of `grad` up to `producer`; fp32 additions into one gradient keep
/// their bits only in their order.
static bool gradOrderKept(Operation *producer, ParamGradOp grad) {
  for (Operation *o = producer->getNextNode(); o != grad; o = o->getNextNode()) {
    if (!o)
      return false;
    if (auto other = llvm::dyn_cast<ParamGradOp>(o); other && other.getName() == grad.getName())
      return false;
    for (Value r : o->getResults())
      if (ParamGradOp other = soleGradUser(r);
          other && other != grad && other.getName() == grad.getName())
        return false;
  }
  return true;
}

/// Bytes `v` takes in the arena, by its storage.
static int64_t storedBytes(Value v) {
  RankedTensorType t = typeOf(v);
  int64_t element = storedAsBf16(v) ? 2 : (t.getElementType().getIntOrFloatBitWidth() + 7) / 8;
  return t.getNumElements() * element;
}

PadOp KernelCallEmitter::paddedGradRows(Operation *reduce, Value sum) const {
  auto pad = sum.hasOneUse() ? llvm::dyn_cast<PadOp>(*sum.getUsers().begin()) : PadOp();
  if (!pad || storedAsBf16(sum) || storedAsBf16(pad.getResult()))
    return PadOp(); // a bf16 sum would be rounded before it is added
  // One block of rows: nothing before the padded axis, so x lands contiguously in the result.
  if (around(typeOf(sum).getShape(), pad.getNormalizedAxis()).outer != 1)
    return PadOp();
  ParamGradOp grad = soleGradUser(pad.getResult());
  if (!grad || !sameSegment(reduce, pad) || !sameSegment(reduce, grad) ||
      !gradOrderKept(reduce, grad))
    return PadOp();
  return pad;
}

void KernelCallEmitter::planEpilogues(func::FuncOp fn) {
  gemmFusions.clear();
  lateGemms.clear();
  normResiduals.clear();
  fusedAway.clear();
  Block &body = fn.getBody().front();
  DenseMap<Operation *, int64_t> position;
  for (auto [i, op] : llvm::enumerate(body))
    position[&op] = int64_t(i);
  // Only views (no code) between `first` and `second`: the fused call may run at `first`.
  auto adjacent = [&](Operation *first, Operation *second) {
    for (Operation *op = first->getNextNode(); op && op != second; op = op->getNextNode())
      if (!llvm::isa<ParamRefOp, ReshapeOp>(op))
        return false;
    return true;
  };
  struct Range {
    int64_t begin, end;
  };
  auto range = [&](Value v) { return Range{plan.offset(v), plan.offset(v) + storedBytes(v)}; };
  auto disjoint = [](Range a, Range b) { return a.end <= b.begin || b.end <= a.begin; };
  auto soleUser = [](Value v) -> Operation * {
    return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
  };
  for (Operation &op : body) {
    // A norm's input gradient joining the residual stream's gradient: dx + r in the kernel.
    if (llvm::isa<LayerNormGradOp, RmsNormGradOp>(op)) {
      Value dx = op.getResult(0);
      auto add = llvm::dyn_cast_or_null<AddOp>(soleUser(dx));
      if (!add || !adjacent(&op, add) || !sameSegment(&op, add) || !storedAsBf16(dx) ||
          !storedAsBf16(add.getResult()))
        continue;
      Value r = add.getLhs() == dx ? add.getRhs() : add.getLhs();
      Range out = range(add.getResult());
      // The kernel reads each element of x, dy and r before it writes the same element of dx
      // (and the weight gradients are done by then): dx may be any of them, or apart.
      auto sameOrApart = [&](Value v) {
        Range b = range(v);
        return (b.begin == out.begin && b.end == out.end) || disjoint(b, out);
      };
      bool ok = typeOf(r) == typeOf(dx) && storedAsBf16(r) && sameOrApart(r);
      for (Value in : op.getOperands())
        ok &= typeOf(in) == typeOf(dx) ? sameOrApart(in) : disjoint(out, range(in));
      if (ok) {
        normResiduals[&op] = {add.getResult(), r};
        fusedAway.insert(add);
      }
      continue;
    }
    auto m = llvm::dyn_cast<MatmulOp>(&op);
    if (!m || !storedAsBf16(m.getResult()) || !storedAsBf16(m.getLhs()))
      continue;
    auto rhs = typeOf(m.getRhs()), result = typeOf(m.getResult());
    if (rhs.getRank() != 2 || result.getRank() < 2)
      continue; // batched products keep the plain call
    int64_t n = result.getShape().back();
    // A bias: an n-vector parameter with a bf16 working copy.
    auto isBias = [&](Value v) {
      auto ref = throughReshapes(v).getDefiningOp<ParamRefOp>();
      ParamOp p = ref ? plan.param(ref.getName()) : ParamOp();
      return p && p->hasAttr("ingot.shadow_offset") && typeOf(v).getRank() == 1 &&
             typeOf(v).getNumElements() == n;
    };
    auto other = [&](AddOp add, Value v) { return add.getLhs() == v ? add.getRhs() : add.getLhs(); };
    // The GELU's backward applied to the product (dU = dY . W^T, then gelu_grad(pre, dU)). Other
    // code may run between the two (the weight gradient's GEMM): nothing it reads or writes
    // may share the gelu_grad's output buffer, which the fused call writes earlier.
    // The fused call runs at the gelu_grad (where the plan placed its output), so the GEMM's
    // operands must survive the code in between (the weight gradient's GEMM): nothing there
    // may write them.
    if (auto gg = llvm::dyn_cast_or_null<GeluGradOp>(soleUser(m.getResult()))) {
      Range out = range(gg.getGradX());
      SmallVector<Range> reads = {range(m.getLhs()), range(gg.getX())};
      if (!llvm::isa_and_nonnull<ParamRefOp>(m.getRhs().getDefiningOp()))
        reads.push_back(range(m.getRhs()));
      bool ok = gg.getApproximate() == "tanh" && gg.getGradOutput() == m.getResult() &&
                sameSegment(m, gg) && storedAsBf16(gg.getGradX()) && storedAsBf16(gg.getX());
      for (Range r : reads)
        ok &= disjoint(out, r);
      for (Operation *o = m->getNextNode(); ok && o && o != gg; o = o->getNextNode()) {
        if (llvm::isa<ParamRefOp, ReshapeOp, ParamGradOp>(o))
          continue; // no code, or an accumulation into the fp32 gradient region
        auto product = llvm::dyn_cast<MatmulOp>(o);
        if (product && style.foldGradAccumulate)
          if (ParamGradOp grad = soleGradUser(product.getResult()); grad && sameSegment(o, grad))
            continue; // writes only its parameter's gradient
        for (Value v : o->getResults())
          for (Range r : reads)
            ok &= !llvm::isa<RankedTensorType>(v.getType()) || disjoint(range(v), r);
      }
      if (ok) {
        GemmFusion f;
        f.out = gg.getGradX();
        f.aux = gg.getX();
        f.dgelu = true;
        gemmFusions[m] = f;
        lateGemms[gg] = m;
      }
      continue;
    }
    auto first = llvm::dyn_cast_or_null<AddOp>(soleUser(m.getResult()));
    if (!first || !adjacent(m, first))
      continue;
    GemmFusion f;
    SmallVector<Operation *> absorbed = {first};
    Value addend = other(first, m.getResult());
    if (isBias(addend)) {
      f.bias = addend;
      f.out = first.getResult();
      for (Operation *user : first.getResult().getUsers())
        if (auto gelu = llvm::dyn_cast<GeluOp>(user))
          if (gelu.getApproximate() == "tanh" && adjacent(first, gelu) && !f.aux) {
            f.aux = first.getResult();
            f.out = gelu.getResult();
            absorbed.push_back(gelu);
          }
    } else if (typeOf(addend) == result && storedAsBf16(addend) &&
               (llvm::isa<BlockArgument>(addend) ||
                position.lookup(addend.getDefiningOp()) < position.lookup(m))) {
      f.residual = addend;
      f.out = first.getResult();
      if (auto second = llvm::dyn_cast_or_null<AddOp>(soleUser(first.getResult())))
        if (isBias(other(second, first.getResult())) && adjacent(first, second)) {
          f.bias = other(second, first.getResult());
          f.out = second.getResult();
          absorbed.push_back(second);
        }
    } else {
      continue;
    }
    // The fused call writes `out` (and `aux`) while it reads the operands: the plan must not
    // have placed them on top of each other. A residual may be the output itself (in place).
    Range out = range(f.out);
    bool ok = storedAsBf16(f.out) && disjoint(out, range(m.getLhs()));
    if (!llvm::isa_and_nonnull<ParamRefOp>(m.getRhs().getDefiningOp()))
      ok &= disjoint(out, range(m.getRhs()));
    if (f.aux)
      ok &= storedAsBf16(f.aux) && disjoint(range(f.aux), out) &&
            disjoint(range(f.aux), range(m.getLhs()));
    if (f.residual) {
      Range r = range(f.residual);
      ok &= (r.begin == out.begin && r.end == out.end) || disjoint(r, out);
    }
    for (Operation *a : absorbed)
      ok &= sameSegment(m, a);
    if (!ok)
      continue;
    gemmFusions[m] = f;
    fusedAway.insert(absorbed.begin(), absorbed.end());
  }
}

std::string KernelCallEmitter::gemmOperand(Value v) const {
  if (!style.shadowWeights)
    return ptr(v);
  if (auto ref = throughReshapes(v).getDefiningOp<ParamRefOp>())
    if (ParamOp p = plan.param(ref.getName()); p && p->hasAttr("ingot.shadow_offset"))
      return llvm::formatv("at<bf16>(A, {0})", ArenaPlan::paramOffset(p, "ingot.shadow_offset"))
          .str();
  return ptr(v);
}

std::string KernelCallEmitter::ptrAt(int64_t off) const {
  return llvm::formatv("at<{0}>(A, {1})", style.floatType, off).str();
}

void KernelCallEmitter::arrayCall(
    StringRef name, const std::string &leadingArgs,
    ArrayRef<std::pair<StringRef, SmallVector<int64_t>>> arrays) {
  if (style.dimsByValue) {
    std::string args = leadingArgs;
    for (const auto &[_, values] : arrays)
      args += ", Dims{" + list(values) + "}";
    line(callee(name) + "(" + args + ");");
    return;
  }
  std::string decls, names;
  for (const auto &[arrayName, values] : arrays) {
    decls += (decls.empty() ? "" : ", ") + arrayName.str() + "[] = " + list(values);
    names += ", " + arrayName.str();
  }
  line("{");
  line("  static const int64_t " + decls + ";");
  line("  " + callee(name) + "(" + leadingArgs + names + ");");
  line("}");
}

void KernelCallEmitter::beginFunction(func::FuncOp fn, const PipelineSegments *segmentsOf) {
  segments = segmentsOf;
  statsIndex.clear();
  foldedGrads.clear();
  foldedPads.clear();
  fn.walk([&](Operation *op) {
    if (llvm::isa<AttentionOp, CrossEntropyOp>(op))
      statsIndex[op] = int64_t(statsIndex.size());
  });
  if (style.fuseEpilogues)
    planEpilogues(fn);
  biasGradGemm.clear();
  gemmBiasGrad.clear();
  if (style.fuseEpilogues && style.foldGradAccumulate)
    planBiasGrads(fn);
}

void KernelCallEmitter::planBiasGrads(func::FuncOp fn) {
  llvm::StringMap<int> gradsOfParam;
  fn.walk([&](ParamGradOp g) { ++gradsOfParam[g.getName()]; });
  fn.walk([&](ReduceSumOp r) {
    auto x = typeOf(r.getX());
    ArrayRef<int64_t> axes = r.getNormalizedAxes();
    // Every axis but the last, in order: one sum per output feature.
    if (x.getRank() < 2 || int64_t(axes.size()) != x.getRank() - 1 ||
        !llvm::all_of(llvm::enumerate(axes),
                      [](auto a) { return int64_t(a.index()) == a.value(); }))
      return;
    ParamGradOp g = soleGradUser(r.getResult());
    if (!g || !sameSegment(r, g) || gradsOfParam.lookup(g.getName()) != 1 ||
        !storedAsBf16(r.getX()) || storedAsBf16(r.getResult()))
      return;
    Value dy = throughReshapes(r.getX());
    // The weight gradient a^T x dy reading the same dy (through reshapes), folded into its
    // parameter's gradient as a plain GEMM.
    SmallVector<Value> views = {dy};
    for (size_t i = 0; i < views.size(); ++i)
      for (Operation *user : views[i].getUsers())
        if (auto reshape = llvm::dyn_cast<ReshapeOp>(user))
          views.push_back(reshape.getResult());
    for (Value view : views)
      for (Operation *user : view.getUsers()) {
        auto m = llvm::dyn_cast<MatmulOp>(user);
        if (!m || m.getRhs() != view || gemmFusions.count(m) || gemmBiasGrad.count(m))
          continue;
        FailureOr<MatmulGeometry> geometry = matmulGeometry(m, style.target);
        ParamGradOp weight = soleGradUser(m.getResult());
        if (failed(geometry) || geometry->batch != 1 || !geometry->transA ||
            geometry->transB || geometry->cols != x.getShape().back() ||
            geometry->k * geometry->cols != x.getNumElements() || !weight ||
            !sameSegment(m, weight) || !sameSegment(r, m) || storedAsBf16(m.getResult()))
          continue;
        biasGradGemm[r] = m;
        gemmBiasGrad[m] = {r, g};
        foldedGrads[g] = "the bias-gradient epilogue of its weight-gradient GEMM";
        return;
      }
  });
}

LogicalResult KernelCallEmitter::emitFunction(func::FuncOp fn, StringRef name,
                                              llvm::function_ref<void()> prologue) {
  os << "void " << name << "(char *A) {\n";
  beginFunction(fn);
  if (prologue)
    prologue();
  for (Operation &op : fn.getBody().front())
    if (failed(emitOp(&op)))
      return failure();
  os << "}\n\n";
  return success();
}

LogicalResult KernelCallEmitter::emitOp(Operation *op) {
  std::string where = locationComment(op->getLoc());
  os << "  // " << op->getName() << (where.empty() ? "" : "  " + where) << "\n";
  if (fusedAway.contains(op)) {
    line("// computed by the epilogue of the GEMM above");
    return success();
  }
  if (op->hasAttr("ingot.view")) { // ingot-attention-views: no copy
    line(llvm::isa<SliceOp>(op) ? "// a view: attention reads these rows in place"
                                : "// a view: attentionGrad wrote these rows in place");
    return success();
  }
  if (auto late = lateGemms.find(op); late != lateGemms.end()) {
    // This op is the epilogue of a GEMM deferred to here: emit that GEMM, fused.
    emittingLate = true;
    LogicalResult result = emitOp(late->second);
    emittingLate = false;
    return result;
  }
  // One call: `name<T>(args)` on the host, `name(args)` on cuda.
  auto call = [&](StringRef name, const auto &args) { line(callee(name) + args.str()); };
  StringRef scratch = style.scratchArg;
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
    call("unary", llvm::formatv("(Unary::{0}, {1}, {2}, {3});", kind, ptr(op->getResult(0)),
                                ptr(op->getOperand(0)),
                                typeOf(op->getResult(0)).getNumElements()));
    return success();
  }
  auto binary = [&](StringRef kind) {
    auto out = typeOf(op->getResult(0)).getShape();
    arrayCall("binary",
              llvm::formatv("Binary::{0}, {1}, {2}, {3}, {4}", kind, ptr(op->getResult(0)),
                            ptr(op->getOperand(0)), ptr(op->getOperand(1)), out.size())
                  .str(),
              {{"shape", llvm::to_vector(out)},
               {"sa", broadcastStrides(typeOf(op->getOperand(0)).getShape(), out)},
               {"sb", broadcastStrides(typeOf(op->getOperand(1)).getShape(), out)}});
    return success();
  };
  // Whether a norm backward's weight gradients (every result after dx) go straight into their
  // parameters' gradients: each is read only by its param_grad, which then emits nothing.
  auto gradFolds = [&](Operation *n) {
    if (!style.foldGradAccumulate || !llvm::isa_and_nonnull<LayerNormGradOp, RmsNormGradOp>(n))
      return false;
    SmallVector<ParamGradOp> grads;
    for (Value w : n->getResults().drop_front())
      if (ParamGradOp g = soleGradUser(w); g && w.hasOneUse() && sameSegment(n, g))
        grads.push_back(g);
      else
        return false;
    for (ParamGradOp g : grads)
      foldedGrads[g] = "the norm backward that produced it";
    return true;
  };
  // A norm backward's dx argument, and the trailing arguments: the residual gradient it adds
  // when fused, and whether its weight gradients go straight into the parameters' gradients.
  auto normGradOutput = [&](Operation *n) -> std::pair<std::string, std::string> {
    std::string dx = ptr(n->getResult(0)), residual;
    if (auto fused = normResiduals.find(n); fused != normResiduals.end()) {
      dx = ptr(fused->second.first);
      residual = ", " + ptr(fused->second.second);
    }
    if (gradFolds(n)) {
      // No residual: a null of dx's element type, so the launcher's template still deduces.
      std::string none = llvm::formatv(", static_cast<const {0} *>(nullptr)",
                                       storedAsBf16(n->getResult(0)) ? "bf16" : style.floatType)
                             .str();
      residual = (residual.empty() ? none : residual) + ", true";
    }
    return {dx, residual};
  };
  // The weight gradients of a norm backward, each into its parameter's gradient (cuda).
  auto weightGrad = [&](Value v) {
    if (ParamGradOp g = style.foldGradAccumulate ? soleGradUser(v) : ParamGradOp()) {
      if (gradFolds(v.getDefiningOp()))
        return ptrAt(ArenaPlan::paramOffset(plan.param(g.getName()), "ingot.grad_offset"));
    }
    return ptr(v);
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
          return op->emitError() << "the " << style.target
                                 << " target supports splat float constants only";
        call("fill", llvm::formatv("({0}, {1}, {2});", ptr(c.getResult()),
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
        call("unary", llvm::formatv("(Unary::{0}, {1}, {2}, {3});",
                                    g.getApproximate() == "tanh" ? "gelu_tanh" : "gelu_erf",
                                    ptr(g.getResult()), ptr(g.getX()),
                                    typeOf(g.getX()).getNumElements()));
        return success();
      })
      .Case<CastOp>([&](CastOp c) {
        bool toBF16 = typeOf(c.getResult()).getElementType().isBF16();
        call("cast", llvm::formatv("({0}, {1}, {2}, {3});", ptr(c.getResult()), ptr(c.getX()),
                                   typeOf(c.getX()).getNumElements(), toBF16 ? "true" : "false"));
        return success();
      })
      .Case<MatmulOp>([&](MatmulOp m) -> LogicalResult {
        FailureOr<MatmulGeometry> g = matmulGeometry(m, style.target);
        if (failed(g))
          return failure();
        if (auto fusion = gemmFusions.find(m); fusion != gemmFusions.end()) {
          const GemmFusion &f = fusion->second;
          if (f.dgelu && !emittingLate) {
            line("// computed with the GELU's backward below, in one fused GEMM");
            return success();
          }
          auto orNull = [&](Value v, bool gemm) {
            return v ? (gemm ? gemmOperand(v) : ptr(v)) : std::string("nullptr");
          };
          call("matmulEpilogue",
               llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, Epilogue::{6}, {7}, {8}, {9}, {10}, "
                             "{11});",
                             ptr(f.out), gemmOperand(m.getLhs()), gemmOperand(m.getRhs()),
                             orNull(f.residual, false), orNull(f.bias, true),
                             orNull(f.aux, false),
                             f.dgelu ? "dgelu" : f.aux ? "geluBias" : f.bias ? "bias" : "none",
                             g->rows, g->cols,
                             g->k, g->transA, g->transB));
          return success();
        }
        std::string out = ptr(m.getResult());
        bool accumulate = false;
        ParamGradOp grad = style.foldGradAccumulate ? soleGradUser(m.getResult()) : nullptr;
        if (grad && sameSegment(m, grad)) {
          out = ptrAt(ArenaPlan::paramOffset(plan.param(grad.getName()), "ingot.grad_offset"));
          accumulate = true;
          foldedGrads[grad] = "the GEMM that produced it";
        }
        if (auto bias = gemmBiasGrad.find(m); bias != gemmBiasGrad.end() && accumulate) {
          // The bias gradient summed from dy as the GEMM reads it (planBiasGrads).
          ParamOp biasParam = plan.param(bias->second.second.getName());
          call("matmulWeightBiasGrad",
               llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, true{7});", out,
                             ptrAt(ArenaPlan::paramOffset(biasParam, "ingot.grad_offset")),
                             gemmOperand(m.getLhs()), gemmOperand(m.getRhs()), g->rows, g->cols,
                             g->k, scratch));
          return success();
        }
        call("matmul",
             llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, {12});",
                           out, gemmOperand(m.getLhs()), gemmOperand(m.getRhs()),
                           g->batch, g->rows,
                           g->cols, g->k, g->transA, g->transB, g->strideA, g->strideB,
                           g->strideC, accumulate ? "true" : "false"));
        return success();
      })
      .Case<EmbeddingOp>([&](EmbeddingOp e) {
        auto table = typeOf(e.getTable()).getShape();
        call("embedding", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5});", ptr(e.getResult()),
                                        ptr(e.getTable()), ptr(e.getIndices()),
                                        typeOf(e.getIndices()).getNumElements(), table[0],
                                        table[1]));
        return success();
      })
      .Case<EmbeddingGradOp>([&](EmbeddingGradOp e) {
        auto table = typeOf(e.getResult()).getShape();
        std::string out = ptr(e.getResult()), accumulate;
        ParamGradOp g = style.foldGradAccumulate ? soleGradUser(e.getResult()) : ParamGradOp();
        if (g && sameSegment(e, g) && gradOrderKept(e, g)) {
          // Each named row's sum added straight into the table's gradient, the other rows left
          // as they are: no [vocab, dim] temporary written in full, then added.
          out = ptrAt(ArenaPlan::paramOffset(plan.param(g.getName()), "ingot.grad_offset"));
          accumulate = ", true";
          foldedGrads[g] = "the embedding gradient that produced it";
        }
        call("embeddingGrad", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}{6});", out,
                                            ptr(e.getIndices()), ptr(e.getGradOutput()),
                                            typeOf(e.getIndices()).getNumElements(), table[0],
                                            table[1], accumulate));
        return success();
      })
      .Case<LayerNormOp>([&](LayerNormOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        call("layerNorm", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6});", ptr(n.getResult()),
                                        ptr(n.getX()), ptr(n.getGamma()), ptr(n.getBeta()), rows,
                                        dim, number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<LayerNormGradOp>([&](LayerNormGradOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        auto [dx, residual] = normGradOutput(n);
        call("layerNormGrad",
             llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}{9}{10});", dx,
                           weightGrad(n.getGradGamma()), weightGrad(n.getGradBeta()), ptr(n.getX()),
                           ptr(n.getGamma()), ptr(n.getGradOutput()), rows, dim,
                           number(n.getEpsilon().convertToDouble()), scratch, residual));
        return success();
      })
      .Case<RmsNormOp>([&](RmsNormOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        call("rmsNorm", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5});", ptr(n.getResult()),
                                      ptr(n.getX()), ptr(n.getGamma()), rows, dim,
                                      number(n.getEpsilon().convertToDouble())));
        return success();
      })
      .Case<RmsNormGradOp>([&](RmsNormGradOp n) {
        auto [rows, dim] = rowsOf(n.getX());
        auto [dx, residual] = normGradOutput(n);
        call("rmsNormGrad",
             llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}{8}{9});", dx,
                           weightGrad(n.getGradGamma()), ptr(n.getX()), ptr(n.getGamma()),
                           ptr(n.getGradOutput()), rows, dim,
                           number(n.getEpsilon().convertToDouble()), scratch, residual));
        return success();
      })
      .Case<SoftmaxOp>([&](SoftmaxOp s) {
        AxisSplit a = around(typeOf(s.getX()).getShape(), s.getNormalizedAxis());
        call("softmax", llvm::formatv("({0}, {1}, {2}, {3}, {4});", ptr(s.getResult()),
                                      ptr(s.getX()), a.outer, a.axis, a.inner));
        return success();
      })
      .Case<SoftmaxGradOp>([&](SoftmaxGradOp s) {
        AxisSplit a = around(typeOf(s.getOutput()).getShape(), s.getNormalizedAxis());
        call("softmaxGrad", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5});", ptr(s.getGradX()),
                                          ptr(s.getOutput()), ptr(s.getGradOutput()), a.outer,
                                          a.axis, a.inner));
        return success();
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        auto q = typeOf(a.getQuery()).getShape(), k = typeOf(a.getKey()).getShape();
        int64_t heads = a.getNumHeads();
        std::string out = ptr(a.getResult());
        if (style.keepStats)
          out += ", " + statsOf(a, a);
        call("attention",
             llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}{12});",
                           out, ptr(a.getQuery()), ptr(a.getKey()),
                           ptr(a.getValue()), q[0], q[1], k[1], heads, a.getNumKvHeads(),
                           q[2] / heads, a.getCausal(), number(a.getScale().convertToDouble()),
                           viewStrides(a.getQuery(), a.getKey())));
        return success();
      })
      .Case<AttentionGradOp>([&](AttentionGradOp a) -> LogicalResult {
        auto q = typeOf(a.getQuery()).getShape(), k = typeOf(a.getKey()).getShape();
        std::string gradOutput = ptr(a.getGradOutput());
        if (style.keepStats) {
          // The statistics its forward saved: the attention op whose result is `output`.
          std::string stats = statsOf(a.getOutput().getDefiningOp<AttentionOp>(), a);
          if (stats.empty())
            return failure();
          gradOutput += ", " + stats;
        }
        int64_t heads = a.getNumHeads();
        // dq, dk, dv written in place into a view concat's rows (ingot-attention-views).
        std::string strides;
        Operation *concat =
            a.getGradQuery().use_empty() ? nullptr : *a.getGradQuery().getUsers().begin();
        if (concat && concat->hasAttr("ingot.view")) {
          int64_t width = typeOf(concat->getResult(0)).getShape().back();
          strides = llvm::formatv(", {0}, {0}", width).str();
        }
        std::string inputs = viewStrides(a.getQuery(), a.getKey());
        if (!inputs.empty() && strides.empty())
          strides = ", 0, 0";
        call("attentionGrad",
             llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, {12}, "
                           "{13}, {14}{15}{16});",
                           ptr(a.getGradQuery()), ptr(a.getGradKey()), ptr(a.getGradValue()),
                           ptr(a.getQuery()), ptr(a.getKey()), ptr(a.getValue()),
                           ptr(a.getOutput()) + ", " + gradOutput, q[0], q[1], k[1], heads,
                           a.getNumKvHeads(), q[2] / heads, a.getCausal(),
                           number(a.getScale().convertToDouble()), scratch, strides + inputs));
        return success();
      })
      .Case<RopeOp>([&](RopeOp r) {
        auto x = typeOf(r.getX()).getShape();
        int64_t heads = r.getNumHeads();
        call("rope", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7});", ptr(r.getResult()),
                                   ptr(r.getX()), x[0], x[1], heads, x[2] / heads,
                                   number(r.getTheta().convertToDouble()), r.getInverse()));
        return success();
      })
      .Case<CrossEntropyOp>([&](CrossEntropyOp c) {
        int64_t classes = typeOf(c.getLogits()).getShape().back();
        std::string loss = ptr(c.getResult());
        if (style.keepStats)
          loss += ", " + statsOf(c, c);
        call("crossEntropy", llvm::formatv("({0}, {1}, {2}, {3}, {4}{5});", loss,
                                           ptr(c.getLogits()), ptr(c.getTargets()),
                                           typeOf(c.getTargets()).getNumElements(), classes,
                                           scratch));
        return success();
      })
      .Case<CrossEntropyGradOp>([&](CrossEntropyGradOp c) -> LogicalResult {
        int64_t classes = typeOf(c.getLogits()).getShape().back();
        std::string logits = ptr(c.getLogits());
        if (style.keepStats) {
          // The statistics of the cross_entropy of the same logits and targets.
          Operation *forward = nullptr;
          for (Operation *user : c.getLogits().getUsers())
            if (auto ce = llvm::dyn_cast<CrossEntropyOp>(user))
              if (ce.getTargets() == c.getTargets())
                forward = ce;
          std::string stats = statsOf(forward, c);
          if (stats.empty())
            return failure();
          logits += ", " + stats;
        }
        call("crossEntropyGrad",
             llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5});", ptr(c.getGradLogits()),
                           logits, ptr(c.getTargets()), ptr(c.getGradLoss()),
                           typeOf(c.getTargets()).getNumElements(), classes));
        return success();
      })
      .Case<GeluGradOp>([&](GeluGradOp g) {
        call("geluGrad", llvm::formatv("({0}, {1}, {2}, {3}, {4});", ptr(g.getGradX()),
                                       ptr(g.getX()), ptr(g.getGradOutput()),
                                       typeOf(g.getX()).getNumElements(),
                                       g.getApproximate() == "tanh"));
        return success();
      })
      .Case<SiluGradOp, ReluGradOp>([&](auto g) {
        call(llvm::isa<SiluGradOp>(op) ? "siluGrad" : "reluGrad",
             llvm::formatv("({0}, {1}, {2}, {3});", ptr(g.getGradX()), ptr(g.getX()),
                           ptr(g.getGradOutput()), typeOf(g.getX()).getNumElements()));
        return success();
      })
      .Case<TransposeOp>([&](TransposeOp t) {
        auto x = typeOf(t.getX()).getShape();
        arrayCall("transpose",
                  llvm::formatv("{0}, {1}, {2}", ptr(t.getResult()), ptr(t.getX()), x.size()).str(),
                  {{"shape", llvm::to_vector(x)}, {"perm", llvm::to_vector(t.getPermutation())}});
        return success();
      })
      .Case<SliceOp>([&](SliceOp s) {
        AxisSplit a = around(typeOf(s.getX()).getShape(), s.getNormalizedAxis());
        call("copyAxis", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, {6}, 0, {4}, false);",
                                       ptr(s.getResult()), ptr(s.getX()), a.outer, a.axis,
                                       s.getSize(), a.inner, s.getStart()));
        return success();
      })
      .Case<PadOp>([&](PadOp p) {
        if (foldedPads.contains(p)) {
          line("// no copy: the reduction above added these rows into the parameter's gradient");
          return success();
        }
        AxisSplit a = around(typeOf(p.getX()).getShape(), p.getNormalizedAxis());
        call("copyAxis", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, 0, {6}, {3}, true);",
                                       ptr(p.getResult()), ptr(p.getX()), a.outer, a.axis,
                                       a.axis + p.getBefore() + p.getAfter(), a.inner,
                                       p.getBefore()));
        return success();
      })
      .Case<ConcatOp>([&](ConcatOp c) {
        int64_t axisIndex = c.getNormalizedAxis();
        auto outShape = typeOf(c.getResult()).getShape();
        int64_t start = 0;
        for (Value input : c.getInputs()) {
          AxisSplit a = around(typeOf(input).getShape(), axisIndex);
          call("copyAxis", llvm::formatv("({0}, {1}, {2}, {3}, {4}, {5}, 0, {6}, {3}, false);",
                                         ptr(c.getResult()), ptr(input), a.outer, a.axis,
                                         outShape[axisIndex], a.inner, start));
          start += a.axis;
        }
        return success();
      })
      .Case<BroadcastOp>([&](BroadcastOp b) {
        auto out = typeOf(b.getResult()).getShape();
        arrayCall("broadcast",
                  llvm::formatv("{0}, {1}, {2}", ptr(b.getResult()), ptr(b.getX()), out.size())
                      .str(),
                  {{"shape", llvm::to_vector(out)},
                   {"sx", broadcastStrides(typeOf(b.getX()).getShape(), out)}});
        return success();
      })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>([&](auto r) -> LogicalResult {
        if (biasGradGemm.count(op)) {
          line("// summed by the bias-gradient epilogue of its weight-gradient GEMM");
          return success();
        }
        FailureOr<AxisSplit> split =
            reductionSplit(op, typeOf(r.getX()).getShape(), r.getNormalizedAxes(), style.target);
        if (failed(split))
          return failure();
        StringRef kind = llvm::isa<ReduceSumOp>(op)    ? "sum"
                         : llvm::isa<ReduceMeanOp>(op) ? "mean"
                                                       : "max";
        std::string out = ptr(r.getResult()), accumulate;
        ParamGradOp g = style.foldGradAccumulate && llvm::isa<ReduceSumOp>(op)
                            ? soleGradUser(r.getResult())
                            : ParamGradOp();
        if (g && sameSegment(op, g)) {
          // A bias gradient: summed straight into the parameter's gradient.
          out = ptrAt(ArenaPlan::paramOffset(plan.param(g.getName()), "ingot.grad_offset"));
          accumulate = ", true";
          foldedGrads[g] = "the reduction that produced it";
        } else if (PadOp pad = style.foldGradAccumulate && llvm::isa<ReduceSumOp>(op)
                                   ? paddedGradRows(op, r.getResult())
                                   : PadOp()) {
          // The leading rows of a gradient (a sliced table's, like a position embedding's
          // rows 0..T-1): the sum goes straight into those rows, the padding's zeros nowhere.
          ParamGradOp padded = soleGradUser(pad.getResult());
          AxisSplit a = around(typeOf(pad.getX()).getShape(), pad.getNormalizedAxis());
          int64_t element = storedBytes(r.getResult()) / typeOf(r.getResult()).getNumElements();
          out = ptrAt(ArenaPlan::paramOffset(plan.param(padded.getName()), "ingot.grad_offset") +
                      pad.getBefore() * a.inner * element);
          accumulate = ", true";
          foldedPads.insert(pad);
          foldedGrads[padded] = "the reduction that produced its padded rows";
        }
        call("reduce", llvm::formatv("(Reduce::{0}, {1}, {2}, {3}, {4}, {5}{6}{7});", kind, out,
                                     ptr(r.getX()), split->outer, split->axis, split->inner,
                                     scratch, accumulate));
        return success();
      })
      .Case<ParamGradOp>([&](ParamGradOp g) {
        if (auto folded = foldedGrads.find(g); folded != foldedGrads.end()) {
          line(std::string("// accumulated by ") + folded->second);
          return success();
        }
        ParamOp p = plan.param(g.getName());
        call("accumulate", llvm::formatv("({0}, {1}, {2});",
                                         ptrAt(ArenaPlan::paramOffset(p, "ingot.grad_offset")),
                                         ptr(g.getGrad()), p.getTensorType().getNumElements()));
        return success();
      })
      .Case<func::ReturnOp>([&](func::ReturnOp r) {
        line(llvm::formatv(style.lossCopy.data(), ptrAt(plan.lossOffset), ptr(r.getOperand(0))));
        return success();
      })
      .Default([&](Operation *) {
        return op->emitError() << "the " << style.target << " target has no kernel for '"
                               << op->getName() << "'";
      });
}

void KernelCallEmitter::emitNormChecks() {
  line("s->gradNorm = norm;");
  line("s->nonFinite = !std::isfinite(norm);");
  line("if (s->nonFinite)");
  line("  return; // no update on a non-finite gradient");
  line("const double scale = s->clip > 0 && norm > s->clip ? s->clip / norm : 1.0;");
}

void KernelCallEmitter::emitAdamW(AdamWOp adam) {
  ParamOp p = plan.param(adam.getName());
  auto off = [&](StringRef key) { return ArenaPlan::paramOffset(p, key); };
  line(llvm::formatv("{0}({1}, {2}, {3}, {4}, {5}, s->lr, s->beta1, s->beta2, s->eps, {6}, "
                     "s->step, scale); // {7}",
                     callee("adamw"), ptrAt(off("ingot.offset")), ptrAt(off("ingot.grad_offset")),
                     ptrAt(off("ingot.m_offset")), ptrAt(off("ingot.v_offset")),
                     p.getTensorType().getNumElements(),
                     adam.getWeightDecay() ? "s->weightDecay" : "0.0", p.getSymName()));
}
