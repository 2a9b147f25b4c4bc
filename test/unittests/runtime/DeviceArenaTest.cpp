//===- DeviceArenaTest.cpp - The runtime with an arena it cannot touch ----===//
//
// The cuda target's arena lives on the GPU: the runtime must move every byte through the
// ModelDesc's hooks (allocArena, copyToArena, copyFromArena, zeroArena, freeArena). Here a fake
// "device" keeps the real arena in a private buffer and hands the runtime a decoy pointer filled
// with a poison pattern; the model's entry points (the "kernels") translate the decoy to the
// real buffer. A run through the hooks must log the same losses and write the same checkpoint
// bytes as a plain host run, and the decoy must stay untouched.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "src/ModelUtil.h"
#include "src/Trainer.h"

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

constexpr unsigned char kPoison = 0xA5;

struct FakeDevice {
  std::vector<char> memory; // the "device" arena the kernels use
  std::vector<char> decoy;  // what the runtime is given: it must never read or write it
  int allocs = 0, frees = 0, copiesIn = 0, copiesOut = 0, zeroes = 0;
  bool outOfBounds = false;

  char *real(const void *arena) {
    if (arena != decoy.data())
      outOfBounds = true;
    return memory.data();
  }
  void check(uint64_t offset, uint64_t bytes) {
    if (offset > memory.size() || bytes > memory.size() - offset)
      outOfBounds = true;
  }
  bool decoyUntouched() const {
    for (char c : decoy)
      if (static_cast<unsigned char>(c) != kPoison)
        return false;
    return true;
  }
};
FakeDevice device;

void *fakeAlloc(uint64_t bytes) {
  ++device.allocs;
  device.memory.assign(bytes, 0);
  device.decoy.assign(bytes, char(kPoison));
  return device.decoy.data();
}
void fakeFree(void *arena) {
  ++device.frees;
  device.real(arena);
}
void fakeCopyTo(void *arena, uint64_t offset, const void *src, uint64_t bytes) {
  ++device.copiesIn;
  device.check(offset, bytes);
  std::memcpy(device.real(arena) + offset, src, bytes);
}
void fakeCopyFrom(void *dst, const void *arena, uint64_t offset, uint64_t bytes) {
  ++device.copiesOut;
  device.check(offset, bytes);
  std::memcpy(dst, device.real(arena) + offset, bytes);
}
void fakeZero(void *arena, uint64_t offset, uint64_t bytes) {
  ++device.zeroes;
  device.check(offset, bytes);
  std::memset(device.real(arena) + offset, 0, bytes);
}
void deviceForwardBackward(char *arena) { linearForwardBackward(device.real(arena)); }
void deviceForward(char *arena) { linearForward(device.real(arena)); }
void deviceOptimizerStep(char *arena, StepScalars *s) {
  linearOptimizerStep(device.real(arena), s);
}

void useFakeDevice(ModelDesc &desc) {
  desc.target = "cuda";
  desc.forwardBackward = deviceForwardBackward;
  desc.forward = deviceForward;
  desc.optimizerStep = deviceOptimizerStep;
  desc.allocArena = fakeAlloc;
  desc.freeArena = fakeFree;
  desc.copyToArena = fakeCopyTo;
  desc.copyFromArena = fakeCopyFrom;
  desc.zeroArena = fakeZero;
}

int runQuiet(const ModelDesc &model, std::vector<std::string> flags, std::string *err) {
  Args args(std::move(flags));
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = runTrainer(model, args.argc(), args.argv());
  ::testing::internal::GetCapturedStdout();
  *err = ::testing::internal::GetCapturedStderr();
  return rc;
}

std::vector<std::string> lossLines(const std::string &path) {
  std::vector<std::string> out;
  std::stringstream lines(readFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    size_t at = line.find("\"loss\":"), end = line.find(',', at);
    out.push_back(line.substr(at, end - at));
  }
  return out;
}

TEST(DeviceArena, TrainsThroughTheHooksLikeTheHost) {
  std::string dir = makeTempDir();
  writeShard(dir + "/train_000.bin", patternTokens(300, 0, 1));
  writeShard(dir + "/val_000.bin", patternTokens(120, 3, 4));
  auto flags = [&](const std::string &name, std::vector<std::string> more) {
    std::vector<std::string> f = {"--data", dir + "/train_*.bin", "--val", dir + "/val_*.bin",
                                  "--steps", "12", "--eval-every", "4", "--ckpt-every", "6",
                                  "--ckpt-dir", dir + "/" + name, "--log",
                                  dir + "/" + name + ".jsonl"};
    f.insert(f.end(), more.begin(), more.end());
    return f;
  };
  std::string err;
  LinearModel host;
  ASSERT_EQ(runQuiet(host.desc, flags("host", {}), &err), 0) << err;

  LinearModel onDevice;
  useFakeDevice(onDevice.desc);
  ASSERT_EQ(runQuiet(onDevice.desc, flags("device", {}), &err), 0) << err;
  EXPECT_EQ(device.allocs, 1);
  EXPECT_EQ(device.frees, 1);
  EXPECT_GT(device.copiesIn, 0);  // parameters, tokens, targets
  EXPECT_GT(device.copiesOut, 0); // losses, checkpoints
  EXPECT_GT(device.zeroes, 0);    // the gradient region every step
  EXPECT_FALSE(device.outOfBounds);
  EXPECT_TRUE(device.decoyUntouched()) << "the runtime wrote into the device arena directly";

  std::vector<std::string> hostLosses = lossLines(dir + "/host.jsonl");
  ASSERT_EQ(hostLosses.size(), 12u);
  EXPECT_EQ(lossLines(dir + "/device.jsonl"), hostLosses);
  EXPECT_EQ(readFile(dir + "/host/step_00000012/tensors.bin"),
            readFile(dir + "/device/step_00000012/tensors.bin"));

  // Resuming through the hooks loads the checkpoint into the device arena.
  ASSERT_EQ(runQuiet(onDevice.desc,
                     flags("resumed", {"--resume", dir + "/device/step_00000006"}), &err),
            0)
      << err;
  std::vector<std::string> resumed = lossLines(dir + "/resumed.jsonl");
  ASSERT_EQ(resumed.size(), 6u);
  EXPECT_EQ(resumed, std::vector<std::string>(hostLosses.begin() + 6, hostLosses.end()));
  EXPECT_TRUE(device.decoyUntouched());
}

TEST(DeviceArena, GradcheckIsHostOnly) {
  LinearModel onDevice;
  useFakeDevice(onDevice.desc);
  std::string dir = makeTempDir();
  writeShard(dir + "/train_000.bin", patternTokens(300, 0, 1));
  std::string err;
  EXPECT_EQ(runQuiet(onDevice.desc, {"--data", dir + "/train_*.bin", "--gradcheck", "2"}, &err),
            2);
  EXPECT_EQ(err, "error: --gradcheck runs on the host target only (compile with --target=host "
                 "--f64)\n");
}

TEST(DeviceArena, HooksAreAllOrNothing) {
  LinearModel model;
  useFakeDevice(model.desc);
  model.desc.zeroArena = nullptr;
  EXPECT_EQ(checkModelDesc(model.desc),
            "the arena hooks (allocArena, freeArena, copyToArena, copyFromArena, zeroArena) must "
            "be all set or all null");
}

} // namespace
