//===- PipelineTest.cpp - The pipeline runner, in one process --------------===//
//
// Two pipeline stages of a hand-written model, each rank a thread with its own arena, joined by
// an in-process Comm. With the arena on a fake device (the cuda target's case): the runner
// reaches the arena and its own buffers only through the hooks (the pointers it holds are
// decoys full of a poison pattern), and the fake device queues every kernel, copy, addition and
// zeroing until synchronize() or a read back, as a CUDA stream would, while the Comm reads and
// writes memory at once, as NCCL on its own stream does: a missing wait before a transfer sends
// stale bytes. Either way, the stages' losses and gradients must be the one-rank run's, bit for
// bit, under GPipe and 1F1B (1F1B lets the last stage reuse one copy of the regions for both
// micro-batches). checkModelDesc's checks of the pipeline tables are here too.
//
//===----------------------------------------------------------------------===//
#include "ingot/rt/Comm.h"
#include "ingot/rt/Model.h"
#include "src/ModelUtil.h"
#include "src/Pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

using namespace ingot::rt;

namespace {

constexpr int kTokens = 16, kVocab = 16, kMicro = 2;
// The arena (every tensor at a multiple of 256): three scalar parameters w0 (stage 0), w1
// (stage 1) and s (both: tied), their gradients and moments, the inputs and loss, then the
// activation region and the statistics region.
constexpr uint64_t kW0 = 0, kW1 = 256, kS = 512, kGradW0 = 768, kGradW1 = 1024, kGradS = 1280,
                   kMoments = 1536, kTok = 3072, kTgt = 3328, kLoss = 3584, kH = 3840,
                   kR = 4096, kDH = 4352, kStats = 4608, kArena = 4864;

float *at(char *arena, uint64_t offset) { return reinterpret_cast<float *>(arena + offset); }
float x(char *a, int i) { return float(reinterpret_cast<int32_t *>(a + kTok)[i]) / kVocab; }
float y(char *a, int i) { return float(reinterpret_cast<int32_t *>(a + kTgt)[i]) / kVocab; }

// The one-rank step, cut in four segments: h = w0 x + s (stage 0); p = w1 h + s, r = p - y,
// loss = mean r^2, and the statistic mean(2r) kept for the backward (stage 1); its backward:
// w1's and s's gradients and dh (stage 1); w0's and s's gradients from dh (stage 0).
void forward0(char *a) {
  for (int i = 0; i < kTokens; ++i)
    at(a, kH)[i] = *at(a, kW0) * x(a, i) + *at(a, kS);
}
void forward1(char *a) {
  float loss = 0, stat = 0;
  for (int i = 0; i < kTokens; ++i) {
    float r = *at(a, kW1) * at(a, kH)[i] + *at(a, kS) - y(a, i);
    at(a, kR)[i] = r;
    loss += r * r / kTokens;
    stat += 2 * r / kTokens;
  }
  *at(a, kLoss) = loss;
  *at(a, kStats) = stat;
}
void backward1(char *a) {
  for (int i = 0; i < kTokens; ++i) {
    *at(a, kGradW1) += 2 * at(a, kR)[i] * at(a, kH)[i] / kTokens / kMicro;
    at(a, kDH)[i] = 2 * at(a, kR)[i] * *at(a, kW1) / kTokens / kMicro;
  }
  *at(a, kGradS) += *at(a, kStats) / kMicro;
}
void backward0(char *a) {
  for (int i = 0; i < kTokens; ++i) {
    *at(a, kGradW0) += at(a, kDH)[i] * x(a, i);
    *at(a, kGradS) += at(a, kDH)[i];
  }
}

//===----------------------------------------------------------------------===//
// The fake device: a stream per rank (thread).
//===----------------------------------------------------------------------===//

constexpr unsigned char kPoison = 0xA5;

struct FakeDevice {
  struct Block {
    std::vector<char> real, decoy;
  };
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<std::function<void()>> stream;
  bool badPointer = false;
  int syncs = 0;

