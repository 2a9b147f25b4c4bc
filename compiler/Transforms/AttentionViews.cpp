//===- AttentionViews.cpp - ingot-attention-views -------------------------===//
//
// Attention reads q, k and v as slices of one [batch, t, 3 * dim] projection, and its gradient
// concatenates dq, dk and dv back into one [batch, t, 3 * dim] tensor for the projection's
// backward. Copying the slices out and the gradients in costs a read and a write of each
// per layer and direction, while the cuda attention kernels can read and write rows any
// stride apart. This pass marks, with `ingot.view`:
//   - a slice along the last axis whose every use is a q, k or v operand of ingot.attention or
//     ingot.attention_grad (whose q, k and v are all such slices, k and v of sources of the
//     same width): its result becomes a window of its source (no copy);
//   - a concat along the last axis of exactly the dq, dk, dv results of one
//     ingot.attention_grad, each read only by the concat: the three are written in place
//     inside the concat's result (no copy).
// ingot-plan-memory gives marked values an offset inside the buffer they are a window of, and
// the cuda emitter passes the row strides to the kernels and emits nothing for marked ops.
// Runs on the cuda target only (the host kernels take packed rows), after
// ingot-assign-storage, before ingot-plan-memory. Offsets and row widths must keep 16-byte
// alignment (the flash kernels load rows in 16-byte pieces).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/SmallPtrSet.h"

namespace ingot {
#define GEN_PASS_DEF_INGOTATTENTIONVIEWS
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

/// 16 bytes of elements of `v`'s arena storage.
int64_t alignmentElements(Value v) { return storedAsBf16(v) ? 8 : 4; }

/// A slice along the last axis at an aligned offset, of an aligned row width.
bool isRowSlice(SliceOp s) {
  auto source = llvm::cast<RankedTensorType>(s.getX().getType());
  if (source.getRank() < 2 || s.getNormalizedAxis() != source.getRank() - 1)
    return false;
  int64_t align = alignmentElements(s.getResult());
  return s.getStart() % align == 0 && s.getSize() % align == 0 &&
         source.getShape().back() % align == 0 &&
         storedAsBf16(s.getResult()) == storedAsBf16(s.getX());
}

/// The operand numbers of q, k and v.
constexpr unsigned kQuery = 0, kKey = 1, kValue = 2;

bool isQkvUse(OpOperand &use) {
  return llvm::isa<AttentionOp, AttentionGradOp>(use.getOwner()) &&
         use.getOperandNumber() <= kValue;
}

/// The row width of a slice's source.
int64_t sourceWidth(Value v) {
  return llvm::cast<RankedTensorType>(v.getDefiningOp<SliceOp>().getX().getType())
      .getShape()
      .back();
}

struct AttentionViewsPass : public ingot::impl::IngotAttentionViewsBase<AttentionViewsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Candidate slices, then drop those an attention op cannot read as views, until stable.
    llvm::SmallPtrSet<Operation *, 32> views;
    module.walk([&](SliceOp s) {
      if (isRowSlice(s) && !s.getResult().use_empty() &&
          llvm::all_of(s.getResult().getUses(), isQkvUse))
        views.insert(s);
    });
    auto isView = [&](Value v) {
      Operation *def = v.getDefiningOp();
      return def && views.contains(def);
    };
    for (bool changed = true; changed;) {
      changed = false;
      module.walk([&](Operation *op) {
        if (!llvm::isa<AttentionOp, AttentionGradOp>(op))
          return;
        Value q = op->getOperand(kQuery), k = op->getOperand(kKey), v = op->getOperand(kValue);
        bool ok = isView(q) && isView(k) && isView(v) && sourceWidth(k) == sourceWidth(v);
        if (ok)
          return;
        for (Value x : {q, k, v})
          if (isView(x)) {
            views.erase(x.getDefiningOp());
            changed = true;
          }
      });
    }
    OpBuilder b(module.getContext());
    for (Operation *s : views)
      s->setAttr("ingot.view", b.getUnitAttr());

    module.walk([&](ConcatOp c) {
      auto type = llvm::cast<RankedTensorType>(c.getResult().getType());
      if (c.getInputs().size() != 3 || type.getRank() < 2 ||
          c.getNormalizedAxis() != type.getRank() - 1)
        return;
      auto grad = c.getInputs()[0].getDefiningOp<AttentionGradOp>();
      if (!grad || c.getInputs()[1] != grad.getGradKey() ||
          c.getInputs()[2] != grad.getGradValue() || c.getInputs()[0] != grad.getGradQuery())
        return;
      int64_t align = alignmentElements(c.getResult());
      for (Value in : c.getInputs())
        if (!in.hasOneUse() || storedAsBf16(in) != storedAsBf16(c.getResult()) ||
            llvm::cast<RankedTensorType>(in.getType()).getShape().back() % align != 0)
          return;
      c->setAttr("ingot.view", b.getUnitAttr());
    });
  }
};

} // namespace
