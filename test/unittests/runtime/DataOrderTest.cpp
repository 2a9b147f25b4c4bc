//===- DataOrderTest.cpp - Shuffling, end of data, exact resume of the loader ===//
//
// The loader alone (which rows each batch holds, per seed and epoch, and from any saved
// position), then the training loop around it with the hand-written LinearModel: resume with
// shuffling across an epoch boundary, --end-of-data=stop, the checks on resume, the skipped-step
// count in checkpoints and the cleanup of what crashed saves leave.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "checkpoint_generated.h"
#include "src/Checkpoint.h"
#include "src/DataLoader.h"
#include "src/Error.h"
#include "src/Trainer.h"

#include <algorithm>
#include <map>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ingot::rt;
using namespace ingot::rt::test;
namespace ckpt = ingot::ckpt;

namespace {

constexpr int64_t B = 2, T = 4; // loader tests: rows of 4+1 tokens, 2 per batch

// Token i of file f is f * 1000 + i, so a row names its file and start.
std::string writeNumberedShards(const std::string &dir, const std::vector<int64_t> &sizes) {
  for (size_t f = 0; f < sizes.size(); ++f) {
    std::vector<uint32_t> tokens;
    for (int64_t i = 0; i < sizes[f]; ++i)
      tokens.push_back(uint32_t(f * 1000 + i));
    writeShard(dir + format("/train_%03zu.bin", f), tokens);
  }
  return dir + "/train_*.bin";
}

struct Batch {
  std::vector<int32_t> x, y;
  bool operator==(const Batch &o) const { return x == o.x && y == o.y; }
};

std::vector<Batch> readBatches(DataLoader &loader, int n) {
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i) {
    Batch b{std::vector<int32_t>(B * T), std::vector<int32_t>(B * T)};
    loader.next(b.x.data(), b.y.data());
    out.push_back(b);
  }
  return out;
}

// The sizes give (N - 1) / T rows and floor(rows / B) batches: 23 tokens -> 5 rows -> 2 batches
// (one row sits out), 41 -> 10 -> 5, 17 -> 4 -> 2: 9 batches per epoch.
const std::vector<int64_t> kSizes = {23, 41, 17};
constexpr int kBatchesPerEpoch = 9;

TEST(DataOrder, SameSeedSameBatchesDifferentSeedsDiffer) {
  std::string dir = makeTempDir();
  std::string pattern = writeNumberedShards(dir, kSizes);
  DataLoader a(pattern, "--data", B, T, 1 << 20, DataOrder{true, 7});
  DataLoader b(pattern, "--data", B, T, 1 << 20, DataOrder{true, 7});
  DataLoader c(pattern, "--data", B, T, 1 << 20, DataOrder{true, 8});
  DataLoader plain(pattern, "--data", B, T, 1 << 20);
  EXPECT_EQ(a.batchesPerEpoch(), kBatchesPerEpoch);
  std::vector<Batch> ba = readBatches(a, 3 * kBatchesPerEpoch);
  EXPECT_EQ(ba, readBatches(b, 3 * kBatchesPerEpoch));
  EXPECT_NE(ba, readBatches(c, 3 * kBatchesPerEpoch));
  EXPECT_NE(ba, readBatches(plain, 3 * kBatchesPerEpoch));
  EXPECT_EQ(a.position().epoch, 3);
}

