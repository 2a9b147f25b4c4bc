//===- IngotVjp.cpp - Vector-Jacobian products of the ingot ops -----------===//
//
// The reverse-mode rule of every differentiable op, attached to the ops as external models of
// IngotVjpOpInterface. Each rule builds, at the builder's insertion point and at the forward
// op's location, the ops that turn the cotangents of the op's results into the cotangents of
// its operands. Broadcasting operands get their cotangent summed back to their own shape.
//
//===----------------------------------------------------------------------===//
#include "dialects/Ingot/IngotOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;
using namespace ingot;

namespace {

RankedTensorType typeOf(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

/// A rank-0 constant of `elementType`.
Value scalar(ImplicitLocOpBuilder &b, Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  Attribute element = b.getFloatAttr(elementType, value);
  return ConstantOp::create(b, type, DenseElementsAttr::get(type, llvm::ArrayRef(element)));
}

/// Sums `grad` over the dimensions that numpy broadcasting added or stretched, so that it has
/// `type`'s shape.
Value unbroadcast(ImplicitLocOpBuilder &b, Value grad, RankedTensorType type) {
  RankedTensorType g = typeOf(grad);
  if (g.getShape() == type.getShape())
    return grad;
  int64_t lead = g.getRank() - type.getRank();
  SmallVector<int64_t> axes, kept;
  for (int64_t i = 0; i < g.getRank(); ++i) {
    bool added = i < lead;
    bool stretched = !added && type.getDimSize(i - lead) == 1 && g.getDimSize(i) != 1;
    if (added || stretched)
      axes.push_back(i);
    else
      kept.push_back(g.getDimSize(i));
  }
  Value reduced = grad;
  if (!axes.empty())
    reduced = ReduceSumOp::create(b, RankedTensorType::get(kept, g.getElementType()), grad, axes,
                                  /*keep_dims=*/false);
  if (typeOf(reduced).getShape() != type.getShape())
    reduced = ReshapeOp::create(b, type, reduced);
  return reduced;
}

/// `grad` (the reduced shape of a reduction over `axes` of `input`) broadcast back to `input`.
Value expandReduced(ImplicitLocOpBuilder &b, Value grad, RankedTensorType input,
                    ArrayRef<int64_t> axes) {
  SmallVector<int64_t> keptShape(input.getShape());
  for (int64_t a : axes)
    keptShape[a] = 1;
  auto keptType = RankedTensorType::get(keptShape, input.getElementType());
  Value g = grad;
  if (typeOf(g).getShape() != ArrayRef<int64_t>(keptShape))
    g = ReshapeOp::create(b, keptType, g);
  if (keptType != input)
    g = BroadcastOp::create(b, input, g);
  return g;
}

/// Base for the rules: the interface method forwards to `vjp` with a located builder.
template <typename Concrete, typename OpTy>
struct VjpModel : public IngotVjpOpInterface::ExternalModel<Concrete, OpTy> {
  SmallVector<Value> buildVjp(Operation *op, OpBuilder &builder,
                              ValueRange outputCotangents) const {
    ImplicitLocOpBuilder b(op->getLoc(), builder);
    SmallVector<Value> result = Concrete::vjp(b, llvm::cast<OpTy>(op), outputCotangents);
    builder.setInsertionPoint(b.getInsertionBlock(), b.getInsertionPoint());
    return result;
  }
};

#define INGOT_VJP(Name, OpTy)                                                                  \
  struct Name : VjpModel<Name, OpTy> {                                                          \
    static SmallVector<Value> vjp(ImplicitLocOpBuilder &b, OpTy op, ValueRange cot);           \
  };                                                                                            \
  SmallVector<Value> Name::vjp(ImplicitLocOpBuilder &b, OpTy op, ValueRange cot)

// --- Elementwise arithmetic ------------------------------------------------------------------

INGOT_VJP(AddVjp, AddOp) {
  return {unbroadcast(b, cot[0], typeOf(op.getLhs())), unbroadcast(b, cot[0], typeOf(op.getRhs()))};
}

INGOT_VJP(SubVjp, SubOp) {
  Value negated = NegOp::create(b, cot[0].getType(), cot[0]);
  return {unbroadcast(b, cot[0], typeOf(op.getLhs())), unbroadcast(b, negated, typeOf(op.getRhs()))};
}

INGOT_VJP(MulVjp, MulOp) {
  Type t = cot[0].getType();
  Value dl = MulOp::create(b, t, cot[0], op.getRhs());
  Value dr = MulOp::create(b, t, cot[0], op.getLhs());
  return {unbroadcast(b, dl, typeOf(op.getLhs())), unbroadcast(b, dr, typeOf(op.getRhs()))};
}

INGOT_VJP(DivVjp, DivOp) {
  // d(a/b) = g/b da - g (a/b)/b db
  Type t = cot[0].getType();
  Value dl = DivOp::create(b, t, cot[0], op.getRhs());
  Value gy = MulOp::create(b, t, cot[0], op.getResult());
  Value dr = NegOp::create(b, t, DivOp::create(b, t, gy, op.getRhs()));
  return {unbroadcast(b, dl, typeOf(op.getLhs())), unbroadcast(b, dr, typeOf(op.getRhs()))};
}

INGOT_VJP(MaximumVjp, MaximumOp) {
  // The gradient goes to the larger operand (to neither on an exact tie, a set of measure 0).
  Type t = cot[0].getType();
  Value diff = SubOp::create(b, t, op.getLhs(), op.getRhs());
  Value dl = ReluGradOp::create(b, t, diff, cot[0]);
  Value dr = ReluGradOp::create(b, t, NegOp::create(b, t, diff), cot[0]);
  return {unbroadcast(b, dl, typeOf(op.getLhs())), unbroadcast(b, dr, typeOf(op.getRhs()))};
}

INGOT_VJP(NegVjp, NegOp) { return {NegOp::create(b, cot[0].getType(), cot[0])}; }

INGOT_VJP(ExpVjp, ExpOp) { return {MulOp::create(b, cot[0].getType(), cot[0], op.getResult())}; }

INGOT_VJP(LogVjp, LogOp) { return {DivOp::create(b, cot[0].getType(), cot[0], op.getX())}; }

INGOT_VJP(SqrtVjp, SqrtOp) {
  // d sqrt(x) = 0.5 / sqrt(x)
  Type t = cot[0].getType();
  Value half = scalar(b, typeOf(op.getX()).getElementType(), 0.5);
  return {DivOp::create(b, t, MulOp::create(b, t, cot[0], half), op.getResult())};
}

INGOT_VJP(RsqrtVjp, RsqrtOp) {
  // d x^-1/2 = -0.5 x^-3/2 = -0.5 y^3
  Type t = cot[0].getType();
  Value y = op.getResult();
  Value y3 = MulOp::create(b, t, MulOp::create(b, t, y, y), y);
  Value k = scalar(b, typeOf(y).getElementType(), -0.5);
  return {MulOp::create(b, t, MulOp::create(b, t, cot[0], y3), k)};
}

INGOT_VJP(TanhVjp, TanhOp) {
  // d tanh = 1 - y^2: g - g y y
  Type t = cot[0].getType();
  Value y = op.getResult();
  Value gyy = MulOp::create(b, t, MulOp::create(b, t, cot[0], y), y);
  return {SubOp::create(b, t, cot[0], gyy)};
}

INGOT_VJP(ReluVjp, ReluOp) { return {ReluGradOp::create(b, cot[0].getType(), op.getX(), cot[0])}; }
INGOT_VJP(SiluVjp, SiluOp) { return {SiluGradOp::create(b, cot[0].getType(), op.getX(), cot[0])}; }
INGOT_VJP(GeluVjp, GeluOp) {
  return {GeluGradOp::create(b, cot[0].getType(), op.getX(), cot[0], op.getApproximate())};
}

INGOT_VJP(CastVjp, CastOp) { return {CastOp::create(b, op.getX().getType(), cot[0])}; }

// --- Contractions and lookups ----------------------------------------------------------------

/// `v` [..., r, c] viewed as [prod(...) * r, c].
Value flattenRows(ImplicitLocOpBuilder &b, Value v) {
  RankedTensorType t = typeOf(v);
  if (t.getRank() == 2)
    return v;
  int64_t rows = 1;
  for (int64_t d : t.getShape().drop_back())
    rows *= d;
  return ReshapeOp::create(b, RankedTensorType::get({rows, t.getShape().back()}, t.getElementType()), v);
}

INGOT_VJP(MatmulVjp, MatmulOp) {
  // C = op(A) op(B):  d op(A) = dC op(B)^T,  d op(B) = op(A)^T dC.
  Value a = op.getLhs(), bm = op.getRhs(), g = cot[0];
  bool ta = op.getTransposeLhs(), tb = op.getTransposeRhs();
  RankedTensorType at = typeOf(a), bt = typeOf(bm), gt = typeOf(g);
  Type elt = at.getElementType();
  auto batched = [&](ArrayRef<int64_t> batch, int64_t r, int64_t c) {
    SmallVector<int64_t> shape(batch);
    shape.push_back(r);
    shape.push_back(c);
    return RankedTensorType::get(shape, elt);
  };
  ArrayRef<int64_t> gBatch = gt.getShape().drop_back(2);
  int64_t aR = at.getShape()[at.getRank() - 2], aC = at.getShape().back();
  int64_t bR = bt.getShape()[bt.getRank() - 2], bC = bt.getShape().back();

  // dA, in A's own (possibly transposed) storage: computed with C's batch dims, then summed.
  Value da = !ta ? MatmulOp::create(b, batched(gBatch, aR, aC), g, bm, false, !tb)
                 : MatmulOp::create(b, batched(gBatch, aR, aC), bm, g, tb, true);
  da = unbroadcast(b, da, at);

  // dB: when B is a matrix shared by every batch (a weight), fold the batch into the rows so
  // the sum over the batch happens inside one matmul.
  Value db;
  if (bt.getRank() == 2 && at.getRank() > 2 && !ta) {
    Value a2 = flattenRows(b, a), g2 = flattenRows(b, g);
    db = !tb ? MatmulOp::create(b, bt, a2, g2, true, false)
             : MatmulOp::create(b, bt, g2, a2, true, false);
  } else {
    db = !tb ? MatmulOp::create(b, batched(gBatch, bR, bC), a, g, !ta, false)
             : MatmulOp::create(b, batched(gBatch, bR, bC), g, a, true, ta);
    db = unbroadcast(b, db, bt);
  }
  return {da, db};
}

INGOT_VJP(EmbeddingVjp, EmbeddingOp) {
  RankedTensorType table = typeOf(op.getTable());
  Value grad = EmbeddingGradOp::create(b, table, op.getIndices(), cot[0], table.getDimSize(0));
  return {grad, Value()};
}

// --- Normalization, attention, position ---------------------------------------------------

INGOT_VJP(LayerNormVjp, LayerNormOp) {
  auto grads = LayerNormGradOp::create(b, op.getX().getType(), op.getGamma().getType(),
                                       op.getBeta().getType(), op.getX(), op.getGamma(), cot[0],
                                       op.getEpsilonAttr().getValue());
  return {grads.getGradX(), grads.getGradGamma(), grads.getGradBeta()};
}

INGOT_VJP(RmsNormVjp, RmsNormOp) {
  auto grads = RmsNormGradOp::create(b, op.getX().getType(), op.getGamma().getType(), op.getX(),
                                     op.getGamma(), cot[0], op.getEpsilonAttr().getValue());
  return {grads.getGradX(), grads.getGradGamma()};
}

INGOT_VJP(SoftmaxVjp, SoftmaxOp) {
  return {SoftmaxGradOp::create(b, cot[0].getType(), op.getResult(), cot[0], op.getAxis())};
}

INGOT_VJP(AttentionVjp, AttentionOp) {
  auto grads = AttentionGradOp::create(
      b, op.getQuery().getType(), op.getKey().getType(), op.getValue().getType(), op.getQuery(),
      op.getKey(), op.getValue(), op.getResult(), cot[0], op.getNumHeadsAttr(),
      op.getNumKvHeadsAttr(), op.getCausalAttr(), op.getScaleAttr());
  return {grads.getGradQuery(), grads.getGradKey(), grads.getGradValue()};
}

INGOT_VJP(RopeVjp, RopeOp) {
  // A rotation's transpose is the inverse rotation.
  return {RopeOp::create(b, cot[0].getType(), cot[0], op.getNumHeads(), op.getThetaAttr().getValue(),
                         !op.getInverse())};
}

INGOT_VJP(CrossEntropyVjp, CrossEntropyOp) {
  Value grad = CrossEntropyGradOp::create(b, op.getLogits().getType(), op.getLogits(),
                                          op.getTargets(), cot[0]);
  return {grad, Value()};
}

// --- Shapes ----------------------------------------------------------------------------------

INGOT_VJP(ReshapeVjp, ReshapeOp) { return {ReshapeOp::create(b, op.getX().getType(), cot[0])}; }

INGOT_VJP(TransposeVjp, TransposeOp) {
  ArrayRef<int64_t> perm = op.getPermutation();
  SmallVector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = i;
  return {TransposeOp::create(b, op.getX().getType(), cot[0], inverse)};
}

INGOT_VJP(SliceVjp, SliceOp) {
  RankedTensorType x = typeOf(op.getX());
  int64_t axis = op.getNormalizedAxis();
  int64_t after = x.getDimSize(axis) - op.getStart() - op.getSize();
  return {PadOp::create(b, x, cot[0], axis, op.getStart(), after)};
}

INGOT_VJP(PadVjp, PadOp) {
  int64_t axis = op.getNormalizedAxis();
  return {SliceOp::create(b, op.getX().getType(), cot[0], axis, op.getBefore(),
                          typeOf(op.getX()).getDimSize(axis))};
}

INGOT_VJP(ConcatVjp, ConcatOp) {
  int64_t axis = op.getNormalizedAxis(), start = 0;
  SmallVector<Value> grads;
  for (Value input : op.getInputs()) {
    int64_t size = typeOf(input).getDimSize(axis);
    grads.push_back(SliceOp::create(b, input.getType(), cot[0], axis, start, size));
    start += size;
  }
  return grads;
}

INGOT_VJP(BroadcastVjp, BroadcastOp) { return {unbroadcast(b, cot[0], typeOf(op.getX()))}; }

INGOT_VJP(ReduceSumVjp, ReduceSumOp) {
  SmallVector<int64_t> axes = op.getNormalizedAxes();
  return {expandReduced(b, cot[0], typeOf(op.getX()), axes)};
}

INGOT_VJP(ReduceMeanVjp, ReduceMeanOp) {
  RankedTensorType x = typeOf(op.getX());
  SmallVector<int64_t> axes = op.getNormalizedAxes();
  int64_t count = 1;
  for (int64_t a : axes)
    count *= x.getDimSize(a);
  Value scaled = MulOp::create(b, cot[0].getType(), cot[0],
                               scalar(b, x.getElementType(), 1.0 / static_cast<double>(count)));
  return {expandReduced(b, scaled, x, axes)};
}

#undef INGOT_VJP

} // namespace

void ingot::attachVjpModels(MLIRContext &context) {
  AddOp::attachInterface<AddVjp>(context);
  SubOp::attachInterface<SubVjp>(context);
  MulOp::attachInterface<MulVjp>(context);
  DivOp::attachInterface<DivVjp>(context);
  MaximumOp::attachInterface<MaximumVjp>(context);
  NegOp::attachInterface<NegVjp>(context);
  ExpOp::attachInterface<ExpVjp>(context);
  LogOp::attachInterface<LogVjp>(context);
  SqrtOp::attachInterface<SqrtVjp>(context);
  RsqrtOp::attachInterface<RsqrtVjp>(context);
  TanhOp::attachInterface<TanhVjp>(context);
  ReluOp::attachInterface<ReluVjp>(context);
  SiluOp::attachInterface<SiluVjp>(context);
  GeluOp::attachInterface<GeluVjp>(context);
  CastOp::attachInterface<CastVjp>(context);
  MatmulOp::attachInterface<MatmulVjp>(context);
  EmbeddingOp::attachInterface<EmbeddingVjp>(context);
  LayerNormOp::attachInterface<LayerNormVjp>(context);
  RmsNormOp::attachInterface<RmsNormVjp>(context);
  SoftmaxOp::attachInterface<SoftmaxVjp>(context);
  AttentionOp::attachInterface<AttentionVjp>(context);
  RopeOp::attachInterface<RopeVjp>(context);
  CrossEntropyOp::attachInterface<CrossEntropyVjp>(context);
  ReshapeOp::attachInterface<ReshapeVjp>(context);
  TransposeOp::attachInterface<TransposeVjp>(context);
  SliceOp::attachInterface<SliceVjp>(context);
  PadOp::attachInterface<PadVjp>(context);
  ConcatOp::attachInterface<ConcatVjp>(context);
  BroadcastOp::attachInterface<BroadcastVjp>(context);
  ReduceSumOp::attachInterface<ReduceSumVjp>(context);
  ReduceMeanOp::attachInterface<ReduceMeanVjp>(context);
}
