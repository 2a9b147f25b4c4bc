//===- Optimizer.cpp - ingot-optimizer: clipping and AdamW ----------------===//
#include "compiler/Transforms/Passes.h"

namespace ingot {
#define GEN_PASS_DEF_INGOTOPTIMIZER
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

struct OptimizerPass : public ingot::impl::IngotOptimizerBase<OptimizerPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module.lookupSymbol("optimizer_step"))
      return;
    if (!module.getOps<BlockOp>().empty()) {
      module.emitError("ingot-optimizer runs after ingot-unroll-blocks");
      return signalPassFailure();
    }
    auto train = module->getAttrOfType<DictionaryAttr>("ingot.train");
    if (train)
      if (auto kind = train.getAs<StringAttr>("optimizer"); kind && kind.getValue() != "adamw") {
        module.emitError() << "unsupported optimizer '" << kind.getValue() << "'";
        return signalPassFailure();
      }

    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    Location loc = module.getLoc();
    auto fn = func::FuncOp::create(b, loc, "optimizer_step", b.getFunctionType({}, {}));
    b.setInsertionPointToStart(fn.addEntryBlock());

    SmallVector<ParamOp> params(module.getOps<ParamOp>());
    SmallVector<Attribute> names;
    for (ParamOp p : params)
      names.push_back(FlatSymbolRefAttr::get(p.getSymNameAttr()));
    auto normType = RankedTensorType::get({}, b.getF64Type());
    Value norm = GlobalGradNormOp::create(b, loc, normType, b.getArrayAttr(names));
    for (ParamOp p : params) {
      bool decay = p.getTensorType().getRank() >= 2;
      AdamWOp::create(b, p.getLoc(), FlatSymbolRefAttr::get(p.getSymNameAttr()), norm,
                      b.getBoolAttr(decay));
    }
    func::ReturnOp::create(b, loc);
  }
};

} // namespace
