//===- CollectiveInsert.cpp - collective-insert ---------------------------===//
//
// Everything a stage program exchanges with other ranks, as collective operations with explicit
// completion. Placement follows one rule: start as early as the data allows, wait as late as
// the consumer allows, so the transfers and reductions overlap compute:
//   - a receive starts one compute step before the step that reads it and is waited right
//     before that step;
//   - a send starts right after the step that produced the data and is waited at the end of
//     the step (the buffer stays reserved until then);
//   - a data-parallel gradient bucket starts right after the last backward step that adds to
//     its gradients on this stage and is waited at the end;
//   - the reductions that need every gradient (tied weights, the norm, the non-finite
//     decision) come last, in that order: the norm must see the tied gradients summed.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/PipelineCommon.h"
#include "compiler/Schedule/PipelinePasses.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/IR/Builders.h"

#include <map>
#include <set>
#include <tuple>

namespace ingot {
#define GEN_PASS_DEF_COLLECTIVEINSERT
#include "compiler/Schedule/PipelinePasses.h.inc"
} // namespace ingot

using namespace mlir;
using namespace ingot;
using namespace ingot::pipeline;
namespace coll = ingot::collective;

namespace {

struct CollectiveInsertPass : public ingot::impl::CollectiveInsertBase<CollectiveInsertPass> {
  using CollectiveInsertBase::CollectiveInsertBase;
  void runOnOperation() override;
};



bool isCompute(Operation *op) {
  return isa<ForwardOp, BackwardOp, BackwardInputOp, BackwardWeightOp>(op);
}

MemRefType bufferType(Type tensor) {
  auto t = llvm::cast<RankedTensorType>(tensor);
  return MemRefType::get(t.getShape(), t.getElementType());
}

/// A transfer, the same on both ends: (gradient?, micro-batch, chunk whose step sends it).
using TransferKey = std::tuple<bool, int64_t, int64_t>;

/// Reorders the pipeline transfer steps of every program for blocking sends and receives: a
/// global walk runs each stage's compute steps, in their order, as soon as the data they need
/// has arrived; each transfer is placed right after the step that produces it in the sender's
/// program and at the receiver's current point in its program. The walk is one execution every
/// stage can follow at once, so blocking calls in that order always meet.
LogicalResult orderForBlocking(PlanOp plan) {
  const int64_t p = plan.getStages(), chunks = p * plan.getChunks();
  auto stageOf = [&](int64_t c) { return c % p; };
  std::map<TransferKey, Operation *> sends, recvs;
  std::vector<std::vector<Operation *>> compute(p);
  SmallVector<ProgramOp, 4> programs = plan.getProgramOps();
  for (ProgramOp program : programs)
    for (Operation &op : program.getBody().front()) {
      if (isCompute(&op)) {
        compute[program.getStage()].push_back(&op);
        continue;
      }
      if (!isa<SendActivationOp, SendGradOp, RecvActivationOp, RecvGradOp>(op))
        continue;
      TransferKey key{isa<SendGradOp, RecvGradOp>(op),
                      op.getAttrOfType<IntegerAttr>("microbatch").getInt(),
                      op.getAttrOfType<IntegerAttr>("chunk").getInt()};
      (isa<SendActivationOp, SendGradOp>(op) ? sends : recvs)[key] = &op;
    }
  std::vector<std::vector<Operation *>> order(p);
  std::vector<std::set<TransferKey>> arrived(p);
  std::vector<size_t> next(p, 0);
  size_t remaining = 0;
  for (auto &steps : compute)
    remaining += steps.size();
  while (remaining > 0) {
    bool progressed = false;
    for (int64_t s = 0; s < p; ++s) {
      while (next[s] < compute[s].size()) {
        Operation *op = compute[s][next[s]];
        int64_t k = op->getAttrOfType<IntegerAttr>("microbatch").getInt();
        int64_t c = op->getAttrOfType<IntegerAttr>("chunk").getInt();
        bool forward = isa<ForwardOp>(op), weight = isa<BackwardWeightOp>(op);
        std::optional<TransferKey> needs;
        if (forward && c > 0 && stageOf(c - 1) != s)
          needs = TransferKey{false, k, c - 1};
        if (!forward && !weight && c + 1 < chunks && stageOf(c + 1) != s)
          needs = TransferKey{true, k, c + 1};
        if (needs && !arrived[s].count(*needs))
          break;
        order[s].push_back(op);
        ++next[s];
        --remaining;
        progressed = true;
        std::optional<std::pair<TransferKey, int64_t>> gives;
        if (forward && c + 1 < chunks && stageOf(c + 1) != s)
          gives = {TransferKey{false, k, c}, stageOf(c + 1)};
        if (!forward && !weight && c > 0 && stageOf(c - 1) != s)
          gives = {TransferKey{true, k, c}, stageOf(c - 1)};
        if (!gives)
          continue;
        auto send = sends.find(gives->first), recv = recvs.find(gives->first);
        if (send == sends.end() || recv == recvs.end())
          return op->emitError() << "has no transfer step for the data it produces";
        order[s].push_back(send->second);
        order[gives->second].push_back(recv->second);
        arrived[gives->second].insert(gives->first);
      }
    }
    if (!progressed)
      return plan.emitError() << "the stage programs wait for data no stage sends; they "
                                 "cannot be ordered for blocking transfers";
  }
  for (ProgramOp program : programs) {
    Block &body = program.getBody().front();
    for (Operation *op : order[program.getStage()])
      op->moveBefore(&body, body.end());
  }
  return success();
}

} // namespace

