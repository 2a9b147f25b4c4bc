//===- PipelineOutline.cpp - pipeline-outline -----------------------------===//
//
// Outlining makes every interface of a stage program a function signature: what crosses a
// stage boundary, what a micro-batch keeps from its forward for its backward, what the loss
// needs. The emitters of the execution half consume these functions; keeping @forward_backward
// beside them keeps the one-rank path unchanged.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/PipelineCommon.h"
#include "compiler/Schedule/PipelinePasses.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/IR/IRMapping.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <map>

namespace ingot {
#define GEN_PASS_DEF_PIPELINEOUTLINE
#include "compiler/Schedule/PipelinePasses.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

enum Step { Forward = 0, BackwardInput = 1, BackwardWeight = 2 };
const char *kStepNames[] = {"forward", "backward_input", "backward_weight"};

struct OutlinePass : public ingot::impl::PipelineOutlineBase<OutlinePass> {
  void runOnOperation() override;
};

} // namespace

void OutlinePass::runOnOperation() {
  ModuleOp module = getOperation();
  pipeline::PlanOp plan = findPlan(module);
  auto fb = module.lookupSymbol<func::FuncOp>("forward_backward");
  if (!plan || !fb) {
    module.emitError("pipeline-outline needs @forward_backward and a pipeline.plan (run "
                     "ingot-autodiff and pipeline-partition first)");
    return signalPassFailure();
  }
  const int64_t stages = plan.getStages();

  // The ops of each (chunk, step), in program order.
  using Key = std::pair<int64_t, Step>;
  std::map<Key, std::vector<Operation *>> groups;
  DenseMap<Operation *, Key> keyOf;
  for (Operation &op : fb.getBody().front().without_terminator()) {
    auto chunk = op.getAttrOfType<IntegerAttr>("pipeline.chunk");
    if (!chunk) {
      op.emitError("has no pipeline.chunk; run pipeline-partition first");
      return signalPassFailure();
    }
    Step step = Forward;
    if (auto grad = op.getAttrOfType<StringAttr>("ingot.grad"))
      step = grad.getValue() == "weight" ? BackwardWeight : BackwardInput;
    Key key{chunk.getInt(), step};
    groups[key].push_back(&op);
    keyOf[&op] = key;
  }
  auto describe = [&](Operation *op) -> std::string {
    if (isa<func::ReturnOp>(op))
      return "the loss";
    Key key = keyOf.lookup(op);
    return llvm::formatv("{0} of chunk {1}", kStepNames[key.second], key.first).str();
  };

  OpBuilder b(module.getContext());
  b.setInsertionPoint(plan);
  for (auto &[key, ops] : groups) {
    DenseSet<Operation *> inGroup(ops.begin(), ops.end());
    // Parameter reads and constants are not data to move: a function that needs one made
    // elsewhere reads or makes its own copy.
    auto local = [](Operation *def) { return def && isa<ParamRefOp, ConstantOp>(def); };
    llvm::SetVector<Operation *> remade;
    llvm::SetVector<Value> inputs, outputs;
    for (Operation *op : ops) {
      for (Value operand : op->getOperands()) {
        Operation *def = operand.getDefiningOp();
        if (def && inGroup.contains(def))
          continue;
        if (local(def))
          remade.insert(def);
        else
          inputs.insert(operand);
      }
      if (local(op))
        continue;
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers())
          if (!inGroup.contains(user)) {
            outputs.insert(result);
            break;
          }
    }
    SmallVector<Type> inputTypes, outputTypes;
    for (Value v : inputs)
      inputTypes.push_back(v.getType());
    for (Value v : outputs)
      outputTypes.push_back(v.getType());
    std::string name = llvm::formatv("chunk{0}_{1}", key.first, kStepNames[key.second]).str();
    auto fn = func::FuncOp::create(b, fb.getLoc(), name, b.getFunctionType(inputTypes, outputTypes));
    fn->setAttr("pipeline.chunk", b.getI64IntegerAttr(key.first));
    fn->setAttr("pipeline.stage", b.getI64IntegerAttr(key.first % stages));
    fn->setAttr("pipeline.step", b.getStringAttr(kStepNames[key.second]));
    for (auto [i, v] : llvm::enumerate(inputs)) {
      std::string source =
          llvm::isa<BlockArgument>(v)
              ? llvm::formatv("input {0}", llvm::cast<BlockArgument>(v).getArgNumber()).str()
              : describe(v.getDefiningOp());
      fn.setArgAttr(i, "pipeline.source", b.getStringAttr(source));
    }
    for (auto [i, v] : llvm::enumerate(outputs)) {
      llvm::SetVector<StringRef> uses;
      SmallVector<Attribute> names;
      std::vector<std::string> texts;
      for (Operation *user : v.getUsers())
        if (!inGroup.contains(user))
          texts.push_back(describe(user));
      for (const std::string &t : texts)
        if (llvm::none_of(names, [&](Attribute a) { return llvm::cast<StringAttr>(a) == t; }))
          names.push_back(b.getStringAttr(t));
      fn.setResultAttr(i, "pipeline.uses", b.getArrayAttr(names));
    }
    Block *entry = fn.addEntryBlock();
    IRMapping mapping;
    for (auto [v, arg] : llvm::zip(inputs, entry->getArguments()))
      mapping.map(v, arg);
    OpBuilder body = OpBuilder::atBlockEnd(entry);
    for (Operation *op : remade)
      body.clone(*op, mapping);
    for (Operation *op : ops)
      body.clone(*op, mapping);
    SmallVector<Value> results;
    for (Value v : outputs)
      results.push_back(mapping.lookup(v));
    func::ReturnOp::create(body, fb.getLoc(), results);
  }
}