TEST(DataOrder, AnEpochReadsEachRowAtMostOnceIntactAndReshuffles) {
  std::string dir = makeTempDir();
  std::string pattern = writeNumberedShards(dir, kSizes);
  DataLoader loader(pattern, "--data", B, T, 1 << 20, DataOrder{true, 1234});
  std::vector<std::vector<int32_t>> rowStartsByEpoch;
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int32_t> starts;
    std::set<int32_t> seen;
    std::map<int32_t, int> perFile;
    for (const Batch &b : readBatches(loader, kBatchesPerEpoch)) {
      for (int64_t r = 0; r < B; ++r) {
        int32_t start = b.x[size_t(r * T)];
        // Inside a row nothing moves: consecutive tokens, targets shifted by one.
        for (int64_t i = 0; i < T; ++i) {
          EXPECT_EQ(b.x[size_t(r * T + i)], start + i);
          EXPECT_EQ(b.y[size_t(r * T + i)], start + i + 1);
        }
        EXPECT_EQ(start % 1000 % T, 0) << "rows start at multiples of T";
        EXPECT_TRUE(seen.insert(start).second) << "row " << start << " read twice in an epoch";
        ++perFile[start / 1000];
        starts.push_back(start);
      }
      // A batch never mixes shards.
      EXPECT_EQ(b.x.front() / 1000, b.x.back() / 1000);
    }
    // Every shard gives floor(rows / B) * B of its rows.
    EXPECT_EQ(perFile[0], 4);
    EXPECT_EQ(perFile[1], 10);
    EXPECT_EQ(perFile[2], 4);
    rowStartsByEpoch.push_back(starts);
  }
  EXPECT_NE(rowStartsByEpoch[0], rowStartsByEpoch[1]);
  EXPECT_NE(rowStartsByEpoch[1], rowStartsByEpoch[2]);
  // Within one shard too, each epoch has its own row order.
  auto rowsOfFile = [&](int epoch, int32_t file) {
    std::vector<int32_t> rows;
    for (int32_t start : rowStartsByEpoch[size_t(epoch)])
      if (start / 1000 == file)
        rows.push_back(start);
    return rows;
  };
  EXPECT_NE(rowsOfFile(0, 1), rowsOfFile(1, 1));
  EXPECT_NE(rowsOfFile(1, 1), rowsOfFile(2, 1));
  // The shards themselves are permuted too: some epoch of a few does not start with file 0.
  bool shardOrderMoved = false;
  for (int64_t e = 0; e < 8; ++e)
    shardOrderMoved |= loader.shardOrder(e) != std::vector<int64_t>{0, 1, 2};
  EXPECT_TRUE(shardOrderMoved);
}

