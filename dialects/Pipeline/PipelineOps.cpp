//===- PipelineOps.cpp - Ops of the pipeline dialect ----------------------===//
//
// The verifiers. pipeline.plan checks the plan as a whole, because its rules span ops: the
// chunks must tile the layers, each stage's program must run every micro-batch through each of
// its chunks exactly once in a legal order, and every transfer must have its other half.
// Messages name the stage, micro-batch and chunk concerned.
//
//===----------------------------------------------------------------------===//
#include "dialects/Pipeline/PipelineOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSwitch.h"

#include <map>
#include <tuple>

using namespace mlir;
using namespace ingot::pipeline;

#define GET_OP_CLASSES
#include "dialects/Pipeline/PipelineOps.cpp.inc"

//===----------------------------------------------------------------------===//
// pipeline.plan
//===----------------------------------------------------------------------===//

void PlanOp::build(OpBuilder &builder, OperationState &state, int64_t stages, int64_t chunks,
                   int64_t microbatches) {
  state.addAttribute(getStagesAttrName(state.name), builder.getI64IntegerAttr(stages));
  state.addAttribute(getChunksAttrName(state.name), builder.getI64IntegerAttr(chunks));
  state.addAttribute(getMicrobatchesAttrName(state.name), builder.getI64IntegerAttr(microbatches));
  state.addRegion()->emplaceBlock();
}

SmallVector<ChunkOp, 4> PlanOp::getChunkOps() {
  return llvm::to_vector<4>(getBody().front().getOps<ChunkOp>());
}

SmallVector<ProgramOp, 4> PlanOp::getProgramOps() {
  return llvm::to_vector<4>(getBody().front().getOps<ProgramOp>());
}

namespace {

/// What a program has done for one (micro-batch, chunk) so far, in program order.
struct StepState {
  Operation *forward = nullptr, *backwardInput = nullptr, *backwardWeight = nullptr;
  Operation *whole = nullptr; // pipeline.backward
  Operation *received = nullptr;
};

/// A transfer, keyed the same way on both ends: (is gradient, micro-batch, producing chunk,
/// from stage, to stage).
using TransferKey = std::tuple<bool, int64_t, int64_t, int64_t, int64_t>;

} // namespace

