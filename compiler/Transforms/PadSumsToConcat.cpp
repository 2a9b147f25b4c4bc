//===- PadSumsToConcat.cpp - ingot-pad-sums-to-concat ---------------------===//
//
// The gradient of slicing one tensor into pieces (q, k and v out of one projection) comes out
// of autodiff as a sum of zero-padded pieces: pad(dq) + pad(dk) + pad(dv). When the pieces
// tile the axis exactly (disjoint, covering it), that sum is their concatenation, which reads
// each piece once and writes the result once, where the pads and adds write every element
// several times. The rewrite is exact: x + 0 = x (it differs only in keeping the sign of a
// negative zero). Runs after ingot-autodiff, before ingot-plan-memory, for both targets.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace ingot {
#define GEN_PASS_DEF_INGOTPADSUMSTOCONCAT
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

/// Collects the pads a tree of single-use adds sums (false if a leaf is anything else).
bool collectPads(Value v, SmallVectorImpl<PadOp> &pads, SmallVectorImpl<AddOp> &adds,
                 bool root) {
  if (!root && !v.hasOneUse())
    return false;
  if (auto pad = v.getDefiningOp<PadOp>()) {
    pads.push_back(pad);
    return true;
  }
  auto add = v.getDefiningOp<AddOp>();
  if (!add || add.getLhs().getType() != add.getRhs().getType())
    return false;
  adds.push_back(add);
  return collectPads(add.getLhs(), pads, adds, false) &&
         collectPads(add.getRhs(), pads, adds, false);
}

struct PadSumsToConcatPass
    : public ingot::impl::IngotPadSumsToConcatBase<PadSumsToConcatPass> {
  void runOnOperation() override {
    SmallVector<AddOp> roots;
    getOperation().walk([&](AddOp add) {
      // A root: no add of the same tree reads it.
      bool innerOfTree = add.getResult().hasOneUse() &&
                         llvm::isa<AddOp>(*add.getResult().getUsers().begin());
      if (!innerOfTree)
        roots.push_back(add);
    });
    for (AddOp root : roots) {
      SmallVector<PadOp> pads;
      SmallVector<AddOp> adds;
      if (!collectPads(root.getResult(), pads, adds, true) || pads.size() < 2)
        continue;
      auto resultType = llvm::cast<RankedTensorType>(root.getType());
      int64_t axis = pads.front().getNormalizedAxis();
      bool tiles = llvm::all_of(pads, [&](PadOp p) {
        return p.getType() == resultType && p.getNormalizedAxis() == axis;
      });
      if (!tiles)
        continue;
      // Sorted by where each piece starts, the pieces must meet end to end.
      llvm::sort(pads, [](PadOp a, PadOp b) { return a.getBefore() < b.getBefore(); });
      int64_t at = 0;
      for (PadOp p : pads) {
        tiles &= p.getBefore() == at;
        at += llvm::cast<RankedTensorType>(p.getX().getType()).getDimSize(axis);
      }
      if (!tiles || at != resultType.getDimSize(axis))
        continue;
      OpBuilder b(root);
      SmallVector<Value> pieces;
      for (PadOp p : pads)
        pieces.push_back(p.getX());
      auto concat = b.create<ConcatOp>(root.getLoc(), resultType, pieces, b.getI64IntegerAttr(axis));
      // Keep the autodiff tags (input/weight gradient, layer) of the sum.
      for (NamedAttribute attr : root->getDiscardableAttrs())
        concat->setAttr(attr.getName(), attr.getValue());
      root.getResult().replaceAllUsesWith(concat.getResult());
      for (AddOp add : adds)
        add->erase(); // root first, then the inner adds: each is unused once its reader is gone
      for (PadOp p : pads)
        p->erase();
    }
  }
};

} // namespace