  char *alloc(uint64_t bytes) {
    blocks.push_back(std::make_unique<Block>());
    blocks.back()->real.assign(bytes, 0);
    blocks.back()->decoy.assign(bytes, char(kPoison));
    return blocks.back()->decoy.data();
  }
  /// The real address behind a decoy address.
  char *real(const void *p) {
    const char *c = static_cast<const char *>(p);
    for (auto &b : blocks)
      if (c >= b->decoy.data() && c <= b->decoy.data() + b->decoy.size())
        return b->real.data() + (c - b->decoy.data());
    badPointer = true;
    static char sink[1 << 16];
    return sink;
  }
  void drain() {
    for (auto &op : stream)
      op();
    stream.clear();
  }
  bool decoysUntouched() const {
    for (auto &b : blocks)
      for (char c : b->decoy)
        if (static_cast<unsigned char>(c) != kPoison)
          return false;
    return true;
  }
};
thread_local FakeDevice *device = nullptr;

void *allocArena(uint64_t bytes) { return device->alloc(bytes); }
void freeArena(void *) {}
void copyToArena(void *arena, uint64_t offset, const void *src, uint64_t bytes) {
  std::vector<char> bytesNow(static_cast<const char *>(src), static_cast<const char *>(src) + bytes);
  char *dst = device->real(static_cast<char *>(arena) + offset);
  device->stream.push_back([dst, bytesNow] { std::memcpy(dst, bytesNow.data(), bytesNow.size()); });
}
void copyFromArena(void *dst, const void *arena, uint64_t offset, uint64_t bytes) {
  device->drain(); // cudaMemcpy to the host waits for the stream
  std::memcpy(dst, device->real(static_cast<const char *>(arena) + offset), bytes);
}
void zeroArena(void *arena, uint64_t offset, uint64_t bytes) {
  char *dst = device->real(static_cast<char *>(arena) + offset);
  device->stream.push_back([dst, bytes] { std::memset(dst, 0, bytes); });
}
void *allocBuffer(uint64_t bytes) { return device->alloc(bytes); }
void freeBuffer(void *) {}
void copyBuffer(void *dst, const void *src, uint64_t bytes) {
  char *d = device->real(dst), *s = device->real(src);
  device->stream.push_back([d, s, bytes] { std::memmove(d, s, bytes); });
}
void addBuffer(float *dst, const float *src, uint64_t count) {
  float *d = reinterpret_cast<float *>(device->real(dst));
  const float *s = reinterpret_cast<const float *>(device->real(src));
  device->stream.push_back([d, s, count] {
    for (uint64_t i = 0; i < count; ++i)
      d[i] += s[i];
  });
}
void synchronize() {
  ++device->syncs;
  device->drain();
}
/// A segment on the fake device: queued, on the real arena.
template <void (*Body)(char *)> void onDevice(char *arena) {
  char *a = device->real(arena);
  device->stream.push_back([a] { Body(a); });
}

//===----------------------------------------------------------------------===//
// Two ranks in one process.
//===----------------------------------------------------------------------===//

struct Mailbox {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::pair<int, int>, std::deque<std::vector<char>>> queues; // (from, to)
};

/// send/recv between threads; each side's pointers are the arena's (device or host memory),
/// read and written at once, as NCCL on its own stream would.
class ThreadComm final : public Comm {
public:
  ThreadComm(int rank, Mailbox &box) : Comm(rank, 2), box_(box) {}
  const char *backend() const override { return "threads"; }
  void send(const void *data, size_t bytes, int peer, int, const std::string &) override {
    const char *p = device ? device->real(data) : static_cast<const char *>(data);
    std::lock_guard<std::mutex> lock(box_.mutex);
    box_.queues[{rank_, peer}].emplace_back(p, p + bytes);
    box_.changed.notify_all();
  }
  void recv(void *data, size_t bytes, int peer, int, const std::string &what) override {
    std::unique_lock<std::mutex> lock(box_.mutex);
    auto &q = box_.queues[{peer, rank_}];
    if (!box_.changed.wait_for(lock, std::chrono::seconds(20), [&] { return !q.empty(); }))
      fail(what, "nothing arrived");
    if (q.front().size() != bytes)
      fail(what, "a message of another size arrived");
    char *p = device ? device->real(data) : static_cast<char *>(data);
    std::memcpy(p, q.front().data(), bytes);
    q.pop_front();
  }
  void allReduceSum(float *, size_t, const Group &, const std::string &w) override { no(w); }
  void allReduceSum(double *, size_t, const Group &, const std::string &w) override { no(w); }
  void broadcast(void *, size_t, int, const Group &, const std::string &w) override { no(w); }
  void barrier(const Group &, const std::string &w) override { no(w); }
  bool anyTrue(bool, const Group &, const std::string &w) override { no(w); }
  [[noreturn]] void abortJob(int) override { std::abort(); }

protected:
  void createGroup(Group &, const std::string &) override {}

private:
  [[noreturn]] void no(const std::string &what) { fail(what, "not in this test"); }
  Mailbox &box_;
};

ParamDesc scalarParam(const char *name, uint64_t value, uint64_t grad, uint64_t moments) {
  ParamDesc p;
  std::memset(&p, 0, sizeof(p));
  auto tensor = [](const char *n, uint64_t offset) {
    TensorDesc t;
    std::memset(&t, 0, sizeof(t));
    t.name = n;
    t.dtype = DType::f32;
    t.rank = 1;
    t.shape[0] = 1;
    t.offset = offset;
    t.bytes = 4;
    return t;
  };
  p.value = tensor(name, value);
  p.grad = tensor(name, grad);
  p.m = tensor(name, moments);
  p.v = tensor(name, moments + 256);
  p.init = {"zeros", {0, 0}};
  return p;
}

/// The model with its two-stage pipeline; `schedule` "gpipe" or "1f1b", `device` whether the
/// arena is on the fake device.
struct TwoStageModel {
  ParamDesc params[3];
  ModelDesc desc;
  PipelineSegment segments[4];
  PipelineTransfer transfers[3];
  PipelineStep steps[8];
  int32_t programBegin[3] = {0, 4, 8};
  PipelineDesc pipe;

