//===- PipelineBlocking.cpp - Do the collectives finish if every call blocks? ===//
//
// The collective dialect is asynchronous (start, then wait), and collective-insert places
// receives early and waits late so that transfers overlap compute. A runtime whose operations
// all block (runtime/include/ingot/rt/Comm.h today) runs each start as the whole operation. For
// messages past the eager size, a blocking send returns only once the receive is posted, so the
// order of sends and receives across stages decides whether the step finishes. This check runs
// the programs under that rule. Replicas of a stage run the same program, so data-parallel
// collectives always meet; only transfers and collectives across stages can block.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/PipelinePasses.h"

#include "llvm/Support/FormatVariadic.h"

#include <map>

using namespace mlir;
using namespace ingot;
using namespace ingot::pipeline;
namespace coll = ingot::collective;

namespace {

/// One blocking operation of a stage program.
struct Call {
  enum Kind { Send, Recv, Group } kind;
  int64_t peer = -1;                 // Send, Recv: the other stage
  std::string key;                   // Send, Recv: what moves; Group: the communicator
  std::vector<int64_t> members;      // Group: the stages taking part
  std::string text;                  // for the message
};

/// What a transfer's buffer holds, the same on both sides.
std::string bufferKey(Value buffer) {
  auto view = buffer.getDefiningOp<BufferOp>();
  if (!view)
    return "?";
  return llvm::formatv("{0} mb {1} chunk {2} #{3}", view.getKind(),
                       view.getMicrobatch().value_or(-1), view.getChunk().value_or(-1),
                       view.getIndex().value_or(0))
      .str();
}

} // namespace

std::string ingot::checkBlockingOrder(PlanOp plan) {
  const int64_t stages = plan.getStages();
  SymbolTableCollection symbols;
  std::vector<std::vector<Call>> calls(stages);
  for (ProgramOp program : plan.getProgramOps()) {
    int64_t s = program.getStage();
    for (Operation &op : program.getBody().front()) {
      if (auto send = dyn_cast<coll::SendStartOp>(op)) {
        std::string key = bufferKey(send.getBuffer());
        calls[s].push_back({Call::Send, send.getPeer(), key, {},
                            llvm::formatv("send of {0} to stage {1}", key, send.getPeer())});
      } else if (auto recv = dyn_cast<coll::RecvStartOp>(op)) {
        std::string key = bufferKey(recv.getBuffer());
        calls[s].push_back({Call::Recv, recv.getPeer(), key, {},
                            llvm::formatv("receive of {0} from stage {1}", key, recv.getPeer())});
      } else if (auto reduce = dyn_cast<coll::AllReduceStartOp>(op)) {
        auto comm = symbols.lookupNearestSymbolFrom<coll::CommOp>(&op, reduce.getCommAttr());
        if (!comm || comm.getAxis() == "data")
          continue; // replicas of one stage run one program: they always meet
        std::vector<int64_t> members;
        if (auto listed = comm.getStages())
          members.assign(listed->begin(), listed->end());
        else
          for (int64_t t = 0; t < stages; ++t)
            members.push_back(t);
        calls[s].push_back({Call::Group, -1, comm.getSymName().str(), members,
                            llvm::formatv("all-reduce over @{0}", comm.getSymName())});
      }
    }
  }

  std::vector<size_t> next(stages, 0);
  auto at = [&](int64_t s) -> const Call * {
    return next[s] < calls[s].size() ? &calls[s][next[s]] : nullptr;
  };
  while (true) {
    bool progressed = false, done = true;
    for (int64_t s = 0; s < stages; ++s) {
      const Call *c = at(s);
      if (!c)
        continue;
      done = false;
      if (c->kind == Call::Send) {
        const Call *other = c->peer < stages ? at(c->peer) : nullptr;
        if (other && other->kind == Call::Recv && other->peer == s && other->key == c->key) {
          ++next[s];
          ++next[c->peer];
          progressed = true;
        }
      } else if (c->kind == Call::Group) {
        bool all = true;
        for (int64_t m : c->members) {
          const Call *other = at(m);
          all &= other && other->kind == Call::Group && other->key == c->key;
        }
        if (all) {
          for (int64_t m : c->members)
            ++next[m];
          progressed = true;
        }
      }
    }
    if (done)
      return "";
    if (!progressed) {
      std::string waits;
      for (int64_t s = 0; s < stages; ++s)
        if (const Call *c = at(s))
          waits += llvm::formatv("{0}stage {1} blocks in the {2}", waits.empty() ? "" : "; ", s,
                                 c->text)
                       .str();
      return "with blocking communication the stage programs deadlock: " + waits;
    }
  }
}
