//===- FlagsTest.cpp - The trainer's command line -------------------------===//
#include "RuntimeTestUtil.h"
#include "src/Error.h"
#include "src/Flags.h"
#include "src/Trainer.h"

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

Options parse(const ModelDesc &model, std::vector<std::string> flags) {
  Args args(std::move(flags));
  return parseFlags(model, args.argc(), args.argv());
}

// The message of the UsageError that `flags` raise ("" if none).
std::string usageError(std::vector<std::string> flags) {
  LinearModel model;
  try {
    parse(model.desc, std::move(flags));
  } catch (const UsageError &e) {
    EXPECT_EQ(e.exitCode(), 2);
    return e.what();
  }
  return "";
}

TEST(Flags, DefaultsComeFromTheModel) {
  LinearModel model;
  Options o = parse(model.desc, {"--data", "x.bin", "--steps", "5"});
  EXPECT_EQ(o.data, "x.bin");
  EXPECT_EQ(o.steps, 5);
  EXPECT_EQ(o.lr, 0.05);
  EXPECT_EQ(o.beta1, 0.9);
  EXPECT_EQ(o.beta2, 0.95);
  EXPECT_EQ(o.eps, 1e-8);
  EXPECT_EQ(o.weightDecay, 0.1);
  EXPECT_EQ(o.clip, 1.0);
  EXPECT_EQ(o.lrSchedule, LrSchedule::cosine);
  EXPECT_EQ(o.warmup, 2);
  EXPECT_EQ(o.lrFinal, 0.1);
  EXPECT_EQ(o.seed, 1234u);
  EXPECT_EQ(o.threads, 0);
  EXPECT_EQ(o.evalBatches, 10);
}

TEST(Flags, EveryFlagIsRead) {
  LinearModel model;
  Options o = parse(model.desc,
                    {"--data", "t_*.bin", "--val", "v_*.bin", "--steps", "100", "--lr", "3e-4",
                     "--lr-schedule", "linear", "--warmup", "10", "--lr-final", "0.5",
                     "--beta1", "0.8", "--beta2=0.99", "--eps", "1e-6", "--weight-decay", "0",
                     "--clip", "0", "--seed", "18446744073709551615", "--ckpt-dir", "ck",
                     "--ckpt-every", "20", "--ckpt-keep", "3", "--resume", "latest", "--log",
                     "l.jsonl", "--eval-every", "25", "--eval-batches", "4", "--threads", "2"});
  EXPECT_EQ(o.val, "v_*.bin");
  EXPECT_EQ(o.lr, 3e-4);
  EXPECT_EQ(o.lrSchedule, LrSchedule::linear);
  EXPECT_EQ(o.warmup, 10);
  EXPECT_EQ(o.lrFinal, 0.5);
  EXPECT_EQ(o.beta1, 0.8);
  EXPECT_EQ(o.beta2, 0.99);
  EXPECT_EQ(o.eps, 1e-6);
  EXPECT_EQ(o.weightDecay, 0.0);
  EXPECT_EQ(o.clip, 0.0);
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_EQ(o.ckptDir, "ck");
  EXPECT_EQ(o.ckptEvery, 20);
  EXPECT_EQ(o.ckptKeep, 3);
  EXPECT_EQ(o.resume, "latest");
  EXPECT_EQ(o.logPath, "l.jsonl");
  EXPECT_EQ(o.evalEvery, 25);
  EXPECT_EQ(o.evalBatches, 4);
  EXPECT_EQ(o.threads, 2);
}

TEST(Flags, HelpAndDescribeNeedNothingElse) {
  LinearModel model;
  EXPECT_TRUE(parse(model.desc, {"--help"}).help);
  EXPECT_TRUE(parse(model.desc, {"--describe"}).describe);
}

TEST(Flags, MalformedNumbers) {
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1x"}),
            "--steps: expected a non-negative integer, found '1x'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "-3"}),
            "--steps: expected a non-negative integer, found '-3'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", ""}),
            "--steps: expected a non-negative integer, found ''");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "99999999999999999999"}),
            "--steps: expected a non-negative integer, found '99999999999999999999'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--lr", "fast"}),
            "--lr: expected a non-negative number, found 'fast'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--lr", "nan"}),
            "--lr: expected a non-negative number, found 'nan'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--lr", "-1e-3"}),
            "--lr: expected a non-negative number, found '-1e-3'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--beta2", "1"}),
            "--beta2: expected a number in [0, 1), found '1'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--lr-final", "1.5"}),
            "--lr-final: expected a number in [0, 1], found '1.5'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--eps", "0"}),
            "--eps: expected a positive number, found '0'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--seed", "-1"}),
            "--seed: expected a non-negative integer below 2^64, found '-1'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--threads", "0"}),
            "--threads: expected a positive integer, found '0'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--eval-batches", "2.5"}),
            "--eval-batches: expected a positive integer, found '2.5'");
}

