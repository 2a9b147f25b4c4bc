//===- IngotCost.cpp - FLOPs and bytes of the ingot ops -------------------===//
//
// A first-order cost model (IngotCostOpInterface), attached to every op: the arithmetic an op
// does (a fused multiply-add counts 2) and the bytes it moves if each operand is read once and
// each result written once. Pipeline partitioning balances stages with it and the manifest
// reports FLOPs per step from it.
//
//===----------------------------------------------------------------------===//
#include "dialects/Ingot/IngotOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace ingot;

namespace {

uint64_t elements(Value v) {
  auto t = llvm::dyn_cast<RankedTensorType>(v.getType());
  return t ? static_cast<uint64_t>(t.getNumElements()) : 0;
}

uint64_t bytes(Value v) {
  auto t = llvm::dyn_cast<RankedTensorType>(v.getType());
  if (!t)
    return 0;
  return static_cast<uint64_t>(t.getNumElements()) *
         ((t.getElementType().getIntOrFloatBitWidth() + 7) / 8);
}

/// Attention's score and value products: 2 * (QK^T + PV) multiply-adds per (b, h, t, s), halved
/// under a causal mask.
uint64_t attentionFlops(Value query, Value key, int64_t heads, bool causal) {
  auto q = llvm::cast<RankedTensorType>(query.getType()).getShape();
  auto k = llvm::cast<RankedTensorType>(key.getType()).getShape();
  uint64_t headDim = q[2] / heads;
  uint64_t pairs = uint64_t(q[0]) * heads * q[1] * k[1];
  uint64_t flops = 4 * pairs * headDim;
  return causal ? flops / 2 : flops;
}

uint64_t flopsOf(Operation *op) {
  uint64_t out = op->getNumResults() ? elements(op->getResult(0)) : 0;
  return llvm::TypeSwitch<Operation *, uint64_t>(op)
      .Case<MatmulOp>([&](MatmulOp m) {
        auto a = llvm::cast<RankedTensorType>(m.getLhs().getType()).getShape();
        uint64_t k = m.getTransposeLhs() ? a[a.size() - 2] : a.back();
        return 2 * out * k;
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        return attentionFlops(a.getQuery(), a.getKey(), a.getNumHeads(), a.getCausal());
      })
      .Case<AttentionGradOp>([&](AttentionGradOp a) {
        // Recomputing the scores, then dV, dP, dQ and dK: 2.5x the forward products.
        return 5 * attentionFlops(a.getQuery(), a.getKey(), a.getNumHeads(), a.getCausal()) / 2;
      })
      .Case<LayerNormOp, RmsNormOp, SoftmaxOp>([&](auto) { return 8 * out; })
      .Case<LayerNormGradOp, RmsNormGradOp, SoftmaxGradOp>(
          [&](Operation *o) { return 12 * elements(o->getOperand(0)); })
      .Case<CrossEntropyOp>([&](CrossEntropyOp c) { return 4 * elements(c.getLogits()); })
      .Case<CrossEntropyGradOp>([&](auto) { return 5 * out; })
      .Case<GeluOp, GeluGradOp, SiluOp, SiluGradOp>([&](auto) { return 10 * out; })
      .Case<ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp>([&](auto) { return 4 * out; })
      .Case<RopeOp>([&](auto) { return 6 * out; })
      .Case<EmbeddingGradOp>([&](EmbeddingGradOp e) { return elements(e.getGradOutput()); })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>([&](Operation *o) {
        return elements(o->getOperand(0));
      })
      .Case<AddOp, SubOp, MulOp, DivOp, MaximumOp, NegOp, ReluOp, ReluGradOp, CastOp>(
          [&](auto) { return out; })
      .Case<ParamGradOp>([&](ParamGradOp g) { return elements(g.getGrad()); })
      .Case<AdamWOp>([&](AdamWOp a) {
        auto param = SymbolTable::lookupNearestSymbolFrom<ParamOp>(a, a.getNameAttr());
        return param ? 12 * static_cast<uint64_t>(param.getTensorType().getNumElements()) : 0;
      })
      .Default([&](Operation *) { return uint64_t(0); }); // data movement only
}

uint64_t bytesOf(Operation *op) {
  if (llvm::isa<ParamRefOp, ReshapeOp, ConstantOp>(op))
    return 0; // views and constants move nothing
  uint64_t total = 0;
  for (Value v : op->getOperands())
    total += bytes(v);
  for (Value v : op->getResults())
    total += bytes(v);
  if (auto adam = llvm::dyn_cast<AdamWOp>(op))
    if (auto p = SymbolTable::lookupNearestSymbolFrom<ParamOp>(adam, adam.getNameAttr()))
      total += 7 * 4 * static_cast<uint64_t>(p.getTensorType().getNumElements()); // p, g, m, v
  return total;
}

template <typename OpTy>
struct CostModel : public IngotCostOpInterface::ExternalModel<CostModel<OpTy>, OpTy> {
  uint64_t getFlops(Operation *op) const { return flopsOf(op); }
  uint64_t getBytesMoved(Operation *op) const { return bytesOf(op); }
};

template <typename... OpTys> void attachAll(MLIRContext &context) {
  (OpTys::template attachInterface<CostModel<OpTys>>(context), ...);
}

} // namespace

void ingot::attachCostModels(MLIRContext &context) {
  attachAll<
#define GET_OP_LIST
#include "dialects/Ingot/IngotOps.cpp.inc"
      >(context);
}