/// Checks one program: its steps name chunks of its stage and micro-batches of the step, and
/// each (micro-batch, chunk) runs F, then B and W (or the whole backward) exactly once, with
/// the data it needs received before it. Records the program's transfers.
static LogicalResult verifyProgram(PlanOp plan, ProgramOp program,
                                   std::map<TransferKey, Operation *> &sends,
                                   std::map<TransferKey, Operation *> &recvs,
                                   bool transfersAsSteps) {
  int64_t stages = plan.getStages(), microbatches = plan.getMicrobatches();
  int64_t numChunks = stages * plan.getChunks();
  int64_t stage = program.getStage();
  std::map<std::pair<int64_t, int64_t>, StepState> steps;
  std::map<std::pair<int64_t, int64_t>, Operation *> gradsReceived;

  auto checkIds = [&](Operation *op, int64_t microbatch, int64_t chunk,
                      bool ownChunk) -> LogicalResult {
    if (microbatch >= microbatches)
      return op->emitOpError() << "names micro-batch " << microbatch << " but the plan has "
                               << microbatches;
    if (chunk >= numChunks)
      return op->emitOpError() << "names chunk " << chunk << " but the plan has " << numChunks;
    if (ownChunk && chunk % stages != stage)
      return op->emitOpError() << "runs chunk " << chunk << ", which lives on stage "
                               << chunk % stages << ", in the program of stage " << stage;
    return success();
  };

  for (Operation &op : program.getBody().front()) {
    if (auto f = dyn_cast<ForwardOp>(op)) {
      int64_t k = f.getMicrobatch(), c = f.getChunk();
      if (failed(checkIds(&op, k, c, true)))
        return failure();
      StepState &s = steps[{k, c}];
      if (s.forward)
        return op.emitOpError() << "repeats the forward of micro-batch " << k << " on chunk " << c;
      s.forward = &op;
      continue;
    }
    if (isa<BackwardOp, BackwardInputOp, BackwardWeightOp>(op)) {
      int64_t k = op.getAttrOfType<IntegerAttr>("microbatch").getInt();
      int64_t c = op.getAttrOfType<IntegerAttr>("chunk").getInt();
      if (failed(checkIds(&op, k, c, true)))
        return failure();
      StepState &s = steps[{k, c}];
      if (!s.forward)
        return op.emitOpError() << "runs before the forward of micro-batch " << k << " on chunk "
                                << c;
      bool needsInput = !isa<BackwardWeightOp>(op);
      if (transfersAsSteps && needsInput && c + 1 < numChunks &&
          !gradsReceived.count({k, c + 1}) &&
          (c + 1) % stages != stage)
        return op.emitOpError() << "runs before the gradient of micro-batch " << k
                                << " from chunk " << c + 1 << " is received";
      if (isa<BackwardOp>(op)) {
        if (s.whole || s.backwardInput)
          return op.emitOpError() << "repeats the backward of micro-batch " << k << " on chunk "
                                  << c;
        s.whole = &op;
      } else if (isa<BackwardInputOp>(op)) {
        if (s.whole || s.backwardInput)
          return op.emitOpError() << "repeats the backward of micro-batch " << k << " on chunk "
                                  << c;
        s.backwardInput = &op;
      } else {
        if (!s.backwardInput)
          return op.emitOpError() << "runs before the backward_input of micro-batch " << k
                                  << " on chunk " << c;
        if (s.backwardWeight)
          return op.emitOpError() << "repeats the backward_weight of micro-batch " << k
                                  << " on chunk " << c;
        s.backwardWeight = &op;
      }
      continue;
    }
    bool isSend = isa<SendActivationOp, SendGradOp>(op);
    bool isRecv = isa<RecvActivationOp, RecvGradOp>(op);
    if (!isSend && !isRecv)
      continue; // collectives and buffer views, verified by their own ops
    bool grad = isa<SendGradOp, RecvGradOp>(op);
    int64_t k = op.getAttrOfType<IntegerAttr>("microbatch").getInt();
    int64_t c = op.getAttrOfType<IntegerAttr>("chunk").getInt();
    int64_t peer = op.getAttrOfType<IntegerAttr>("peer").getInt();
    if (failed(checkIds(&op, k, c, /*ownChunk=*/isSend)))
      return failure();
    if (isSend) {
      StepState &s = steps[{k, c}];
      if (!grad && !s.forward)
        return op.emitOpError() << "sends the activation of micro-batch " << k << " on chunk "
                                << c << " before its forward";
      if (grad && !s.whole && !s.backwardInput)
        return op.emitOpError() << "sends the gradient of micro-batch " << k << " on chunk " << c
                                << " before its backward";
    } else if (grad) {
      gradsReceived[{k, c}] = &op;
    } else {
      steps[{k, c + 1}].received = &op;
    }
    TransferKey key{grad, k, c, isSend ? stage : peer, isSend ? peer : stage};
    auto &table = isSend ? sends : recvs;
    if (!table.emplace(key, &op).second)
      return op.emitOpError() << "repeats the transfer of micro-batch " << k << " chunk " << c;
  }

  // Every chunk of this stage, every micro-batch: complete.
  for (int64_t c = stage; c < numChunks; c += stages)
    for (int64_t k = 0; k < microbatches; ++k) {
      auto it = steps.find({k, c});
      const StepState *s = it == steps.end() ? nullptr : &it->second;
      if (!s || !s->forward)
        return program.emitOpError() << "of stage " << stage << " never runs the forward of "
                                     << "micro-batch " << k << " on chunk " << c;
      if (!s->whole && !s->backwardInput)
        return program.emitOpError() << "of stage " << stage << " never runs the backward of "
                                     << "micro-batch " << k << " on chunk " << c;
      if (s->backwardInput && !s->backwardWeight)
        return program.emitOpError() << "of stage " << stage << " never runs the "
                                     << "backward_weight of micro-batch " << k << " on chunk "
                                     << c;
      // The activation a forward reads must have arrived before it, when it comes from
      // another stage and transfers are still pipeline steps.
      if (transfersAsSteps && c > 0 && (c - 1) % stages != stage &&
          (!s->received || !s->received->isBeforeInBlock(s->forward)))
        return s->forward->emitOpError() << "runs before its activation is received";
    }
  return success();
}