void CollectiveInsertPass::runOnOperation() {
  ModuleOp module = getOperation();
  PlanOp plan = findPlan(module);
  if (!plan || !plan.getSchedule()) {
    module.emitError("collective-insert needs a scheduled pipeline.plan (run pipeline-partition "
                     "and pipeline-schedule first)");
    return signalPassFailure();
  }
  if (!module.getOps<coll::CommOp>().empty()) {
    module.emitError("collective-insert already ran: the module has collective.comm ops");
    return signalPassFailure();
  }
  FailureOr<ParallelLayout> parallel = readParallelLayout(module);
  if (failed(parallel))
    return signalPassFailure();
  const int64_t p = plan.getStages(), d = parallel->data;
  SmallVector<ChunkOp, 4> chunks = plan.getChunkOps();
  MLIRContext *ctx = module.getContext();
  Location loc = plan.getLoc();
  Type token = coll::TokenType::get(ctx);

  // Parameters: which chunks read them, their gradient type, and declaration order.
  struct Param {
    StringAttr name;
    RankedTensorType type;
    std::vector<int64_t> chunks;
    std::set<int64_t> stages;
  };
  std::vector<Param> params;
  for (ParamOp param : module.getOps<ParamOp>()) {
    auto readers = param->getAttrOfType<DenseI64ArrayAttr>("pipeline.chunks");
    if (!readers)
      continue; // read by no chunk: no gradient
    Param entry{param.getSymNameAttr(), param.getTensorType(), {}, {}};
    for (int64_t c : readers.asArrayRef()) {
      entry.chunks.push_back(c);
      entry.stages.insert(c % p);
    }
    params.push_back(std::move(entry));
  }

  // Communicators, at the top of the module.
  OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
  auto comm = [&](StringRef name, StringRef axis, int64_t size, ArrayRef<int64_t> stages = {}) {
    auto op = coll::CommOp::create(mb, loc, mb.getStringAttr(name), mb.getStringAttr(axis),
                                   mb.getI64IntegerAttr(size),
                                   stages.empty() ? DenseI64ArrayAttr()
                                                  : mb.getDenseI64ArrayAttr(stages));
    return FlatSymbolRefAttr::get(op.getSymNameAttr());
  };
  FlatSymbolRefAttr pp = p > 1 ? comm("pp", "pipeline", p) : FlatSymbolRefAttr();
  FlatSymbolRefAttr dp = d > 1 ? comm("dp", "data", d) : FlatSymbolRefAttr();
  FlatSymbolRefAttr world = p * d > 1 ? comm("world", "world", p * d) : FlatSymbolRefAttr();
  llvm::DenseMap<StringAttr, FlatSymbolRefAttr> tiedComm;
  for (const Param &param : params)
    if (param.stages.size() > 1) {
      SmallVector<int64_t> stages(param.stages.begin(), param.stages.end());
      tiedComm[param.name] =
          comm(("tied_" + param.name.getValue()).str(), "stages", stages.size(), stages);
    }

  // What moves: chunk c's `boundary` after its forward, its `grad_boundary` after its
  // backward.
  auto transferTypes = [&](int64_t chunk, bool grad) {
    SmallVector<Type> types;
    std::optional<ArrayAttr> list =
        grad ? chunks[chunk].getGradBoundary() : chunks[chunk].getBoundary();
    if (list)
      for (Attribute t : *list)
        types.push_back(llvm::cast<TypeAttr>(t).getValue());
    return types;
  };
  auto buffer = [&](OpBuilder &b, StringRef kind, MemRefType type, std::optional<int64_t> k,
                    std::optional<int64_t> c, std::optional<int64_t> index,
                    FlatSymbolRefAttr param = {}) {
    auto i64 = [&](std::optional<int64_t> v) {
      return v ? b.getI64IntegerAttr(*v) : IntegerAttr();
    };
    return BufferOp::create(b, loc, type, b.getStringAttr(kind), i64(k), i64(c), i64(index),
                            param)
        .getResult();
  };

  if (blocking && failed(orderForBlocking(plan)))
    return signalPassFailure();

  for (ProgramOp program : plan.getProgramOps()) {
    const int64_t stage = program.getStage();
    Block &body = program.getBody().front();
    SmallVector<Value> endTokens; // sends and buckets, waited at the end
    SmallVector<Operation *> ops = llvm::to_vector(llvm::make_pointer_range(body));

    // Transfers.
    Operation *previousCompute = nullptr;
    for (Operation *op : ops) {
      if (isCompute(op)) {
        previousCompute = op;
        continue;
      }
      bool send = isa<SendActivationOp, SendGradOp>(op);
      bool grad = isa<SendGradOp, RecvGradOp>(op);
      if (!send && !isa<RecvActivationOp, RecvGradOp>(op))
        continue;
      int64_t k = op->getAttrOfType<IntegerAttr>("microbatch").getInt();
      int64_t c = op->getAttrOfType<IntegerAttr>("chunk").getInt();
      int64_t peer = op->getAttrOfType<IntegerAttr>("peer").getInt();
      SmallVector<Type> types = transferTypes(c, grad);
      if (types.empty()) {
        op->emitError() << "chunk " << c << " passes nothing to chunk " << (grad ? c - 1 : c + 1)
                        << " (its " << (grad ? "grad_boundary" : "boundary")
                        << " is empty), so there is nothing to transfer";
        return signalPassFailure();
      }
      OpBuilder b(op);
      if (send) {
        for (auto [i, type] : llvm::enumerate(types)) {
          Value buf = buffer(b, grad ? "activation_grad" : "activation", bufferType(type), k, c,
                             types.size() > 1 ? std::optional<int64_t>(i) : std::nullopt);
          Value sent =
              coll::SendStartOp::create(b, loc, token, pp, buf, b.getI64IntegerAttr(peer))
                  .getToken();
          if (blocking)
            coll::WaitOp::create(b, loc, ValueRange{sent});
          else
            endTokens.push_back(sent);
        }
      } else {
        OpBuilder early(receiveEarly && !blocking && previousCompute ? previousCompute : op);
        SmallVector<Value> tokens;
        for (auto [i, type] : llvm::enumerate(types)) {
          Value buf = buffer(early, grad ? "activation_grad" : "activation", bufferType(type), k,
                             c, types.size() > 1 ? std::optional<int64_t>(i) : std::nullopt);
          tokens.push_back(coll::RecvStartOp::create(early, loc, token, pp, buf, early.getI64IntegerAttr(peer)).getToken());
        }
        coll::WaitOp::create(b, loc, tokens);
      }
      op->erase();
    }

    // Data-parallel gradient buckets, started once this stage's last backward step of every
    // chunk that reads them is done.
    if (dp) {
      DenseMap<int64_t, Operation *> lastBackward;
      for (Operation &op : body)
        if (isa<BackwardOp, BackwardWeightOp>(op))
          lastBackward[op.getAttrOfType<IntegerAttr>("chunk").getInt()] = &op;
      // The step after which each parameter's gradient is final, in program order.
      std::map<Operation *, SmallVector<const Param *>, std::function<bool(Operation *, Operation *)>>
          finalAfter([](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
      for (const Param &param : params) {
        Operation *last = nullptr;
        for (int64_t c : param.chunks)
          if (c % p == stage) {
            Operation *op = lastBackward.lookup(c);
            if (op && (!last || last->isBeforeInBlock(op)))
              last = op;
          }
        if (last)
          finalAfter[last].push_back(&param);
      }
      int64_t bucket = 0;
      for (auto &[after, group] : finalAfter) {
        // After the step's own sends: the next stage waits for those, nobody for the buckets.
        Block::iterator at = std::next(after->getIterator());
        while (at != after->getBlock()->end() &&
               isa<BufferOp, coll::SendStartOp, coll::WaitOp>(*at))
          ++at;
        OpBuilder b = OpBuilder(after->getBlock(), at);
        int64_t chunk = after->getAttrOfType<IntegerAttr>("chunk").getInt();
        // Backward produces the last-declared gradients first: fill buckets in that order.
        SmallVector<Attribute> names;
        int64_t elements = 0;
        auto flush = [&] {
          if (names.empty())
            return;
          Value buf = buffer(b, "grad_bucket", MemRefType::get({elements}, b.getF32Type()),
                             std::nullopt, chunk, bucket++);
          buf.getDefiningOp()->setAttr("pipeline.params", b.getArrayAttr(names));
          endTokens.push_back(
              coll::AllReduceStartOp::create(b, loc, token, b.getStringAttr("sum"), dp, buf)
                  .getToken());
          names.clear();
          elements = 0;
        };
        for (const Param *param : llvm::reverse(group)) {
          int64_t n = param->type.getNumElements();
          if (!names.empty() && (elements + n) * 4 > bucketBytes)
            flush();
          names.push_back(FlatSymbolRefAttr::get(param->name));
          elements += n;
        }
        flush();
      }
    }

    OpBuilder end = OpBuilder::atBlockEnd(&body);
    if (!endTokens.empty())
      coll::WaitOp::create(end, loc, endTokens);
    // Tied parameters: their gradient is the sum over the stages that read them.
    for (const Param &param : params) {
      auto it = tiedComm.find(param.name);
      if (it == tiedComm.end() || !param.stages.count(stage))
        continue;
      Value buf = buffer(end, "tied_grad", MemRefType::get(param.type.getShape(), end.getF32Type()),
                         std::nullopt, std::nullopt, std::nullopt,
                         FlatSymbolRefAttr::get(param.name));
      Value t = coll::AllReduceStartOp::create(end, loc, token, end.getStringAttr("sum"), it->second, buf)
                    .getToken();
      coll::WaitOp::create(end, loc, ValueRange{t});
    }
    // The global gradient norm: each stage's sum of squares (a tied parameter counted on its
    // first stage only), summed over the stages of the replica; after the data-parallel
    // reduction every replica has the same gradients, so the pipeline group is enough.
    if (pp) {
      Value buf = buffer(end, "grad_sq_norm", MemRefType::get({1}, end.getF32Type()),
                         std::nullopt, std::nullopt, std::nullopt);
      Value t = coll::AllReduceStartOp::create(end, loc, token, end.getStringAttr("sum"), pp, buf)
                    .getToken();
      coll::WaitOp::create(end, loc, ValueRange{t});
    }
    // One decision for all ranks on a non-finite step (the loss lives on the last stage only).
    if (world) {
      Value buf = buffer(end, "nonfinite", MemRefType::get({1}, end.getI32Type()), std::nullopt,
                         std::nullopt, std::nullopt);
      Value t = coll::AllReduceStartOp::create(end, loc, token, end.getStringAttr("max"), world, buf)
                    .getToken();
      coll::WaitOp::create(end, loc, ValueRange{t});
    }
  }
}
