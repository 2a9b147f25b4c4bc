//===- RuntimeTest.cpp - The training loop end to end, init, logs ---------===//
//
// Drives runTrainer() in-process with the hand-written LinearModel (RuntimeTestUtil.h).
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "src/Checkpoint.h"
#include "src/Init.h"
#include "src/Log.h"
#include "src/Trainer.h"

#include <omp.h>

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

// Three shards of different lengths and phases, so the data position matters.
std::string writeData(const std::string &dir) {
  writeShard(dir + "/train_000.bin", patternTokens(150, 0, 1));
  writeShard(dir + "/train_001.bin", patternTokens(90, 5, 2));
  writeShard(dir + "/train_002.bin", patternTokens(200, 11, 3));
  writeShard(dir + "/val_000.bin", patternTokens(120, 3, 4));
  return dir + "/train_*.bin";
}

// "loss" of every JSONL line, as written (17 significant digits).
std::vector<std::string> jsonField(const std::string &path, const std::string &field) {
  std::vector<std::string> out;
  std::stringstream lines(readFile(path));
  std::string line;
  const std::string key = "\"" + field + "\":";
  while (std::getline(lines, line)) {
    size_t at = line.find(key);
    if (at == std::string::npos) {
      out.push_back("");
      continue;
    }
    size_t end = line.find_first_of(",}", at);
    out.push_back(line.substr(at + key.size(), end - at - key.size()));
  }
  return out;
}