LogicalResult PlanOp::verifyRegions() {
  int64_t stages = getStages(), perStage = getChunks();
  if (getSchedule() && !llvm::is_contained({"gpipe", "1f1b", "interleaved", "zb-h1"},
                                           *getSchedule()))
    return emitOpError() << "schedule must be \"gpipe\", \"1f1b\", \"interleaved\" or "
                            "\"zb-h1\", found \"" << *getSchedule() << "\"";
  if (perStage > 1 && getSchedule() && *getSchedule() != "interleaved")
    return emitOpError() << "has " << perStage << " chunks per stage, which only the "
                         << "\"interleaved\" schedule runs, but its schedule is \""
                         << *getSchedule() << "\"";
  SmallVector<ChunkOp, 4> chunks = getChunkOps();
  int64_t numChunks = stages * perStage;
  if (static_cast<int64_t>(chunks.size()) != numChunks)
    return emitOpError() << "needs " << numChunks << " chunks (" << stages << " stages x "
                         << perStage << "), found " << chunks.size();
  for (auto [i, chunk] : llvm::enumerate(chunks)) {
    int64_t c = static_cast<int64_t>(i);
    if (chunk.getIndex() != c)
      return chunk.emitOpError() << "is chunk " << chunk.getIndex() << " but stands at position "
                                 << c << "; chunks must be in order";
    if (chunk.getStage() != c % stages)
      return chunk.emitOpError() << "must run on stage " << c % stages << " (chunk mod stages), "
                                 << "found stage " << chunk.getStage();
    if (c > 0 && chunk.getFirstLayer() != chunks[c - 1].getEndLayer())
      return chunk.emitOpError() << "starts at layer " << chunk.getFirstLayer()
                                 << " but chunk " << c - 1 << " ends at layer "
                                 << chunks[c - 1].getEndLayer();
    if (chunk.getEmbedding() && c != 0)
      return chunk.emitOpError() << "holds the embedding, which belongs to chunk 0";
    if (chunk.getHead() && c != numChunks - 1)
      return chunk.emitOpError() << "holds the head, which belongs to the last chunk ("
                                 << numChunks - 1 << ")";
  }

  SmallVector<ProgramOp, 4> programs = getProgramOps();
  if (programs.empty())
    return success();
  for (Operation &op : getBody().front())
    if (!isa<ChunkOp, ProgramOp>(op))
      return op.emitOpError() << "cannot stand in a pipeline.plan (only chunks and programs)";
  if (!getSchedule())
    return emitOpError() << "has stage programs but no schedule name";
  if (static_cast<int64_t>(programs.size()) != stages)
    return emitOpError() << "needs one program per stage (" << stages << "), found "
                         << programs.size();
  // Before collective-insert, transfers are pipeline steps and every one must be there; after
  // it they are collective operations, checked by their own verifiers.
  bool transfersAsSteps = false;
  for (ProgramOp program : programs)
    program.walk([&](Operation *op) {
      transfersAsSteps |= isa<SendActivationOp, RecvActivationOp, SendGradOp, RecvGradOp>(op);
    });
  std::map<TransferKey, Operation *> sends, recvs;
  for (auto [s, program] : llvm::enumerate(programs)) {
    if (program.getStage() != static_cast<int64_t>(s))
      return program.emitOpError() << "is for stage " << program.getStage()
                                   << " but stands at position " << s
                                   << "; programs must be in stage order";
    if (failed(verifyProgram(*this, program, sends, recvs, transfersAsSteps)))
      return failure();
  }
  for (auto &[key, op] : sends)
    if (!recvs.count(key))
      return op->emitOpError() << "has no matching receive on stage " << std::get<4>(key);
  for (auto &[key, op] : recvs)
    if (!sends.count(key))
      return op->emitOpError() << "has no matching send on stage " << std::get<3>(key);
  return success();
}

//===----------------------------------------------------------------------===//
// pipeline.chunk, pipeline.program
//===----------------------------------------------------------------------===//

LogicalResult ChunkOp::verify() {
  if (getEndLayer() <= getFirstLayer())
    return emitOpError() << "needs at least one layer, found layers " << getFirstLayer()
                         << " to " << getEndLayer();
  for (double t : {getForwardTime().convertToDouble(), getBackwardInputTime().convertToDouble(),
                   getBackwardWeightTime().convertToDouble(), getTransferTime().convertToDouble(),
                   getGradReduceTime().convertToDouble(), getOptimizerTime().convertToDouble()})
    if (!(t >= 0) || !std::isfinite(t))
      return emitOpError() << "times must be finite and not negative";
  if (getParamBytes() < 0 || getActivationBytes() < 0)
    return emitOpError() << "byte counts must not be negative";
  return success();
}