TEST(DataOrder, UnshuffledIsLlmcOrder) {
  std::string dir = makeTempDir();
  std::string pattern = writeNumberedShards(dir, kSizes);
  DataLoader loader(pattern, "--data", B, T, 1 << 20);
  std::vector<int32_t> firsts;
  for (const Batch &b : readBatches(loader, kBatchesPerEpoch + 1))
    firsts.push_back(b.x[0]);
  EXPECT_EQ(firsts, (std::vector<int32_t>{0, 8, 1000, 1008, 1016, 1024, 1032, 2000, 2008, 0}));
  EXPECT_EQ(loader.shardOrder(5), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(loader.rowOrder(5, 1).empty());
}

// The permutations are part of the checkpoint format: a resumed run recomputes them, so they
// must never change for a given seed. These values pin the generator and the shuffle.
TEST(DataOrder, PermutationsArePinned) {
  std::string dir = makeTempDir();
  std::string pattern = writeNumberedShards(dir, {41, 41, 41, 41, 41});
  DataLoader loader(pattern, "--data", B, T, 1 << 20, DataOrder{true, 1234});
  EXPECT_EQ(loader.shardOrder(0), (std::vector<int64_t>{0, 3, 4, 1, 2}));
  EXPECT_EQ(loader.shardOrder(1), (std::vector<int64_t>{0, 4, 1, 2, 3}));
  EXPECT_EQ(loader.rowOrder(0, 3), (std::vector<int64_t>{1, 5, 6, 0, 2, 7, 8, 3, 9, 4}));
}

TEST(DataOrder, AnySavedPositionContinuesIdentically) {
  std::string dir = makeTempDir();
  std::string pattern = writeNumberedShards(dir, kSizes);
  for (bool shuffle : {false, true}) {
    DataLoader reference(pattern, "--data", B, T, 1 << 20, DataOrder{shuffle, 99});
    std::vector<DataPosition> positions;
    std::vector<int64_t> left;
    std::vector<Batch> batches;
    for (int i = 0; i < 2 * kBatchesPerEpoch + 3; ++i) {
      positions.push_back(reference.position());
      left.push_back(reference.batchesLeftInEpoch());
      std::vector<Batch> one = readBatches(reference, 1);
      batches.push_back(one[0]);
    }
    for (size_t i = 0; i < positions.size(); ++i) {
      // The count of batches left runs down to 1 and starts again at each epoch.
      EXPECT_EQ(left[i], kBatchesPerEpoch - int64_t(i) % kBatchesPerEpoch) << i;
      DataLoader resumed(pattern, "--data", B, T, 1 << 20, DataOrder{shuffle, 5});
      resumed.setOrder(DataOrder{shuffle, 99});
      resumed.setPosition(positions[i]);
      std::vector<Batch> rest = readBatches(resumed, int(batches.size() - i));
      EXPECT_TRUE(std::equal(rest.begin(), rest.end(), batches.begin() + long(i)))
          << "shuffle " << shuffle << ", resumed before batch " << i;
    }
  }
}

TEST(DataOrder, PositionsThatDoNotFitAreRefused) {
  std::string dir = makeTempDir();
  std::string pattern = writeNumberedShards(dir, kSizes);
  DataLoader loader(pattern, "--data", B, T, 1 << 20, DataOrder{true, 3});
  // File 0 has 2 batches: offset 16 (batch 2) is past its end; 4 is not a batch start.
  for (DataPosition bad : {DataPosition{3, 0, 0}, DataPosition{0, 4, 0}, DataPosition{-1, 0, 0},
                           DataPosition{0, 0, -1}}) {
    EXPECT_THROW(loader.setPosition(bad), DataError) << bad.shard << " " << bad.offset;
  }
  int64_t slotOfFile0 = 0;
  std::vector<int64_t> order = loader.shardOrder(0);
  while (order[size_t(slotOfFile0)] != 0)
    ++slotOfFile0;
  EXPECT_THROW(loader.setPosition(DataPosition{slotOfFile0, 16, 0}), DataError);
  EXPECT_NO_THROW(loader.setPosition(DataPosition{slotOfFile0, 8, 0}));
}

//===----------------------------------------------------------------------===//
// The training loop.
//===----------------------------------------------------------------------===//

// LinearModel reads B = 2 rows of T = 8 (16 tokens a batch) and 2 micro-batches a step.
// (150-1)/8 = 18 rows -> 9 batches, (90-1)/8 = 11 -> 5, (200-1)/8 = 24 -> 12: 26 batches per
// epoch, 13 steps.
std::string writeData(const std::string &dir) {
  writeShard(dir + "/train_000.bin", patternTokens(150, 0, 1));
  writeShard(dir + "/train_001.bin", patternTokens(90, 5, 2));
  writeShard(dir + "/train_002.bin", patternTokens(200, 11, 3));
  return dir + "/train_*.bin";
}
constexpr int kStepsPerEpoch = 13;

std::vector<std::string> jsonField(const std::string &path, const std::string &field) {
  std::vector<std::string> out;
  std::stringstream lines(readFile(path));
  std::string line;
  const std::string key = "\"" + field + "\":";
  while (std::getline(lines, line)) {
    size_t at = line.find(key);
    size_t end = at == std::string::npos ? at : line.find_first_of(",}", at);
    out.push_back(at == std::string::npos ? "" : line.substr(at + key.size(), end - at - key.size()));
  }
  return out;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(DataOrderTraining, ShuffledResumeIsBitIdenticalMidEpochAndAcrossTheBoundary) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::vector<std::string> common = {"--data", writeData(dir), "--steps", "30", "--shuffle", "on",
                                     "--seed", "21", "--lr-schedule", "cosine", "--warmup", "2"};
  RunResult whole = run(model.desc, concat(common, {"--ckpt-dir", dir + "/a", "--ckpt-every", "1",
                                                    "--log", dir + "/a.jsonl"}));
  ASSERT_EQ(whole.rc, 0) << whole.err;
  EXPECT_NE(whole.out.find("data order: shuffled with seed 21 (26 batches per epoch)"),
            std::string::npos) << whole.out;
  EXPECT_NE(whole.out.find("data: epoch 1 begins after step 13 (reshuffled)"), std::string::npos)
      << whole.out;
  EXPECT_NE(whole.out.find("data: epoch 2 begins after step 26 (reshuffled)"), std::string::npos);
  std::vector<std::string> reference = jsonField(dir + "/a.jsonl", "loss");
  ASSERT_EQ(reference.size(), 30u);

  // Mid-epoch 0, exactly at the boundary, just after it, and mid-epoch 1.
  for (int from : {6, kStepsPerEpoch, kStepsPerEpoch + 1, 20}) {
    std::string name = format("r%d", from);
    RunResult r = run(model.desc, concat(common, {"--ckpt-dir", dir + "/" + name, "--resume",
                                                  dir + "/a/" + checkpointName(from), "--log",
                                                  dir + "/" + name + ".jsonl"}));
    ASSERT_EQ(r.rc, 0) << r.err;
    std::vector<std::string> losses = jsonField(dir + "/" + name + ".jsonl", "loss");
    ASSERT_EQ(losses.size(), size_t(30 - from));
    for (size_t i = 0; i < losses.size(); ++i)
      EXPECT_EQ(losses[i], reference[size_t(from) + i]) << "resumed at " << from << ", step "
                                                        << from + 1 + int(i);
    EXPECT_EQ(readFile(dir + "/a/step_00000030/tensors.bin"),
              readFile(dir + "/" + name + "/step_00000030/tensors.bin"));
  }
  // Resuming without --shuffle and --seed continues the checkpoint's order all the same.
  RunResult bare = run(model.desc, {"--data", dir + "/train_*.bin", "--steps", "30",
                                    "--lr-schedule", "cosine", "--warmup", "2", "--resume",
                                    dir + "/a/step_00000020", "--log", dir + "/bare.jsonl"});
  ASSERT_EQ(bare.rc, 0) << bare.err;
  std::vector<std::string> bareLosses = jsonField(dir + "/bare.jsonl", "loss");
  ASSERT_EQ(bareLosses.size(), 10u);
  EXPECT_EQ(bareLosses.back(), reference.back());

  // The same seed repeats every loss; another seed, or no shuffling, changes them.
  for (auto [flags, same] : {std::pair{std::vector<std::string>{"--shuffle", "on", "--seed", "21"}, true},
                             std::pair{std::vector<std::string>{"--shuffle", "on", "--seed", "22"}, false},
                             std::pair{std::vector<std::string>{"--shuffle", "off", "--seed", "21"}, false}}) {
    std::vector<std::string> args = {"--data", dir + "/train_*.bin", "--steps", "30",
                                     "--lr-schedule", "cosine", "--warmup", "2", "--log",
                                     dir + "/again.jsonl"};
    std::remove((dir + "/again.jsonl").c_str());
    RunResult again = run(model.desc, concat(args, flags));
    ASSERT_EQ(again.rc, 0) << again.err;
    EXPECT_EQ(jsonField(dir + "/again.jsonl", "loss") == reference, same) << flags[3] << flags[1];
  }
}

TEST(DataOrderTraining, ResumeRefusesAnotherOrderOrOtherData) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  ASSERT_EQ(run(model.desc, {"--data", data, "--steps", "4", "--shuffle", "on", "--seed", "5",
                             "--ckpt-dir", dir + "/ck"}).rc, 0);
  std::string ckpt = dir + "/ck/step_00000004";
  RunResult off = run(model.desc, {"--data", data, "--steps", "8", "--resume", ckpt,
                                   "--shuffle", "off"});
  EXPECT_EQ(off.rc, 2);
  EXPECT_EQ(off.err, "error: --shuffle off: the checkpoint " + ckpt + " was written by a run "
                     "with --shuffle on, and a resumed run continues its data order (leave out "
                     "--shuffle, or start a new run)\n");
  RunResult seed = run(model.desc, {"--data", data, "--steps", "8", "--resume", ckpt, "--seed",
                                    "6"});
  EXPECT_EQ(seed.rc, 2);
  EXPECT_EQ(seed.err, "error: --seed 6: the checkpoint " + ckpt + " was written by a run with "
                      "--seed 5, and a resumed run continues its data order (leave out --seed, "
                      "or start a new run)\n");
  // Repeating the same flags is fine.
  EXPECT_EQ(run(model.desc, {"--data", data, "--steps", "5", "--resume", ckpt, "--seed", "5",
                             "--shuffle", "on"}).rc, 0);

  // A data file that changed length.
  writeShard(dir + "/train_001.bin", patternTokens(91, 5, 2));
  RunResult changed = run(model.desc, {"--data", data, "--steps", "8", "--resume", ckpt});
  EXPECT_EQ(changed.rc, 1);
  EXPECT_EQ(changed.err, "error: checkpoint " + ckpt + ": the training data changed since it was "
                         "written: --data file 1 (" + dir + "/train_001.bin) has 91 tokens, the "
                         "run that wrote it read 90 (an exact resume needs the same files)\n");
  std::remove((dir + "/train_002.bin").c_str());
  writeShard(dir + "/train_001.bin", patternTokens(90, 5, 2));
  RunResult fewer = run(model.desc, {"--data", data, "--steps", "8", "--resume", ckpt});
  EXPECT_EQ(fewer.rc, 1);
  EXPECT_NE(fewer.err.find("it read 3 --data file(s), --data now matches 2"), std::string::npos)
      << fewer.err;
}