  TwoStageModel(const char *schedule, bool device) {
    params[0] = scalarParam("w0", kW0, kGradW0, kMoments);
    params[1] = scalarParam("w1", kW1, kGradW1, kMoments + 512);
    params[2] = scalarParam("s", kS, kGradS, kMoments + 1024);
    std::memset(&desc, 0, sizeof(desc));
    desc.name = "two-stage";
    desc.target = device ? "cuda" : "host";
    desc.manifestJson = "{}";
    desc.microBatch = 2;
    desc.seqLen = kTokens / 2;
    desc.vocab = kVocab;
    desc.microbatches = kMicro;
    desc.computeType = DType::f32;
    desc.numParams = 3;
    desc.params = params;
    desc.arenaBytes = kArena;
    desc.gradsOffset = kGradW0;
    desc.gradsBytes = kMoments - kGradW0;
    auto input = [](const char *name, DType dtype, int rank, uint64_t offset) {
      TensorDesc t;
      std::memset(&t, 0, sizeof(t));
      t.name = name;
      t.dtype = dtype;
      t.rank = rank;
      t.shape[0] = 2;
      t.shape[1] = kTokens / 2;
      t.offset = offset;
      t.bytes = rank ? 4 * kTokens : 4;
      return t;
    };
    desc.tokens = input("tokens", DType::i32, 2, kTok);
    desc.targets = input("targets", DType::i32, 2, kTgt);
    desc.loss = input("loss", DType::f32, 0, kLoss);
    desc.forwardBackward = forward0; // not called with stages
    desc.forward = forward0;
    desc.optimizerStep = [](char *, StepScalars *) {};
    if (device) {
      desc.allocArena = allocArena;
      desc.freeArena = freeArena;
      desc.copyToArena = copyToArena;
      desc.copyFromArena = copyFromArena;
      desc.zeroArena = zeroArena;
    }
    desc.stages = 2;
    desc.dataParallel = 1;
    if (device) {
      segments[0] = {0, 0, 0, onDevice<forward0>, "chunk0_forward"};
      segments[1] = {1, 1, 0, onDevice<forward1>, "chunk1_forward"};
      segments[2] = {1, 1, 1, onDevice<backward1>, "chunk1_backward"};
      segments[3] = {0, 0, 1, onDevice<backward0>, "chunk0_backward"};
    } else {
      segments[0] = {0, 0, 0, forward0, "chunk0_forward"};
      segments[1] = {1, 1, 0, forward1, "chunk1_forward"};
      segments[2] = {1, 1, 1, backward1, "chunk1_backward"};
      segments[3] = {0, 0, 1, backward0, "chunk0_backward"};
    }
    transfers[0] = {0, 1, kH, 4 * kTokens, 0, "h"};
    transfers[1] = {2, 3, kDH, 4 * kTokens, 0, "dh"};
    transfers[2] = {2, 3, kGradS, 4, 1, "s's gradient part"};
    const bool gpipe = std::strcmp(schedule, "gpipe") == 0;
    // Stage 0: F0 F1 B0 B1 either way; stage 1: F0 F1 B0 B1 (GPipe) or F0 B0 F1 B1 (1F1B).
    PipelineStep stage0[4] = {{0, 0}, {0, 1}, {3, 0}, {3, 1}};
    PipelineStep stage1g[4] = {{1, 0}, {1, 1}, {2, 0}, {2, 1}};
    PipelineStep stage1f[4] = {{1, 0}, {2, 0}, {1, 1}, {2, 1}};
    for (int i = 0; i < 4; ++i) {
      steps[i] = stage0[i];
      steps[4 + i] = gpipe ? stage1g[i] : stage1f[i];
    }
    std::memset(&pipe, 0, sizeof(pipe));
    pipe.schedule = schedule;
    pipe.numSegments = 4;
    pipe.segments = segments;
    pipe.numTransfers = 3;
    pipe.transfers = transfers;
    pipe.programBegin = programBegin;
    pipe.steps = steps;
    pipe.activationOffset = kH;
    pipe.activationBytes = kStats - kH;
    pipe.statsOffset = kStats;
    pipe.statsBytes = 256;
    if (device) {
      pipe.allocBuffer = allocBuffer;
      pipe.freeBuffer = freeBuffer;
      pipe.copyBuffer = copyBuffer;
      pipe.addBuffer = addBuffer;
      pipe.synchronize = synchronize;
    }
    desc.pipeline = &pipe;
  }
  TwoStageModel(const TwoStageModel &) = delete;
};

/// The parameters and micro-batches every run starts from.
void fill(char *arena, std::vector<std::vector<int32_t>> &tokens,
          std::vector<std::vector<int32_t>> &targets) {
  *at(arena, kW0) = 0.75f;
  *at(arena, kW1) = -1.25f;
  *at(arena, kS) = 0.125f;
  tokens.assign(kMicro, std::vector<int32_t>(kTokens));
  targets = tokens;
  for (int m = 0; m < kMicro; ++m)
    for (int i = 0; i < kTokens; ++i) {
      tokens[m][i] = (i * i + 5 * m) % kVocab; // micro-batches of different means
      targets[m][i] = (3 * i + 7 * m * i + 2) % kVocab;
    }
}

struct Result {
  std::vector<double> losses;
  float gradW0 = 0, gradW1 = 0, gradS = 0;
};

/// The one-rank step: every micro-batch's four segments in order on one host arena.
Result oneRank() {
  std::vector<char> arena(kArena, 0);
  std::vector<std::vector<int32_t>> tokens, targets;
  fill(arena.data(), tokens, targets);
  Result r;
  for (int m = 0; m < kMicro; ++m) {
    std::memcpy(arena.data() + kTok, tokens[m].data(), 4 * kTokens);
    std::memcpy(arena.data() + kTgt, targets[m].data(), 4 * kTokens);
    for (auto fn : {forward0, forward1, backward1, backward0})
      fn(arena.data());
    r.losses.push_back(*at(arena.data(), kLoss));
  }
  r.gradW0 = *at(arena.data(), kGradW0);
  r.gradW1 = *at(arena.data(), kGradW1);
  r.gradS = *at(arena.data(), kGradS);
  return r;
}

/// Both stages, each in its thread, then the gradient sum over the stages (rank order).
Result twoStages(const TwoStageModel &model, bool onFakeDevice, bool *untouched, int *syncs) {
  Mailbox box;
  Result perRank[2];
  std::string errors[2];
  bool clean[2] = {true, true};
  int synced[2] = {0, 0};
  auto rank = [&](int r) {
    FakeDevice fake;
    device = onFakeDevice ? &fake : nullptr;
    try {
      ThreadComm comm(r, box);
      std::vector<char> host(kArena, 0);
      char *arena = onFakeDevice ? static_cast<char *>(allocArena(kArena)) : host.data();
      std::vector<std::vector<int32_t>> tokens, targets;
      std::vector<char> start(kArena, 0);
      fill(start.data(), tokens, targets);
      writeArena(model.desc, arena, 0, start.data(), kArena);
      PipelineRunner runner(model.desc, comm, r, 0, 1);
      perRank[r].losses.assign(kMicro, -1);
      runner.step(arena, tokens, targets, perRank[r].losses);
      readArena(model.desc, arena, kGradW0, &perRank[r].gradW0, 4);
      readArena(model.desc, arena, kGradW1, &perRank[r].gradW1, 4);
      readArena(model.desc, arena, kGradS, &perRank[r].gradS, 4);
      clean[r] = !fake.badPointer && fake.decoysUntouched();
      synced[r] = fake.syncs;
    } catch (const std::exception &e) {
      errors[r] = e.what();
    }
    device = nullptr;
  };
  std::thread t0(rank, 0), t1(rank, 1);
  t0.join();
  t1.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  *untouched = clean[0] && clean[1];
  *syncs = synced[0] + synced[1];
  Result sum;
  for (int m = 0; m < kMicro; ++m) {
    EXPECT_EQ(perRank[0].losses[m], 0.0) << "stage 0 has no loss";
    sum.losses.push_back(perRank[0].losses[m] + perRank[1].losses[m]);
  }
  sum.gradW0 = perRank[0].gradW0 + perRank[1].gradW0;
  sum.gradW1 = perRank[0].gradW1 + perRank[1].gradW1;
  sum.gradS = perRank[0].gradS + perRank[1].gradS;
  EXPECT_EQ(perRank[1].gradS, 0.0f) << "the tied gradient's part stays with stage 0";
  return sum;
}

void expectSameBits(const Result &a, const Result &b) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t m = 0; m < a.losses.size(); ++m)
    EXPECT_EQ(std::memcmp(&a.losses[m], &b.losses[m], sizeof(double)), 0)
        << "micro-batch " << m << ": " << a.losses[m] << " vs " << b.losses[m];
  EXPECT_EQ(std::memcmp(&a.gradW0, &b.gradW0, 4), 0) << a.gradW0 << " vs " << b.gradW0;
  EXPECT_EQ(std::memcmp(&a.gradW1, &b.gradW1, 4), 0) << a.gradW1 << " vs " << b.gradW1;
  EXPECT_EQ(std::memcmp(&a.gradS, &b.gradS, 4), 0) << a.gradS << " vs " << b.gradS;
}

