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

/// Micro-batches accumulated per optimizer step, from the module's ingot.parallel.
int64_t microbatches(ModuleOp module) {
  if (auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel"))
    if (auto m = parallel.getAs<IntegerAttr>("microbatches"))
      return std::max<int64_t>(1, m.getInt());
  return 1;
}

struct AutodiffPass : public ingot::impl::IngotAutodiffBase<AutodiffPass> {
  void runOnOperation() override;

private:
  /// Adds `cot` to the cotangent of `value`.
  void accumulate(OpBuilder &b, Value value, Value cot) {
    auto [it, inserted] = cotangents.try_emplace(value, cot);
    if (!inserted)
      it->second = AddOp::create(b, cot.getLoc(), value.getType(), it->second, cot);
  }

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
    SmallVector<Value> inputCots = vjp.buildVjp(b, outputCots);
    for (auto [operand, cot] : llvm::zip(op->getOperands(), inputCots))
      if (cot)
        accumulate(b, operand, cot);
  }

  // Tag the backward ops: "weight" when every use only feeds parameter gradients.
  SmallVector<Operation *> backward;
  for (Operation *op = firstBackward; op && op != ret; op = op->getNextNode())
    backward.push_back(op);
  for (Operation *op : llvm::reverse(backward)) {
    if (op->hasAttr("ingot.grad"))
      continue;
    bool weightOnly = op->getNumResults() > 0;
    for (Value result : op->getResults())
      for (Operation *user : result.getUsers()) {
        auto kind = user->getAttrOfType<StringAttr>("ingot.grad");
        weightOnly &= kind && kind.getValue() == "weight";
      }
    op->setAttr("ingot.grad", b.getStringAttr(weightOnly ? "weight" : "input"));
  }
}

} // namespace
