//===- PlanMemory.cpp - ingot-plan-memory: one arena, static offsets ------===//
#include "compiler/Transforms/Passes.h"

#include <map>

namespace ingot {
#define GEN_PASS_DEF_INGOTPLANMEMORY
#include "compiler/Transforms/Passes.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;

int64_t ingot::elementBytes(Type type, int64_t floatBytes) {
  if (llvm::isa<FloatType>(type) && floatBytes > 0)
    return floatBytes;
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

namespace {

int64_t alignUp(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

/// First-fit allocator over [base, inf) with a free list of intervals.
class Allocator {
public:
  explicit Allocator(int64_t base) : base(base), end(base) {}

  int64_t allocate(int64_t bytes) {
    bytes = alignUp(std::max<int64_t>(bytes, 1));
    for (auto it = free.begin(); it != free.end(); ++it) {
      if (it->second < bytes)
        continue;
      int64_t offset = it->first, size = it->second;
      free.erase(it);
      if (size > bytes)
        free[offset + bytes] = size - bytes;
      return offset;
    }
    // Grow: reuse a free interval that touches the end.
    int64_t offset = end;
    if (!free.empty()) {
      auto last = std::prev(free.end());
      if (last->first + last->second == end) {
        offset = last->first;
        free.erase(last);
      }
    }
    end = offset + bytes;
    peak = std::max(peak, end);
    return offset;
  }

  void release(int64_t offset, int64_t bytes) {
    bytes = alignUp(std::max<int64_t>(bytes, 1));
    auto it = free.emplace(offset, bytes).first;
    // Merge with the neighbours.
    if (auto next = std::next(it); next != free.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free.erase(next);
    }
    if (it != free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free.erase(it);
      }
    }
  }

  int64_t peakBytes() const { return peak - base; }

private:
  int64_t base, end, peak = 0;
  std::map<int64_t, int64_t> free; // offset -> size
};

struct PlanMemoryPass : public ingot::impl::IngotPlanMemoryBase<PlanMemoryPass> {
  using IngotPlanMemoryBase::IngotPlanMemoryBase;

  int64_t bytesOf(Type type) {
    auto t = llvm::cast<RankedTensorType>(type);
    return t.getNumElements() * elementBytes(t.getElementType(), floatBytes);
  }
  /// A value's bytes as stored: bf16 where ingot-assign-storage chose it.
  int64_t bytesOf(Value v) {
    if (storedAsBf16(v))
      return llvm::cast<RankedTensorType>(v.getType()).getNumElements() * 2;
    return bytesOf(v.getType());
  }

  void runOnOperation() override;
  /// Places the activations of `fn` after `base`; returns the transient peak.
  int64_t planFunction(func::FuncOp fn, int64_t base, ArrayRef<int64_t> argOffsets);

  llvm::StringMap<int64_t> paramOffsets;
};

int64_t PlanMemoryPass::planFunction(func::FuncOp fn, int64_t base, ArrayRef<int64_t> argOffsets) {
  Block &body = fn.getBody().front();
  // Each value's root buffer (aliases share one), its byte offset inside the root (views), and
  // where roots live.
  DenseMap<Value, Value> root;
  DenseMap<Value, int64_t> within;
  DenseMap<Value, int64_t> offset;
  DenseMap<Value, int64_t> lastUse;
  DenseSet<Value> fixed; // arguments and parameters: never freed
  for (auto [arg, off] : llvm::zip(body.getArguments(), argOffsets)) {
    root[arg] = arg;
    offset[arg] = off;
    fixed.insert(arg);
  }
  SmallVector<Operation *> ops;
  for (Operation &op : body)
    ops.push_back(&op);
  // The inputs of a view concat are windows of its result, made before it.
  DenseMap<Value, std::pair<Value, int64_t>> concatWindow;
  for (Operation *op : ops)
    if (auto concat = llvm::dyn_cast<ConcatOp>(op); concat && op->hasAttr("ingot.view")) {
      int64_t at = 0;
      for (Value in : concat.getInputs()) {
        concatWindow[in] = {concat.getResult(), at};
        at += bytesOf(in) / llvm::cast<RankedTensorType>(in.getType()).getNumElements() *
              llvm::cast<RankedTensorType>(in.getType()).getShape().back();
      }
    }
  for (auto [index, op] : llvm::enumerate(ops)) {
    for (Value operand : op->getOperands())
      if (root.count(operand))
        lastUse[root[operand]] = index;
    for (Value result : op->getResults()) {
      if (llvm::isa<ReshapeOp>(op)) {
        root[result] = root.lookup(op->getOperand(0));
        within[result] = within.lookup(op->getOperand(0));
      } else if (auto slice = llvm::dyn_cast<SliceOp>(op); slice && op->hasAttr("ingot.view")) {
        // A window of the source's rows: bytes of `start` elements in.
        auto type = llvm::cast<RankedTensorType>(result.getType());
        root[result] = root.lookup(slice.getX());
        within[result] = within.lookup(slice.getX()) +
                         bytesOf(result) / type.getNumElements() * slice.getStart();
      } else if (auto window = concatWindow.find(result); window != concatWindow.end()) {
        root[result] = window->second.first;
        within[result] = window->second.second;
      } else {
        root[result] = result;
      }
    }
  }

  Allocator alloc(base);
  // Buffers whose last use is op i are freed once op i is done (an op's outputs never overlap
  // its own inputs: kernels are not in place).
  DenseMap<int64_t, SmallVector<Value>> dying;
  for (auto &[value, index] : lastUse)
    dying[index].push_back(value);
  for (auto [index, op] : llvm::enumerate(ops)) {
    SmallVector<int64_t> offsets;
    for (Value result : op->getResults()) {
      Value r = root[result];
      if (r != result) { // an alias; a view concat's buffer is placed with its first input
        if (!offset.count(r))
          offset[r] = alloc.allocate(bytesOf(r));
        offsets.push_back(offset[r] + within.lookup(result));
        continue;
      }
      if (offset.count(result)) { // a view concat: placed with its first input
        offsets.push_back(offset[result]);
        continue;
      }
      if (auto ref = llvm::dyn_cast<ParamRefOp>(op)) {
        offset[result] = paramOffsets.lookup(ref.getName());
        fixed.insert(result);
      } else {
        offset[result] = alloc.allocate(bytesOf(result));
      }
      offsets.push_back(offset[result]);
      // A result nobody reads is free right after its op.
      if (!lastUse.count(result) && !fixed.count(result))
        alloc.release(offset[result], bytesOf(result));
    }
    if (!offsets.empty())
      op->setAttr("ingot.offsets", DenseI64ArrayAttr::get(op->getContext(), offsets));
    for (Value v : dying.lookup(index))
      if (!fixed.count(v))
        alloc.release(offset[v], bytesOf(v));
  }
  return alloc.peakBytes();
}

void PlanMemoryPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto fb = module.lookupSymbol<func::FuncOp>("forward_backward");
  auto fwd = module.lookupSymbol<func::FuncOp>("forward");
  if (!fb || !fwd) {
    module.emitError("ingot-plan-memory runs after ingot-autodiff");
    return signalPassFailure();
  }
  OpBuilder b(module.getContext());
  auto i64 = [&](int64_t v) { return b.getI64IntegerAttr(v); };

  // Persistent region: values, then gradients (one contiguous range), then moments.
  SmallVector<ParamOp> params(module.getOps<ParamOp>());
  int64_t cursor = 0;
  auto place = [&](int64_t bytes) {
    int64_t at = cursor;
    cursor = alignUp(cursor + bytes);
    return at;
  };
  for (ParamOp p : params) {
    int64_t at = place(bytesOf(p.getType()));
    p->setAttr("ingot.offset", i64(at));
    paramOffsets[p.getSymName()] = at;
  }
  int64_t gradsOffset = cursor;
  for (ParamOp p : params)
    p->setAttr("ingot.grad_offset", i64(place(bytesOf(p.getType()))));
  int64_t gradsBytes = cursor - gradsOffset;
  for (ParamOp p : params)
    p->setAttr("ingot.m_offset", i64(place(bytesOf(p.getType()))));
  for (ParamOp p : params)
    p->setAttr("ingot.v_offset", i64(place(bytesOf(p.getType()))));
  // bf16 working copies of the parameters GEMMs read (ingot-assign-storage's `ingot.shadow`).
  for (ParamOp p : params)
    if (p->hasAttr("ingot.shadow"))
      p->setAttr("ingot.shadow_offset",
                 i64(place(llvm::cast<RankedTensorType>(p.getType()).getNumElements() * 2)));
  auto argTypes = fb.getFunctionType().getInputs();
  SmallVector<int64_t> argOffsets;
  for (Type t : argTypes)
    argOffsets.push_back(place(bytesOf(t)));
  int64_t lossOffset = place(bytesOf(fb.getFunctionType().getResult(0)));
  int64_t persistent = cursor;

  int64_t fbPeak = planFunction(fb, persistent, argOffsets);
  int64_t fwdPeak = planFunction(fwd, persistent, argOffsets);
  int64_t arena = alignUp(persistent + std::max(fbPeak, fwdPeak));

  SmallVector<NamedAttribute> memory = {
      b.getNamedAttr("arena_bytes", i64(arena)),
      b.getNamedAttr("persistent_bytes", i64(persistent)),
      b.getNamedAttr("grads_offset", i64(gradsOffset)),
      b.getNamedAttr("grads_bytes", i64(gradsBytes)),
      b.getNamedAttr("loss_offset", i64(lossOffset)),
      b.getNamedAttr("input_offsets", b.getDenseI64ArrayAttr(argOffsets)),
      b.getNamedAttr("forward_backward_peak_bytes", i64(fbPeak)),
      b.getNamedAttr("forward_peak_bytes", i64(fwdPeak)),
      b.getNamedAttr("float_bytes", i64(floatBytes)),
  };
  module->setAttr("ingot.memory", b.getDictionaryAttr(memory));
}

} // namespace
