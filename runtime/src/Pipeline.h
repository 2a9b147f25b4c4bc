//===- Pipeline.h - One rank's part of a pipeline step -----------*- C++ -*-===//
//
// P > 1 pipeline stages (ModelDesc::pipeline). Every rank holds the whole arena at the one-rank
// offsets and runs its stage's segments in its stage's schedule order. A micro-batch's forward
// leaves in the activation region (and, on the cuda target, the statistics region) what its
// backward reads; another micro-batch's forward may run in between (GPipe, 1F1B), so the
// regions are copied out after each of a micro-batch's segments and back in before its next.
//
// Transfers use Comm's blocking send/recv. So that no schedule can deadlock on them, every rank
// derives the same global order of events once: the stages' programs are walked together, each
// step running as soon as what it receives has been made, and each transfer placed right after
// the step that makes it. Every rank does its own events in that order (a transfer is an event
// of both its ranks; the receiver keeps the bytes until its step runs), so the earliest
// unfinished event always has all its ranks waiting on it. That holds for NCCL's point-to-point
// too, where a send waits for its receive: each send/recv pair is its own event, and per pair of
// ranks the sends and receives come in the same order, which is how NCCL matches them.
//
// With D > 1 replicas, world rank stage * D + replica holds that stage of that replica; a
// replica's stages exchange only among themselves (peer rank = peer stage * D + replica), so
// the D pipelines run side by side on their own micro-batches.
//
// Where the arena is device memory (the cuda target), so is the runner's: its copies of the
// regions and the received bytes live in buffers of the PipelineDesc's hooks, copies are
// queued in order with the kernels, and the runner waits for the kernels before every transfer
// (Comm works on its own stream) and at the end of the step (the gradient sum follows).
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_PIPELINE_H
#define INGOT_RT_PIPELINE_H

#include "ingot/rt/Comm.h"
#include "ingot/rt/Model.h"

#include <cstdint>
#include <vector>

namespace ingot::rt {

class PipelineRunner {
public:
  /// Derives the global order of events and allocates the stage's copies and receive buffers
  /// (throws Error when the memory is not there, or when the compiled schedule cannot run).
  PipelineRunner(const ModelDesc &model, Comm &comm, int stage, int replica, int replicas);
  ~PipelineRunner();
  PipelineRunner(const PipelineRunner &) = delete;
  PipelineRunner &operator=(const PipelineRunner &) = delete;

  /// Runs this stage's steps of one optimizer step on micro-batches `tokens[m]`, `targets[m]`;
  /// `losses[m]` is the micro-batch's loss on the stage of the last chunk, 0 elsewhere. The
  /// gradients of this stage's parameters are added into the gradient region (zeroed before);
  /// on return every kernel of the step is done.
  void step(char *arena, const std::vector<std::vector<int32_t>> &tokens,
            const std::vector<std::vector<int32_t>> &targets, std::vector<double> &losses);

private:
  struct Event {
    int transfer; // -1: the compute step of `segment`; else the transfer after it
    int segment, microbatch, stage;
  };

  /// The world rank of `stage` in this rank's replica.
  int rankOf(int stage) const { return stage * replicas_ + replica_; }
  void run(char *arena, int segment, int microbatch, const std::vector<std::vector<int32_t>> &tokens,
           const std::vector<std::vector<int32_t>> &targets, std::vector<double> &losses);

  // The runner's memory, where the arena is: host memory, or device memory through the hooks.
  bool onDevice() const { return pipe_.allocBuffer != nullptr; }
  void copy(void *dst, const void *src, uint64_t bytes);
  /// dst += src over `bytes` of gradients (a tied gradient's part).
  void addGradient(char *dst, const char *src, uint64_t bytes);
  /// Waits for every queued kernel and copy (device only).
  void waitForDevice();
  /// Micro-batch m's copy of the activation region, then its copy of the statistics region.
  char *keptActivations(int m) const {
    return memory_ + uint64_t(slotOf_[size_t(m)]) * keptSlotBytes_;
  }
  char *keptStats(int m) const { return keptActivations(m) + statsSlotOffset_; }
  /// Where the bytes of transfer t for micro-batch m arrive (transfers to this stage only).
  char *received(int t, int m) const {
    return memory_ + receivedOffset_[size_t(t) * microbatches_ + size_t(m)];
  }

  const ModelDesc &model_;
  const PipelineDesc &pipe_;
  Comm &comm_;
  int stage_, replica_, replicas_, microbatches_;
  int lastChunk_ = 0;
  std::vector<Event> events_;
  char *memory_ = nullptr; // one allocation: the kept regions, then the received bytes
  uint64_t keptSlotBytes_ = 0, statsSlotOffset_ = 0;
  std::vector<int> slotOf_;              // per micro-batch: its slot of kept regions
  std::vector<uint64_t> receivedOffset_; // per transfer and micro-batch, into memory_
};

} // namespace ingot::rt

#endif // INGOT_RT_PIPELINE_H
