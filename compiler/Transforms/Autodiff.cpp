//===- Autodiff.cpp - ingot-autodiff: reverse mode over the ingot dialect -===//
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"

namespace ingot {
#define GEN_PASS_DEF_INGOTAUTODIFF
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

/// Micro-batches in one optimizer step's global batch, from the module's ingot.parallel: each
/// replica's micro-batches times the data-parallel replicas, so that the summed gradients of
/// all replicas are the gradient of the global batch's mean loss (DESIGN.md, Numerics).
int64_t microbatches(ModuleOp module) {
  int64_t m = 1, d = 1;
  if (auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel")) {
    if (auto a = parallel.getAs<IntegerAttr>("microbatches"))
      m = std::max<int64_t>(1, a.getInt());
    if (auto a = parallel.getAs<IntegerAttr>("data"))
      d = std::max<int64_t>(1, a.getInt());
  }
  return m * d;
}

struct AutodiffPass : public ingot::impl::IngotAutodiffBase<AutodiffPass> {
  void runOnOperation() override;

private:
  /// Adds `cot` to the cotangent of `value`.
  void accumulate(OpBuilder &b, Value value, Value cot) {
    auto [it, inserted] = cotangents.try_emplace(value, cot);
    if (inserted)
      return;
    auto sum = AddOp::create(b, cot.getLoc(), value.getType(), it->second, cot);
    sum->setAttr("ingot.grad", b.getStringAttr(isWeight(value) ? "weight" : "input"));
    it->second = sum;
  }
  /// Whether `v` is a parameter (or a view or cast of one).
  static bool isWeight(Value v);
  /// Tags the ops one VJP built as input- or weight-gradient work.
  static void tagBackward(ArrayRef<Operation *> built, ValueRange operands, ArrayRef<Value> cots);

  DenseMap<Value, Value> cotangents;
};

void AutodiffPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward) {
    module.emitError("ingot-autodiff needs func.func @forward");
    return signalPassFailure();
  }
  if (module.lookupSymbol("forward_backward"))
    return; // already differentiated

  // @forward_backward starts as a copy of @forward.
  OpBuilder b(module.getContext());
  b.setInsertionPointAfter(forward);
  auto fb = llvm::cast<func::FuncOp>(b.clone(*forward));
  fb.setSymName("forward_backward");
  Block &entry = fb.getBody().front();
  auto ret = llvm::cast<func::ReturnOp>(entry.getTerminator());
  if (ret.getNumOperands() != 1) {
    ret.emitError("forward must return exactly the loss");
    return signalPassFailure();
  }
  SmallVector<Operation *> forwardOps;
  for (Operation &op : entry.without_terminator())
    forwardOps.push_back(&op);

  // Seed: the loss of one micro-batch contributes 1/M of the step's loss.
  b.setInsertionPoint(ret);
  Value loss = ret.getOperand(0);
  auto lossType = llvm::cast<RankedTensorType>(loss.getType());
  Attribute seedValue = b.getFloatAttr(lossType.getElementType(), 1.0 / microbatches(module));
  Value seed = ConstantOp::create(b, ret.getLoc(), lossType,
                                  DenseElementsAttr::get(lossType, llvm::ArrayRef(seedValue)));
  cotangents.clear();
  cotangents[loss] = seed;
  seed.getDefiningOp()->setAttr("ingot.grad", b.getStringAttr("input"));
  Operation *firstBackward = seed.getDefiningOp();

  for (Operation *op : llvm::reverse(forwardOps)) {
    SmallVector<Value> outputCots;
    bool any = false;
    for (Value result : op->getResults()) {
      Value cot = cotangents.lookup(result);
      any |= static_cast<bool>(cot);
      outputCots.push_back(cot);
    }
    if (!any)
      continue; // does not reach the loss
    if (auto ref = llvm::dyn_cast<ParamRefOp>(op)) {
      auto grad = ParamGradOp::create(b, op->getLoc(), ref.getNameAttr(), outputCots[0]);
      grad->setAttr("ingot.grad", b.getStringAttr("weight"));
      continue;
    }
    if (llvm::isa<ConstantOp>(op))
      continue;
    auto vjp = llvm::dyn_cast<IngotVjpOpInterface>(op);
    if (!vjp) {
      op->emitError() << "no gradient rule for '" << op->getName()
                      << "' (it cannot appear on the path to the loss)";
      return signalPassFailure();
    }
    // A result nobody differentiated still needs a (zero) cotangent if the op has several.
    for (auto [i, cot] : llvm::enumerate(outputCots)) {
      if (cot)
        continue;
      auto type = llvm::cast<RankedTensorType>(op->getResult(i).getType());
      Attribute zero = b.getFloatAttr(type.getElementType(), 0.0);
      outputCots[i] = ConstantOp::create(b, op->getLoc(), type, DenseElementsAttr::get(type, zero));
    }
    Operation *last = &*std::prev(b.getInsertionPoint());
    SmallVector<Value> inputCots = vjp.buildVjp(b, outputCots);
    SmallVector<Operation *> built;
    for (Operation *o = last->getNextNode(); o && o != ret; o = o->getNextNode())
      built.push_back(o);
    tagBackward(built, op->getOperands(), inputCots);
    for (auto [operand, cot] : llvm::zip(op->getOperands(), inputCots))
      if (cot)
        accumulate(b, operand, cot);
  }
  (void)firstBackward;
}

bool AutodiffPass::isWeight(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return false;
  if (llvm::isa<ParamRefOp>(def))
    return true;
  if (llvm::isa<CastOp, ReshapeOp, SliceOp, TransposeOp>(def))
    return isWeight(def->getOperand(0));
  return false;
}

void AutodiffPass::tagBackward(ArrayRef<Operation *> built, ValueRange operands,
                               ArrayRef<Value> cots) {
  // The cotangents of activations are on the critical path (input-gradient work, "B"); the
  // ops that only feed cotangents of parameters are weight-gradient work ("W") that a
  // zero-bubble schedule may delay.
  DenseSet<Value> inputCots;
  for (auto [operand, cot] : llvm::zip(operands, cots))
    if (cot && !isWeight(operand))
      inputCots.insert(cot);
  DenseSet<Operation *> input;
  for (Operation *o : llvm::reverse(built)) {
    bool feedsInput = false;
    for (Value r : o->getResults()) {
      feedsInput |= inputCots.contains(r);
      for (Operation *user : r.getUsers())
        feedsInput |= input.contains(user);
    }
    if (feedsInput)
      input.insert(o);
    o->setAttr("ingot.grad", StringAttr::get(o->getContext(), feedsInput ? "input" : "weight"));
  }
}

} // namespace