void ProgramOp::build(OpBuilder &builder, OperationState &state, int64_t stage) {
  state.addAttribute(getStageAttrName(state.name), builder.getI64IntegerAttr(stage));
  state.addRegion()->emplaceBlock();
}

//===----------------------------------------------------------------------===//
// Transfers
//===----------------------------------------------------------------------===//

/// The peer of a transfer is the stage of the neighbouring chunk: `chunk + 1` for an activation
/// (sent by `chunk`'s stage), `chunk - 1` for a gradient (sent by `chunk`'s stage).
static LogicalResult verifyTransfer(Operation *op, bool grad, bool send) {
  auto plan = op->getParentOfType<PlanOp>();
  auto program = op->getParentOfType<ProgramOp>();
  if (!plan || !program)
    return success(); // HasParent reports it
  int64_t stages = plan.getStages(), numChunks = stages * plan.getChunks();
  int64_t chunk = op->getAttrOfType<IntegerAttr>("chunk").getInt();
  int64_t peer = op->getAttrOfType<IntegerAttr>("peer").getInt();
  int64_t other = grad ? chunk - 1 : chunk + 1;
  if (other < 0 || other >= numChunks)
    return op->emitOpError() << "moves data of chunk " << chunk << " to chunk " << other
                             << ", which does not exist";
  int64_t producerStage = chunk % stages, consumerStage = other % stages;
  int64_t expectedPeer = send ? consumerStage : producerStage;
  int64_t expectedSelf = send ? producerStage : consumerStage;
  if (program.getStage() != expectedSelf)
    return op->emitOpError() << "belongs in the program of stage " << expectedSelf
                             << ", found in stage " << program.getStage();
  if (peer != expectedPeer)
    return op->emitOpError() << "must name stage " << expectedPeer << " as its peer, found "
                             << peer;
  if (peer == program.getStage())
    return op->emitOpError() << "moves data within stage " << peer
                             << "; chunks on one stage share memory";
  return success();
}

LogicalResult SendActivationOp::verify() { return verifyTransfer(*this, false, true); }
LogicalResult RecvActivationOp::verify() { return verifyTransfer(*this, false, false); }
LogicalResult SendGradOp::verify() { return verifyTransfer(*this, true, true); }
LogicalResult RecvGradOp::verify() { return verifyTransfer(*this, true, false); }

//===----------------------------------------------------------------------===//
// pipeline.buffer
//===----------------------------------------------------------------------===//

LogicalResult BufferOp::verify() {
  StringRef kind = getKind();
  // Index is optional on activations: it numbers the values when a chunk passes several.
  enum Needs { None = 0, Micro = 1, Chunk = 2, Index = 4, Param = 8 };
  bool indexOptional = kind == "activation" || kind == "activation_grad";
  std::optional<int> needs = llvm::StringSwitch<std::optional<int>>(kind)
                                 .Case("activation", Micro | Chunk)
                                 .Case("activation_grad", Micro | Chunk)
                                 .Case("grad_bucket", Index | Chunk)
                                 .Case("tied_grad", Param)
                                 .Case("grad_sq_norm", None)
                                 .Case("nonfinite", None)
                                 .Default(std::nullopt);
  if (!needs)
    return emitOpError() << "kind must be activation, activation_grad, grad_bucket, tied_grad, "
                            "grad_sq_norm or nonfinite, found \"" << kind << "\"";
  auto check = [&](int bit, bool present, StringRef name) -> LogicalResult {
    if ((*needs & bit) && !present)
      return emitOpError() << "of kind \"" << kind << "\" needs `" << name << "`";
    if (!(*needs & bit) && present)
      return emitOpError() << "of kind \"" << kind << "\" takes no `" << name << "`";
    return success();
  };
  if (failed(check(Micro, getMicrobatch().has_value(), "microbatch")) ||
      failed(check(Chunk, getChunk().has_value(), "chunk")) ||
      (!indexOptional && failed(check(Index, getIndex().has_value(), "index"))) ||
      failed(check(Param, getParam().has_value(), "param")))
    return failure();
  if ((kind == "grad_sq_norm" || kind == "nonfinite")) {
    MemRefType t = getResult().getType();
    Type element = t.getElementType();
    bool ok = t.getNumElements() == 1 &&
              (kind == "grad_sq_norm" ? element.isF32() : element.isInteger(32));
    if (!ok)
      return emitOpError() << "of kind \"" << kind << "\" is one "
                           << (kind == "grad_sq_norm" ? "f32" : "i32") << ", found " << t;
  }
  return success();
}