TEST(DataOrderTraining, EndOfDataStopEndsCleanlyWithACheckpoint) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  for (const char *shuffle : {"off", "on"}) {
    std::string ck = dir + "/stop-" + shuffle;
    RunResult r = run(model.desc, {"--data", data, "--steps", "100", "--end-of-data", "stop",
                                   "--shuffle", shuffle, "--ckpt-dir", ck, "--ckpt-every", "5",
                                   "--log", ck + ".jsonl"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("end of data: the 26 batch(es) of one pass over --data are used up after "
                         "step 13 (step 14 needs 2 more); stopping (--end-of-data=stop)"),
              std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("step 14/"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("data: epoch 1"), std::string::npos) << r.out;
    EXPECT_EQ(jsonField(ck + ".jsonl", "loss").size(), size_t(kStepsPerEpoch));
    EXPECT_EQ(findLatestCheckpoint(ck), ck + "/step_00000013");
    // Resumed with stop again: nothing left, and no second checkpoint of step 13.
    RunResult again = run(model.desc, {"--data", data, "--steps", "100", "--end-of-data=stop",
                                       "--ckpt-dir", ck, "--resume", "latest"});
    ASSERT_EQ(again.rc, 0) << again.err;
    EXPECT_NE(again.out.find("end of data: the 26 batch(es) of one pass over --data are used up "
                             "after step 13"), std::string::npos) << again.out;
    EXPECT_EQ(again.out.find("checkpoint " + ck), std::string::npos) << again.out;
    // Resumed with wrap: the next epoch.
    RunResult wrap = run(model.desc, {"--data", data, "--steps", "15", "--ckpt-dir", ck,
                                      "--resume", "latest"});
    ASSERT_EQ(wrap.rc, 0) << wrap.err;
    EXPECT_NE(wrap.out.find("step 15/15"), std::string::npos) << wrap.out;
  }
  // 3 micro-batches a step: 26 batches give 8 steps, the 9th would need 3 with 2 left.
  model.desc.microbatches = 3;
  RunResult three = run(model.desc, {"--data", data, "--steps", "100", "--end-of-data", "stop"});
  ASSERT_EQ(three.rc, 0) << three.err;
  EXPECT_NE(three.out.find("used up after step 8 (step 9 needs 3 more)"), std::string::npos)
      << three.out;
}

TEST(DataOrderTraining, BadFlagValuesExitTwo) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  RunResult a = run(model.desc, {"--data", data, "--steps", "1", "--shuffle", "yes"});
  EXPECT_EQ(a.rc, 2);
  EXPECT_EQ(a.err, "error: --shuffle: expected on or off, found 'yes'\n");
  RunResult b = run(model.desc, {"--data", data, "--steps", "1", "--end-of-data=loop"});
  EXPECT_EQ(b.rc, 2);
  EXPECT_EQ(b.err, "error: --end-of-data: expected wrap or stop, found 'loop'\n");
  RunResult c = run(model.desc, {"--data", data, "--steps", "1", "--end-of-data"});
  EXPECT_EQ(c.rc, 2);
  EXPECT_EQ(c.err, "error: --end-of-data: expected wrap or stop, found the end of the command "
                   "line\n");
}