TEST(Pipeline, HostStagesReproduceOneRank) {
  Result want = oneRank();
  ASSERT_NE(want.gradS, 0.0f);
  for (const char *schedule : {"gpipe", "1f1b"}) {
    SCOPED_TRACE(schedule);
    TwoStageModel model(schedule, /*device=*/false);
    ASSERT_EQ(checkModelDesc(model.desc), "");
    bool untouched = false;
    int syncs = 0;
    expectSameBits(twoStages(model, false, &untouched, &syncs), want);
  }
}

TEST(Pipeline, DeviceStagesReproduceOneRankThroughTheHooks) {
  Result want = oneRank();
  for (const char *schedule : {"gpipe", "1f1b"}) {
    SCOPED_TRACE(schedule);
    TwoStageModel model(schedule, /*device=*/true);
    ASSERT_EQ(checkModelDesc(model.desc), "");
    bool untouched = false;
    int syncs = 0;
    expectSameBits(twoStages(model, true, &untouched, &syncs), want);
    EXPECT_TRUE(untouched) << "the runner touched device memory directly";
    // One wait per transfer on each side (3 transfers x 2 micro-batches) and one per stage at
    // the end of the step.
    EXPECT_EQ(syncs, 2 * 3 * kMicro + 2);
  }
}

TEST(Pipeline, TheStatisticsRegionIsKeptPerMicroBatch) {
  // Without the statistics region in the tables, GPipe's second forward overwrites the first
  // micro-batch's statistic before its backward: s's gradient differs from one rank's.
  TwoStageModel model("gpipe", /*device=*/true);
  model.pipe.statsBytes = 0;
  bool untouched = false;
  int syncs = 0;
  Result got = twoStages(model, true, &untouched, &syncs);
  EXPECT_NE(got.gradS, oneRank().gradS);
}