TEST(Flags, UnknownScheduleFlagAndMissingValue) {
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--lr-schedule", "step"}),
            "--lr-schedule: expected one of constant, cosine, linear, found 'step'");
  EXPECT_EQ(usageError({"--data", "x", "--stpes", "3"}),
            "unknown flag '--stpes'; did you mean '--steps'? (see --help)");
  EXPECT_EQ(usageError({"--frobnicate"}), "unknown flag '--frobnicate' (see --help)");
  EXPECT_EQ(usageError({"--data", "x", "--steps"}),
            "--steps: expected a non-negative integer, found the end of the command line");
  EXPECT_EQ(usageError({"--data"}), "--data: expected a value, found the end of the command line");
  EXPECT_EQ(usageError({"steps"}),
            "unexpected argument 'steps' (every argument is a --flag; see --help)");
  EXPECT_EQ(usageError({"--describe=yes"}), "--describe: expected no value, found 'yes'");
}

TEST(Flags, RequiredAndInconsistent) {
  EXPECT_EQ(usageError({"--steps", "3"}),
            "--data: required to train (a glob of token shards, e.g. --data "
            "'data/train_*.bin')");
  EXPECT_EQ(usageError({"--data", "x"}),
            "--steps: required to train (the number of optimizer steps)");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--resume", "latest"}),
            "--resume latest: needs --ckpt-dir to look in");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--ckpt-every", "5"}),
            "--ckpt-every: needs --ckpt-dir");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "3", "--eval-every", "5"}),
            "--eval-every: needs --val");
}

TEST(Flags, BadFlagsExitTwoWithTheMessageOnStderr) {
  LinearModel model;
  Args args{"--data", "x", "--steps", "1x"};
  ::testing::internal::CaptureStderr();
  int rc = runTrainer(model.desc, args.argc(), args.argv());
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(err, "error: --steps: expected a non-negative integer, found '1x'\n");
}

TEST(Flags, HelpListsEveryFlag) {
  LinearModel model;
  Args args{"--help"};
  ::testing::internal::CaptureStdout();
  int rc = runTrainer(model.desc, args.argc(), args.argv());
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  for (const char *flag : {"--data", "--val", "--steps", "--lr", "--lr-schedule", "--warmup",
                           "--lr-final", "--beta1", "--beta2", "--eps", "--weight-decay",
                           "--clip", "--seed", "--ckpt-dir", "--ckpt-every", "--resume", "--log",
                           "--eval-every", "--eval-batches", "--describe", "--help", "--threads"})
    EXPECT_NE(out.find(flag), std::string::npos) << flag;
  EXPECT_NE(out.find("--lr 0.05 --lr-schedule cosine"), std::string::npos) << out;
}

TEST(Schedule, WarmupThenCosineOrLinearToTheFloor) {
  Options o;
  o.lr = 1.0;
  o.warmup = 4;
  o.lrFinal = 0.1;
  o.lrSchedule = LrSchedule::constant;
  EXPECT_DOUBLE_EQ(learningRate(o, 1, 20), 0.25);
  EXPECT_DOUBLE_EQ(learningRate(o, 4, 20), 1.0);
  EXPECT_DOUBLE_EQ(learningRate(o, 20, 20), 1.0);
  o.lrSchedule = LrSchedule::cosine;
  EXPECT_DOUBLE_EQ(learningRate(o, 2, 20), 0.5);
  EXPECT_DOUBLE_EQ(learningRate(o, 12, 20), 0.55); // halfway: (1 + 0.1) / 2
  EXPECT_DOUBLE_EQ(learningRate(o, 20, 20), 0.1);
  o.lrSchedule = LrSchedule::linear;
  EXPECT_DOUBLE_EQ(learningRate(o, 12, 20), 0.55);
  EXPECT_DOUBLE_EQ(learningRate(o, 20, 20), 0.1);
  o.warmup = 0;
  EXPECT_DOUBLE_EQ(learningRate(o, 10, 10), 0.1);
  EXPECT_DOUBLE_EQ(learningRate(o, 5, 10), 0.55);
}

} // namespace
