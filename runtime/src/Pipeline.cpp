//===- Pipeline.cpp - One rank's part of a pipeline step ------------------===//
#include "Pipeline.h"

#include "Error.h"
#include "ModelUtil.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace ingot::rt {

namespace {

constexpr uint64_t kAlign = 256;
uint64_t alignUp(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

/// out[i] += part[i]: the same addition as the generated gradient accumulation.
template <typename X> void addInto(X *out, const char *part, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    X x;
    std::memcpy(&x, part + i * sizeof(X), sizeof(X));
    out[i] += x;
  }
}

} // namespace

PipelineRunner::PipelineRunner(const ModelDesc &model, Comm &comm, int stage, int replica,
                               int replicas)
    : model_(model), pipe_(*model.pipeline), comm_(comm), stage_(stage), replica_(replica),
      replicas_(replicas), microbatches_(int(model.microbatches)) {
  const int stages = std::max(model.stages, 1);
  for (int k = 0; k < pipe_.numSegments; ++k)
    lastChunk_ = std::max(lastChunk_, pipe_.segments[k].chunk);
  // The global walk.
  std::vector<int> pc(stages);
  std::vector<char> done(size_t(pipe_.numSegments) * microbatches_, 0);
  for (int s = 0; s < stages; ++s)
    pc[s] = pipe_.programBegin[s];
  for (;;) {
    bool progress = false, finished = true;
    for (int s = 0; s < stages; ++s) {
      while (pc[s] < pipe_.programBegin[s + 1]) {
        const PipelineStep &st = pipe_.steps[pc[s]];
        bool ready = true;
        for (int t = 0; t < pipe_.numTransfers; ++t)
          if (pipe_.transfers[t].to == st.segment &&
              !done[size_t(pipe_.transfers[t].from) * microbatches_ + st.microbatch])
            ready = false;
        if (!ready)
          break;
        events_.push_back({-1, st.segment, st.microbatch, s});
        done[size_t(st.segment) * microbatches_ + st.microbatch] = 1;
        for (int t = 0; t < pipe_.numTransfers; ++t)
          if (pipe_.transfers[t].from == st.segment)
            events_.push_back({t, st.segment, st.microbatch, s});
        ++pc[s];
        progress = true;
      }
      finished &= pc[s] == pipe_.programBegin[s + 1];
    }
    if (finished)
      break;
    if (!progress)
      throw Error(kExitError, format("the compiled %s schedule of %d stages cannot run: every "
                                     "stage waits for another (a bug in ingotc; please report "
                                     "it)", pipe_.schedule, stages));
  }

  // A micro-batch needs its copy of the regions from its first segment on this stage to its
  // last; micro-batches whose spans do not overlap share one (1F1B keeps P - stage in flight,
  // GPipe all M): a slot per micro-batch, the fewest slots, in the order the spans begin.
  std::vector<int> first(microbatches_, -1), last(microbatches_, -1);
  for (int i = 0; i < int(events_.size()); ++i)
    if (events_[i].transfer < 0 && events_[i].stage == stage_) {
      int m = events_[i].microbatch;
      if (first[m] < 0)
        first[m] = i;
      last[m] = i;
    }
  slotOf_.assign(microbatches_, 0);
  std::vector<int> slotFreeAfter; // per slot: the event after which it is free again
  for (int i = 0; i < int(events_.size()); ++i) {
    const Event &e = events_[i];
    if (e.transfer >= 0 || e.stage != stage_ || first[e.microbatch] != i)
      continue;
    int slot = 0;
    while (slot < int(slotFreeAfter.size()) && slotFreeAfter[slot] >= i)
      ++slot;
    if (slot == int(slotFreeAfter.size()))
      slotFreeAfter.push_back(0);
    slotFreeAfter[slot] = last[e.microbatch];
    slotOf_[e.microbatch] = slot;
  }
  const int slots = int(slotFreeAfter.size());

  // One allocation: per slot the kept regions, then per transfer to this stage and micro-batch
  // its bytes (each at a 256-byte boundary, as the arena's tensors).
  statsSlotOffset_ = alignUp(pipe_.activationBytes);
  keptSlotBytes_ = statsSlotOffset_ + alignUp(pipe_.statsBytes);
  uint64_t total = keptSlotBytes_ * uint64_t(slots), received = 0;
  receivedOffset_.assign(size_t(pipe_.numTransfers) * microbatches_, 0);
  for (int t = 0; t < pipe_.numTransfers; ++t) {
    if (pipe_.segments[pipe_.transfers[t].to].stage != stage_)
      continue;
    for (int m = 0; m < microbatches_; ++m) {
      receivedOffset_[size_t(t) * microbatches_ + size_t(m)] = total;
      total += alignUp(pipe_.transfers[t].bytes);
      received += pipe_.transfers[t].bytes;
    }
  }
  if (total == 0)
    return;
  memory_ = onDevice() ? static_cast<char *>(pipe_.allocBuffer(total))
                       : static_cast<char *>(std::aligned_alloc(kAlign, total));
  if (!memory_)
    throw Error(kExitError,
                format("stage %d cannot allocate %llu bytes (%.2f GiB) of %s memory for its "
                       "pipeline buffers: a copy of the activations (%llu bytes) and statistics "
                       "(%llu bytes) per micro-batch in flight (%d of %d), and %llu bytes "
                       "received from other stages", stage_, (unsigned long long)total,
                       double(total) / (1 << 30), onDevice() ? "device" : "host",
                       (unsigned long long)pipe_.activationBytes,
                       (unsigned long long)pipe_.statsBytes, slots, microbatches_,
                       (unsigned long long)received));
  if (!onDevice())
    std::memset(memory_, 0, total);
}