TEST(Pipeline, InconsistentTablesAreReported) {
  auto check = [](const std::function<void(TwoStageModel &)> &mutate) {
    TwoStageModel model("1f1b", /*device=*/true);
    mutate(model);
    return checkModelDesc(model.desc);
  };
  EXPECT_EQ(check([](TwoStageModel &) {}), "");
  EXPECT_EQ(check([](TwoStageModel &m) { m.transfers[0].offset = kArena - 8; }),
            "pipeline transfer 0 (h) [4856, 4920) lies outside the arena of 4864 bytes");
  EXPECT_EQ(check([](TwoStageModel &m) { m.transfers[0].to = 3; }),
            "pipeline transfer 0 (h) stays on stage 0");
  EXPECT_EQ(check([](TwoStageModel &m) { m.transfers[2].offset = kH; }),
            "pipeline transfer 2 (s's gradient part) [3840, 3844) is not f32 gradients inside "
            "the gradient region");
  EXPECT_EQ(check([](TwoStageModel &m) { m.segments[2].stage = 0; }),
            "pipeline segment 2 (chunk1_backward): chunk 1, stage 0, phase 1; chunk c runs on "
            "stage c mod 2, phases are 0..3");
  EXPECT_EQ(check([](TwoStageModel &m) { m.steps[3] = {3, 0}; }),
            "the stage programs run chunk0_backward on micro-batch 0 2 times (once expected)");
  EXPECT_EQ(check([](TwoStageModel &m) { m.steps[4] = {0, 0}; }),
            "stage 1's program runs chunk0_forward, a segment of stage 0");
  EXPECT_EQ(check([](TwoStageModel &m) { m.pipe.statsBytes = kArena; }),
            "the pipeline's activation region [3840, 4608) or statistics region [4608, 9472) "
            "lies outside the arena of 4864 bytes");
  EXPECT_EQ(check([](TwoStageModel &m) { m.pipe.synchronize = nullptr; }),
            "the pipeline's buffer hooks (allocBuffer, freeBuffer, copyBuffer, addBuffer, "
            "synchronize) must be all set or all null");
  EXPECT_EQ(check([](TwoStageModel &m) {
              m.pipe.allocBuffer = nullptr;
              m.pipe.freeBuffer = nullptr;
              m.pipe.copyBuffer = nullptr;
              m.pipe.addBuffer = nullptr;
              m.pipe.synchronize = nullptr;
            }),
            "the pipeline's buffer hooks are null but the arena is device memory");
}

} // namespace
