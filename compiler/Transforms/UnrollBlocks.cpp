//===- UnrollBlocks.cpp - ingot-unroll-blocks -----------------------------===//
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"

namespace ingot {
#define GEN_PASS_DEF_INGOTUNROLLBLOCKS
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

struct UnrollBlocksPass : public ingot::impl::IngotUnrollBlocksBase<UnrollBlocksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<RepeatOp> repeats;
    module.walk([&](RepeatOp op) { repeats.push_back(op); });
    // Parameter copies are made once per block, however often forward calls it.
    llvm::DenseMap<Operation *, SmallVector<DenseMap<StringAttr, StringAttr>>> copies;

    for (RepeatOp repeat : repeats) {
      auto block = symbols.lookup<BlockOp>(repeat.getBlock());
      func::FuncOp body = block.getBodyFunc();
      auto &names = copies[block];
      if (names.empty()) {
        OpBuilder builder(block);
        for (int64_t i = 0; i < block.getCount(); ++i) {
          DenseMap<StringAttr, StringAttr> rename;
          for (ParamOp param : block.getBody()->getOps<ParamOp>()) {
            auto copy = llvm::cast<ParamOp>(builder.clone(*param));
            std::string name =
                (block.getSymName() + "." + llvm::Twine(i) + "." + param.getSymName()).str();
            copy.setSymName(name);
            rename[param.getSymNameAttr()] = copy.getSymNameAttr();
          }
          names.push_back(std::move(rename));
        }
      }

      OpBuilder builder(repeat);
      SmallVector<Value> values(repeat.getInputs());
      for (int64_t i = 0; i < block.getCount(); ++i) {
        IRMapping mapping;
        for (auto [arg, value] : llvm::zip(body.getArguments(), values))
          mapping.map(arg, value);
        for (Operation &op : body.getBody().front().without_terminator()) {
          Operation *clone = builder.clone(op, mapping);
          clone->setAttr("ingot.layer", builder.getI64IntegerAttr(i));
          if (auto ref = llvm::dyn_cast<ParamRefOp>(clone))
            ref.setName(names[i].lookup(ref.getNameAttr().getAttr()).getValue());
        }
        auto ret = llvm::cast<func::ReturnOp>(body.getBody().front().getTerminator());
        values.clear();
        for (Value v : ret.getOperands())
          values.push_back(mapping.lookup(v));
      }
      repeat.replaceAllUsesWith(values);
      repeat.erase();
    }
    for (auto &entry : copies)
      entry.first->erase();
    // Blocks that forward never calls have no parameters in the model.
    for (BlockOp block : llvm::make_early_inc_range(module.getOps<BlockOp>()))
      block.erase();
  }
};

} // namespace