PipelineRunner::~PipelineRunner() {
  if (!memory_)
    return;
  if (onDevice())
    pipe_.freeBuffer(memory_);
  else
    std::free(memory_);
}

void PipelineRunner::copy(void *dst, const void *src, uint64_t bytes) {
  if (bytes == 0)
    return;
  if (onDevice())
    pipe_.copyBuffer(dst, src, bytes);
  else
    std::memcpy(dst, src, bytes);
}

void PipelineRunner::addGradient(char *dst, const char *src, uint64_t bytes) {
  if (onDevice())
    pipe_.addBuffer(reinterpret_cast<float *>(dst), reinterpret_cast<const float *>(src),
                    bytes / 4);
  else if (model_.params[0].grad.dtype == DType::f64)
    addInto(reinterpret_cast<double *>(dst), src, bytes / 8);
  else
    addInto(reinterpret_cast<float *>(dst), src, bytes / 4);
}

void PipelineRunner::waitForDevice() {
  if (onDevice())
    pipe_.synchronize();
}

void PipelineRunner::step(char *arena, const std::vector<std::vector<int32_t>> &tokens,
                          const std::vector<std::vector<int32_t>> &targets,
                          std::vector<double> &losses) {
  std::fill(losses.begin(), losses.end(), 0.0);
  for (const Event &e : events_) {
    const PipelineSegment &seg = pipe_.segments[e.segment];
    if (e.transfer < 0) {
      if (seg.stage == stage_)
        run(arena, e.segment, e.microbatch, tokens, targets, losses);
      continue;
    }
    const PipelineTransfer &t = pipe_.transfers[e.transfer];
    const int to = pipe_.segments[t.to].stage;
    const int tag = e.transfer * microbatches_ + e.microbatch;
    if (seg.stage == stage_) {
      waitForDevice(); // the kernels that make the value
      comm_.send(arena + t.offset, t.bytes, rankOf(to), tag,
                 format("send of %s, micro-batch %d, to stage %d", t.what, e.microbatch, to));
    } else if (to == stage_) {
      waitForDevice(); // a copy out of the buffer may still be queued from the last step
      comm_.recv(received(e.transfer, e.microbatch), t.bytes, rankOf(seg.stage), tag,
                 format("receive of %s, micro-batch %d, from stage %d", t.what, e.microbatch,
                        seg.stage));
    }
  }
  // A tied gradient's part stays with the stage that adds the whole: elsewhere it is zero, so
  // that the sum over the stages (reduceGradients) is that whole, exactly.
  for (int t = 0; t < pipe_.numTransfers; ++t) {
    const PipelineTransfer &x = pipe_.transfers[t];
    if (x.tiedGradient && pipe_.segments[x.from].stage == stage_)
      zeroArena(model_, arena, x.offset, x.bytes);
  }
  waitForDevice(); // the gradient sum that follows reads them on Comm's stream
}

void PipelineRunner::run(char *arena, int k, int m,
                         const std::vector<std::vector<int32_t>> &tokens,
                         const std::vector<std::vector<int32_t>> &targets,
                         std::vector<double> &losses) {
  const PipelineSegment &seg = pipe_.segments[k];
  writeArena(model_, arena, model_.tokens.offset, tokens[m].data(), model_.tokens.bytes);
  writeArena(model_, arena, model_.targets.offset, targets[m].data(), model_.targets.bytes);
  // The micro-batch's regions as its previous segment on this stage left them (a stage runs
  // several of a micro-batch's segments with others' in between: its backward after its
  // forward; with chunks > 1, its later chunks' forwards too).
  copy(arena + pipe_.activationOffset, keptActivations(m), pipe_.activationBytes);
  copy(arena + pipe_.statsOffset, keptStats(m), pipe_.statsBytes);
  for (int t = 0; t < pipe_.numTransfers; ++t) {
    const PipelineTransfer &x = pipe_.transfers[t];
    if (x.from == k && x.tiedGradient)
      zeroArena(model_, arena, x.offset, x.bytes); // this segment's part alone
    if (x.to != k)
      continue;
    if (!x.tiedGradient)
      copy(arena + x.offset, received(t, m), x.bytes);
    else
      addGradient(arena + x.offset, received(t, m), x.bytes);
  }
  seg.run(arena);
  if (!seg.backward && seg.chunk == lastChunk_)
    losses[size_t(m)] = readLoss(model_, arena);
  copy(keptActivations(m), arena + pipe_.activationOffset, pipe_.activationBytes);
  copy(keptStats(m), arena + pipe_.statsOffset, pipe_.statsBytes);
}

} // namespace ingot::rt