TEST(Trainer, LossFalls) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  RunResult r = run(model.desc, {"--data", data, "--steps", "60", "--lr", "0.05", "--log",
                                 dir + "/log.jsonl", "--val", dir + "/val_*.bin", "--eval-every",
                                 "20", "--threads", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> losses = jsonField(dir + "/log.jsonl", "loss");
  ASSERT_EQ(losses.size(), 60u);
  double first = std::stod(losses[0]);
  double last = 0;
  for (int i = 55; i < 60; ++i)
    last += std::stod(losses[size_t(i)]) / 5;
  EXPECT_LT(last, 0.3 * first) << "first " << first << ", last five " << last;
  // Validation on steps 20, 40, 60 only.
  std::vector<std::string> vals = jsonField(dir + "/log.jsonl", "val");
  EXPECT_EQ(vals[18], "");
  EXPECT_NE(vals[19], "");
  EXPECT_NE(vals[59], "");
  EXPECT_LT(std::stod(vals[59]), std::stod(vals[19]));
  // The stdout line of a step.
  EXPECT_NE(r.out.find("step 1/60 | loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" tok/s | val "), std::string::npos) << r.out;
}

TEST(Trainer, ResumeIsBitIdentical) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  // 30 steps of 32 tokens cross every shard boundary and wrap once.
  std::vector<std::string> common = {"--data", data, "--steps", "30", "--lr-schedule", "cosine",
                                     "--warmup", "3", "--clip", "0.5", "--ckpt-every", "10"};
  std::vector<std::string> whole = common;
  for (std::string s : std::vector<std::string>{"--ckpt-dir", dir + "/a", "--log", dir + "/a.jsonl"})
    whole.push_back(s);
  RunResult a = run(model.desc, whole);
  ASSERT_EQ(a.rc, 0) << a.err;

  // Resume from step 10 of the first run into another directory.
  std::vector<std::string> resumed = common;
  for (std::string s : std::vector<std::string>{"--ckpt-dir", dir + "/b", "--log", dir + "/b.jsonl", "--resume",
                        dir + "/a/step_00000010"})
    resumed.push_back(s);
  RunResult b = run(model.desc, resumed);
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_NE(b.out.find("resumed from " + dir + "/a/step_00000010 at step 10"), std::string::npos)
      << b.out;

  std::vector<std::string> la = jsonField(dir + "/a.jsonl", "loss");
  std::vector<std::string> lb = jsonField(dir + "/b.jsonl", "loss");
  ASSERT_EQ(la.size(), 30u);
  ASSERT_EQ(lb.size(), 20u);
  for (size_t i = 0; i < 20; ++i)
    EXPECT_EQ(la[10 + i], lb[i]) << "step " << 11 + i;
  std::vector<std::string> na = jsonField(dir + "/a.jsonl", "norm");
  std::vector<std::string> nb = jsonField(dir + "/b.jsonl", "norm");
  EXPECT_EQ(na[29], nb[19]);
  // The final weights and moments are the same bytes.
  EXPECT_EQ(readFile(dir + "/a/step_00000030/tensors.bin"),
            readFile(dir + "/b/step_00000030/tensors.bin"));

  // --resume latest picks step 30 and has nothing left to do.
  RunResult c = run(model.desc, {"--data", data, "--steps", "30", "--ckpt-dir", dir + "/a",
                                 "--resume", "latest"});
  EXPECT_EQ(c.rc, 0) << c.err;
  EXPECT_NE(c.out.find("nothing to do: the checkpoint is at step 30"), std::string::npos) << c.out;
}

TEST(Trainer, CheckpointOfAnotherModelIsRefused) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  ASSERT_EQ(run(model.desc, {"--data", data, "--steps", "2", "--ckpt-dir", dir + "/ck"}).rc, 0);
  LinearModel wider({1, 3});
  RunResult r = run(wider.desc, {"--data", data, "--steps", "4", "--ckpt-dir", dir + "/ck",
                                 "--resume", "latest"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: checkpoint " + dir + "/ck/step_00000002: checkpoint tensor 'proj.w' "
                   "has shape [1, 2], this model has [1, 3]\n");
}

TEST(Trainer, ResumeLatestWithNoCheckpoint) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string data = writeData(dir);
  RunResult r = run(model.desc, {"--data", data, "--steps", "2", "--ckpt-dir", dir + "/none",
                                 "--resume", "latest"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: --resume latest: no complete checkpoint (step_NNNNNNNN/) in "
                   "--ckpt-dir " + dir + "/none\n");
}

TEST(Trainer, DescribeTouchesNoData) {
  LinearModel model;
  RunResult r = run(model.desc, {"--describe", "--data", "/nonexistent/*.bin"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, std::string(model.desc.manifestJson) + "\n");
}

TEST(Trainer, BadDataExitsOne) {
  LinearModel model;
  std::string dir = makeTempDir();
  RunResult r = run(model.desc, {"--data", dir + "/missing_*.bin", "--steps", "2"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: --data '" + dir + "/missing_*.bin': no file matches\n");
}

void nanForwardBackward(char *arena) { *f32(arena, kLoss) = NAN; }

TEST(Trainer, NonFiniteLossExitsThree) {
  LinearModel model;
  model.desc.forwardBackward = nanForwardBackward;
  std::string dir = makeTempDir();
  RunResult r = run(model.desc, {"--data", writeData(dir), "--steps", "5"});
  EXPECT_EQ(r.rc, 3);
  EXPECT_EQ(r.err, "error: step 1: the loss is nan (non-finite); stopping before the update\n");
}

TEST(Trainer, NonFiniteLossSkippedWithOnNonFiniteSkip) {
  LinearModel model;
  model.desc.forwardBackward = nanForwardBackward;
  std::string dir = makeTempDir();
  RunResult r = run(model.desc,
                    {"--data", writeData(dir), "--steps", "3", "--on-nonfinite=skip"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("step 2: the loss is nan (non-finite); skipping the update"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 3/3 | loss nan | norm 0.0000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped 3 step(s) with non-finite values"), std::string::npos) << r.out;
}

TEST(Trainer, InconsistentModelDescriptionIsReported) {
  LinearModel model;
  model.params[0].value.offset = kArena; // outside the arena
  RunResult r = run(model.desc, {"--describe"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: the compiled model description is inconsistent: tensor 'proj.w' "
                   "[2816, 2824) lies outside the arena of 2816 bytes (a bug in ingotc; please "
                   "report it)\n");
}

TEST(Init, DeterministicAndIndependentOfThreads) {
  LinearModel model;
  model.params[0].value.shape[1] = 2;
  std::vector<char> a(kArena, 1), b(kArena, 2), c(kArena, 0);
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  initParameters(model.desc, a.data(), 99);
  omp_set_num_threads(2);
  initParameters(model.desc, b.data(), 99);
  omp_set_num_threads(threads);
  initParameters(model.desc, c.data(), 100);
  EXPECT_EQ(std::memcmp(a.data() + kW, b.data() + kW, 8), 0);
  EXPECT_NE(std::memcmp(a.data() + kW, c.data() + kW, 8), 0);
  EXPECT_EQ(*f32(a.data(), kBias), 0.0f);      // zeros
  EXPECT_EQ(*f32(a.data(), kWGrad), 0.0f);     // gradients and moments zeroed
  EXPECT_EQ(*f32(a.data(), kWM + 4), 0.0f);
  EXPECT_EQ(*f32(a.data(), kBiasV), 0.0f);
}

TEST(Init, NormalAndUniformHaveTheirMoments) {
  // One large parameter in its own arena.
  const int64_t n = 200000;
  ParamDesc p;
  std::memset(&p, 0, sizeof(p));
  p.value = tensor("big", DType::f64, {n}, 0);
  p.grad = tensor("big.grad", DType::f64, {n}, 0);
  p.m = tensor("big.m", DType::f64, {n}, 0);
  p.v = tensor("big.v", DType::f64, {n}, 0);
  ModelDesc model;
  std::memset(&model, 0, sizeof(model));
  model.numParams = 1;
  model.params = &p;
  // Separate buffers for value and the zeroed rest: point grad/m/v elsewhere.
  std::vector<double> buffer(2 * size_t(n));
  p.grad.offset = p.m.offset = p.v.offset = uint64_t(n) * 8;
  char *arena = reinterpret_cast<char *>(buffer.data());
  for (auto [kind, a, b, mean, sd] : {std::tuple{"normal", 1.0, 2.0, 1.0, 2.0},
                                      std::tuple{"uniform", -1.0, 3.0, 1.0, 4.0 / std::sqrt(12.0)}}) {
    p.init = {kind, {a, b}};
    initParameters(model, arena, 5);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      s += buffer[size_t(i)];
      s2 += buffer[size_t(i)] * buffer[size_t(i)];
    }
    double m = s / n, var = s2 / n - m * m;
    EXPECT_NEAR(m, mean, 0.02) << kind;
    EXPECT_NEAR(std::sqrt(var), sd, 0.02) << kind;
  }
  p.init = {"xavier", {0, 0}};
  try {
    initParameters(model, arena, 5);
    ADD_FAILURE() << "no error for an unknown init kind";
  } catch (const std::exception &e) {
    EXPECT_STREQ(e.what(), "parameter 'big': unknown init kind 'xavier' (expected zeros, ones, "
                           "constant, normal or uniform)");
  }
}

TEST(Log, StepLineAndJson) {
  StepRecord r;
  r.step = 12;
  r.steps = 100;
  r.loss = 4.1234564;
  r.gradNorm = 1.23454;
  r.lr = 3e-4;
  r.ms = 45.23;
  r.tokensPerSecond = 11329.2;
  EXPECT_EQ(formatStepLine(r),
            "step 12/100 | loss 4.123456 | norm 1.2345 | lr 3.00e-04 | 45.2 ms | 11329 tok/s");
  r.hasVal = true;
  r.valLoss = 3.9;
  EXPECT_EQ(formatStepLine(r), "step 12/100 | loss 4.123456 | norm 1.2345 | lr 3.00e-04 | "
                               "45.2 ms | 11329 tok/s | val 3.900000");
  EXPECT_EQ(formatStepJson(r), "{\"step\":12,\"steps\":100,\"loss\":4.1234564000000002,"
                               "\"norm\":1.23454,\"lr\":0.0003,\"ms\":45.230,"
                               "\"tok_per_s\":11329.2,\"val\":3.8999999999999999}");
  r.loss = NAN;
  EXPECT_NE(formatStepJson(r).find("\"loss\":null"), std::string::npos);
}

TEST(Log, ProgressEveryTenPercentOnLongRuns) {
  std::string dir = makeTempDir();
  FILE *out = std::fopen((dir + "/out.txt").c_str(), "w");
  ASSERT_NE(out, nullptr);
  {
    Logger log("", false, out);
    log.start(1, 200);
    for (int64_t s = 1; s <= 200; ++s) {
      StepRecord r;
      r.step = s;
      r.steps = 200;
      log.step(r);
    }
  }
  std::fclose(out);
  std::string text = readFile(dir + "/out.txt");
  size_t count = 0;
  for (size_t at = text.find("progress "); at != std::string::npos;
       at = text.find("progress ", at + 1))
    ++count;
  EXPECT_EQ(count, 9u); // 10%, 20%, ..., 90%
  EXPECT_NE(text.find("progress 50% (100/200 steps) | elapsed "), std::string::npos) << text;
}

} // namespace
