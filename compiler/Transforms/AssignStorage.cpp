//===- AssignStorage.cpp - ingot-assign-storage: bf16 arena storage -------===//
//
// The numerics of DESIGN.md for precision `bf16` on the cuda target: activations, activation
// gradients and the residual stream are stored as bf16; master weights, AdamW moments, weight
// gradients, the loss and every statistic stay fp32. The IR keeps its f32 types (the ops
// compute the same function; only the storage of their results narrows), so the pass only
// annotates:
//   - `ingot.storage = ["bf16" | "f32", ...]` on each op with tensor results, one entry per
//     result: what the arena holds for it (the memory plan sizes it, the emitter types its
//     pointer);
//   - `ingot.shadow` on each parameter that feeds a matmul, or is a vector added to a matmul's
//     product (a bias, which the GEMM epilogue adds): it also gets a bf16 working copy,
//     refreshed from the master weights at the start of every pass over the model, so the
//     GEMMs read bf16 operands (cuBLASLt needs operands and bias in one type).
//
// A result stays fp32 when it is a scalar (the loss, the gradient seed), an integer, or when
// everything that reads it ends in a parameter gradient: read only by `ingot.param_grad`, or by
// data movement and sums (`pad`, `slice`, `reduce_sum`, `add`, `transpose`, `broadcast`) whose
// own result stays fp32. That keeps weight gradients fp32 from the GEMM (or the column sum)
// that produces them to the accumulation across micro-batches. A reshape is a view: it has its
// operand's storage.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"

namespace ingot {
#define GEN_PASS_DEF_INGOTASSIGNSTORAGE
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

namespace {

/// Ops through which "this ends in a parameter gradient" propagates to their operands.
bool passesGradientThrough(Operation *op) {
  return llvm::isa<PadOp, SliceOp, ReduceSumOp, AddOp, TransposeOp, BroadcastOp, ReshapeOp>(op);
}

/// The op that really produces `v`, looking through views.
Operation *producerThroughViews(Value v) {
  Operation *def = v.getDefiningOp();
  while (auto reshape = llvm::dyn_cast_or_null<ReshapeOp>(def))
    def = reshape.getX().getDefiningOp();
  return def;
}

struct AssignStoragePass : public ingot::impl::IngotAssignStorageBase<AssignStoragePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto train = module->getAttrOfType<DictionaryAttr>("ingot.train");
    auto precision = train ? train.getAs<StringAttr>("precision") : StringAttr();
    if (!precision || precision.getValue() != "bf16")
      return; // f32 models keep f32 storage everywhere

    OpBuilder b(module.getContext());
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.getBody().empty())
        continue;
      Block &body = fn.getBody().front();
      // Pass 1, last op first: which results only feed parameter gradients.
      DenseSet<Value> endsInGrad;
      for (Operation &op : llvm::reverse(body)) {
        for (Value result : op.getResults()) {
          if (result.use_empty())
            continue;
          bool all = llvm::all_of(result.getUses(), [&](OpOperand &use) {
            Operation *user = use.getOwner();
            if (llvm::isa<ParamGradOp>(user))
              return true;
            return passesGradientThrough(user) &&
                   llvm::all_of(user->getResults(),
                                [&](Value r) { return endsInGrad.contains(r); });
          });
          if (all)
            endsInGrad.insert(result);
        }
      }
      // Pass 2, in order: the storage of each tensor result.
      DenseMap<Value, bool> isBf16;
      for (Operation &op : body) {
        if (op.getNumResults() == 0 || llvm::isa<ParamRefOp>(op))
          continue; // parameters are fp32 masters; their bf16 copies are the shadows
        SmallVector<Attribute> storage;
        bool any = false;
        for (Value result : op.getResults()) {
          auto type = llvm::dyn_cast<RankedTensorType>(result.getType());
          bool bf16 = false;
          if (auto reshape = llvm::dyn_cast<ReshapeOp>(op)) {
            bf16 = isBf16.lookup(reshape.getX());
          } else if (type && llvm::isa<FloatType>(type.getElementType()) &&
                     type.getRank() > 0 && !endsInGrad.contains(result)) {
            bf16 = true;
          }
          isBf16[result] = bf16;
          any |= type != nullptr;
          storage.push_back(b.getStringAttr(bf16 ? "bf16" : "f32"));
        }
        if (any)
          op.setAttr("ingot.storage", b.getArrayAttr(storage));
      }
      // Parameters read by a GEMM get a bf16 working copy, and so do vectors added to a GEMM's
      // product (biases): the GEMM's epilogue adds them, and cuBLASLt takes a bias in the
      // output's type.
      auto shadow = [&](Value v) {
        if (auto ref = llvm::dyn_cast_or_null<ParamRefOp>(producerThroughViews(v)))
          if (auto param = module.lookupSymbol<ParamOp>(ref.getName()))
            param->setAttr("ingot.shadow", b.getUnitAttr());
      };
      fn.walk([&](MatmulOp m) {
        shadow(m.getLhs());
        shadow(m.getRhs());
      });
      // A product, or a residual plus a product (`x + matmul(a, w) + b`).
      auto isProduct = [](Value v) {
        Operation *def = v.getDefiningOp();
        if (llvm::isa_and_nonnull<MatmulOp>(def))
          return true;
        auto add = llvm::dyn_cast_or_null<AddOp>(def);
        return add && (llvm::isa_and_nonnull<MatmulOp>(add.getLhs().getDefiningOp()) ||
                       llvm::isa_and_nonnull<MatmulOp>(add.getRhs().getDefiningOp()));
      };
      fn.walk([&](AddOp add) {
        for (auto [product, other] : {std::pair(add.getLhs(), add.getRhs()),
                                      std::pair(add.getRhs(), add.getLhs())})
          if (isProduct(product) && llvm::cast<RankedTensorType>(other.getType()).getRank() == 1)
            shadow(other);
      });
    }
  }
};

} // namespace

bool ingot::storedAsBf16(Value v) {
  auto result = llvm::dyn_cast<OpResult>(v);
  if (!result)
    return false;
  auto storage = result.getOwner()->getAttrOfType<ArrayAttr>("ingot.storage");
  if (!storage || result.getResultNumber() >= storage.size())
    return false;
  auto s = llvm::dyn_cast<StringAttr>(storage[result.getResultNumber()]);
  return s && s.getValue() == "bf16";
}