TEST(DataOrderTraining, StepsZeroOnAFreshRun) {
  LinearModel model;
  std::string dir = makeTempDir();
  RunResult r = run(model.desc, {"--data", writeData(dir), "--steps", "0"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("nothing to do: --steps is 0\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("checkpoint is at"), std::string::npos) << r.out;
}

TEST(DataOrderTraining, SkippedStepsAreCheckpointedAndResumed) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  ::setenv("INGOT_INJECT_NAN", "3:proj.w", 1);
  RunResult first = run(model.desc, {"--data", data, "--steps", "4", "--on-nonfinite=skip",
                                     "--ckpt-dir", dir + "/ck", "--ckpt-every", "2"});
  ::unsetenv("INGOT_INJECT_NAN");
  ASSERT_EQ(first.rc, 0) << first.err;
  EXPECT_NE(first.out.find("skipped 1 step(s) with non-finite values"), std::string::npos)
      << first.out;
  std::vector<char> arena(kArena);
  EXPECT_EQ(loadCheckpoint(model.desc, arena.data(), dir + "/ck/step_00000002").skippedSteps, 0);
  EXPECT_EQ(loadCheckpoint(model.desc, arena.data(), dir + "/ck/step_00000004").skippedSteps, 1);
  // The resumed run counts from the checkpoint, whatever its own policy.
  RunResult resumed = run(model.desc, {"--data", data, "--steps", "6", "--ckpt-dir", dir + "/ck",
                                       "--resume", "latest"});
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("skipped 1 step(s) with non-finite values"), std::string::npos)
      << resumed.out;
  EXPECT_EQ(loadCheckpoint(model.desc, arena.data(), dir + "/ck/step_00000006").skippedSteps, 1);
}

// A version-1 checkpoint (before data_order and skipped_steps) still loads: unshuffled, nothing
// skipped, and the data files not compared.
TEST(DataOrderTraining, FormatOneCheckpointsStillResume) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  ASSERT_EQ(run(model.desc, {"--data", data, "--steps", "12", "--ckpt-dir", dir + "/a",
                             "--ckpt-every", "6", "--log", dir + "/a.jsonl"}).rc, 0);
  // Rewrite step 6's manifest as format 1 would have written it.
  std::string path = dir + "/a/step_00000006/manifest.bin";
  std::string bytes = readFile(path);
  const ckpt::Manifest *m = ckpt::GetManifest(bytes.data());
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<ckpt::Tensor>> tensors;
  for (const ckpt::Tensor *t : *m->tensors()) {
    std::vector<int64_t> shape(t->shape()->begin(), t->shape()->end());
    tensors.push_back(ckpt::CreateTensorDirect(fbb, t->name()->c_str(), t->dtype(), &shape,
                                               t->offset(), t->bytes(), t->crc32c()));
  }
  auto old = ckpt::CreateManifestDirect(fbb, 1, m->model()->c_str(), m->source_hash(),
                                        m->target()->c_str(), m->compute_dtype(), m->step(),
                                        m->train_data(), m->rng(), m->layout(), &tensors,
                                        m->tensors_bytes());
  ckpt::FinishManifestBuffer(fbb, old);
  std::string v1(reinterpret_cast<const char *>(fbb.GetBufferPointer()), fbb.GetSize());
  std::filesystem::create_directories(dir + "/old");
  std::filesystem::copy(dir + "/a/step_00000006", dir + "/old/step_00000006");
  writeFile(dir + "/old/step_00000006/manifest.bin", v1);

  RunResult r = run(model.desc, {"--data", data, "--steps", "12", "--ckpt-dir", dir + "/old",
                                 "--resume", "latest", "--log", dir + "/old.jsonl"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<std::string> a = jsonField(dir + "/a.jsonl", "loss");
  std::vector<std::string> b = jsonField(dir + "/old.jsonl", "loss");
  ASSERT_EQ(b.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(a[6 + i], b[i]);
  RunResult shuffled = run(model.desc, {"--data", data, "--steps", "12", "--resume",
                                        dir + "/old/step_00000006", "--shuffle", "on"});
  EXPECT_EQ(shuffled.rc, 2);
  EXPECT_NE(shuffled.err.find("was written by a run with --shuffle off"), std::string::npos);
  // A version this runtime does not know is refused by name.
  flatbuffers::FlatBufferBuilder future;
  auto f = ckpt::CreateManifestDirect(future, 99, "linear");
  ckpt::FinishManifestBuffer(future, f);
  try {
    parseManifest(model.desc, future.GetBufferPointer(), future.GetSize(), "x");
    ADD_FAILURE() << "format 99 accepted";
  } catch (const CheckpointError &e) {
    EXPECT_STREQ(e.what(), "checkpoint x: format version 99, this runtime reads versions 1 to 2");
  }
}

// A pid that is certainly not running: a child that has exited and been reaped.
pid_t deadPid() {
  pid_t pid = ::fork();
  if (pid == 0)
    ::_exit(0);
  int status;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST(DataOrderTraining, ASuccessfulSaveRemovesWhatCrashedSavesLeft) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  std::string ck = dir + "/ck";
  pid_t dead = deadPid();
  auto make = [&](const std::string &name) {
    std::filesystem::create_directories(ck + "/" + name);
    writeFile(ck + "/" + name + "/tensors.bin", "partial");
  };
  make(format("step_00000001.tmp-%d", int(dead)));    // never renamed: goes
  make(format("step_00000002.old-%d", int(dead)));    // step_00000002 exists below: goes
  make("step_00000002");
  make(format("step_00000003.old-%d", int(dead)));    // the only copy of step 3: stays
  make(format("step_00000004.tmp-%d", int(::getppid()))); // a live writer: stays
  make("unrelated.tmp-1");                             // not ours: stays
  RunResult r = run(model.desc, {"--data", data, "--steps", "1", "--ckpt-dir", ck});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(format("removed %s/step_00000001.tmp-%d, left by a save that did not "
                              "finish", ck.c_str(), int(dead))), std::string::npos) << r.out;
  auto there = [&](const std::string &name) { return std::filesystem::exists(ck + "/" + name); };
  EXPECT_FALSE(there(format("step_00000001.tmp-%d", int(dead))));
  EXPECT_FALSE(there(format("step_00000002.old-%d", int(dead))));
  EXPECT_TRUE(there("step_00000002"));
  EXPECT_TRUE(there(format("step_00000003.old-%d", int(dead))));
  EXPECT_TRUE(there(format("step_00000004.tmp-%d", int(::getppid()))));
  EXPECT_TRUE(there("unrelated.tmp-1"));
  EXPECT_TRUE(there("step_00000001"));
}

} // namespace
