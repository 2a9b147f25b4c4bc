//===- CheckpointTest.cpp - Checkpoint directories ------------------------===//
#include "RuntimeTestUtil.h"
#include "src/Checkpoint.h"
#include "src/Error.h"
#include "src/Init.h"

#include <sys/stat.h>

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

struct Fixture {
  LinearModel model;
  std::vector<char> arena = std::vector<char>(kArena, 0);
  std::string dir = makeTempDir();
  TrainState state;
  Fixture() {
    initParameters(model.desc, arena.data(), 7);
    // Non-trivial moments so a round trip checks them too.
    for (uint64_t off : {kWM, kWV, kBiasM, kBiasV})
      *f32(arena.data(), off) = float(off) * 0.001f;
    state.step = 42;
    state.data.shard = 1;
    state.data.offset = 160;
    state.data.epoch = 3;
    state.seed = 7;
    state.rngCounter = 0;
  }
};

std::string loadError(const ModelDesc &model, const std::string &path) {
  std::vector<char> arena(kArena, 0);
  try {
    loadCheckpoint(model, arena.data(), path);
  } catch (const CheckpointError &e) {
    EXPECT_EQ(e.exitCode(), 1);
    return e.what();
  }
  return "";
}

TEST(Checkpoint, Crc32cCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // Chained calls equal one call.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
}

TEST(Checkpoint, RoundTrip) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir + "/ck", f.state);
  EXPECT_EQ(path, f.dir + "/ck/step_00000042");
  struct stat st;
  ASSERT_EQ(::stat((path + "/manifest.bin").c_str(), &st), 0);
  ASSERT_EQ(::stat((path + "/tensors.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3 * (8 + 4)); // values, m, v of a [1, 2] and a [1] f32 parameter
  // No temporary directory is left behind.
  auto list = listCheckpoints(f.dir + "/ck");
  ASSERT_EQ(list.size(), 1u);

  std::vector<char> loaded(kArena, 0);
  TrainState s = loadCheckpoint(f.model.desc, loaded.data(), path);
  EXPECT_EQ(s.step, 42);
  EXPECT_EQ(s.data.shard, 1);
  EXPECT_EQ(s.data.offset, 160);
  EXPECT_EQ(s.data.epoch, 3);
  EXPECT_EQ(s.seed, 7u);
  for (uint64_t off : {kW, kBias, kWM, kWV, kBiasM, kBiasV})
    EXPECT_EQ(std::memcmp(loaded.data() + off, f.arena.data() + off, 8), 0) << off;
  // Values first, then m, then v, back to back.
  std::string bytes = readFile(path + "/tensors.bin");
  EXPECT_EQ(std::memcmp(bytes.data(), f.arena.data() + kW, 8), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 8, f.arena.data() + kBias, 4), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 12, f.arena.data() + kWM, 8), 0);
}

TEST(Checkpoint, SavingTheSameStepAgainReplacesIt) {
  Fixture f;
  saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  *f32(f.arena.data(), kBias) = 5.0f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  std::vector<char> loaded(kArena, 0);
  loadCheckpoint(f.model.desc, loaded.data(), path);
  EXPECT_EQ(*f32(loaded.data(), kBias), 5.0f);
  EXPECT_EQ(listCheckpoints(f.dir).size(), 1u);
}

TEST(Checkpoint, FlippedByteNamesTheTensor) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  std::string bytes = readFile(path + "/tensors.bin");
  bytes[13] ^= 0x10; // inside proj.w.m (bytes 12..19)
  writeFile(path + "/tensors.bin", bytes);
  std::string err = loadError(f.model.desc, path);
  EXPECT_EQ(err.rfind("checkpoint " + path + ": tensor 'proj.w.m' fails its checksum in "
                      "tensors.bin (CRC-32C 0x", 0), 0u) << err;
  EXPECT_NE(err.find("the file is corrupt"), std::string::npos) << err;
}

TEST(Checkpoint, TruncatedTensorsFile) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  std::string bytes = readFile(path + "/tensors.bin");
  writeFile(path + "/tensors.bin", bytes.substr(0, 30));
  EXPECT_EQ(loadError(f.model.desc, path),
            "checkpoint " + path + ": tensors.bin has 30 bytes, the manifest says 36 (truncated "
            "or corrupt)");
}

TEST(Checkpoint, TruncatedOrGarbledManifest) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  std::string manifest = readFile(path + "/manifest.bin");
  const std::string expected = "checkpoint " + path + ": manifest.bin is corrupt or truncated (it "
                               "does not verify as a checkpoint manifest)";
  for (size_t keep : {size_t(0), size_t(4), size_t(20), manifest.size() / 2, manifest.size() - 8}) {
    writeFile(path + "/manifest.bin", manifest.substr(0, keep));
    EXPECT_EQ(loadError(f.model.desc, path), expected) << "kept " << keep << " bytes";
  }
  // Random garbage of the right size (the identifier intact) must not crash either.
  std::string garbled = manifest;
  for (size_t i = 8; i < garbled.size(); i += 3)
    garbled[i] = char(0xA5 ^ garbled[i]);
  writeFile(path + "/manifest.bin", garbled);
  EXPECT_NE(loadError(f.model.desc, path), "");
}

TEST(Checkpoint, NoFlippedManifestByteCrashes) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  const std::string manifest = readFile(path + "/manifest.bin");
  for (size_t i = 0; i < manifest.size(); ++i)
    for (unsigned char flip : {0x01, 0x80, 0xFF}) {
      std::string bad = manifest;
      bad[i] = char(bad[i] ^ flip);
      writeFile(path + "/manifest.bin", bad);
      std::vector<char> arena(kArena, 0);
      try {
        loadCheckpoint(f.model.desc, arena.data(), path); // harmless flips (e.g. the step) load
      } catch (const CheckpointError &e) {
        EXPECT_EQ(std::string(e.what()).rfind("checkpoint " + path + ": ", 0), 0u) << e.what();
      }
    }
}

TEST(Checkpoint, ShapeMismatchSaysWhatDiffers) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  LinearModel wider({1, 3});
  EXPECT_EQ(loadError(wider.desc, path),
            "checkpoint " + path + ": checkpoint tensor 'proj.w' has shape [1, 2], this model "
                                   "has [1, 3]");
}

TEST(Checkpoint, OtherModelOrSourceIsRefused) {
  Fixture f;
  std::string path = saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  LinearModel other({1, 2}, "quadratic");
  EXPECT_EQ(loadError(other.desc, path), "checkpoint " + path + ": it is a checkpoint of model "
                                                                "'linear', this executable trains "
                                                                "'quadratic'");
  LinearModel changed({1, 2}, "linear", 0x99);
  EXPECT_EQ(loadError(changed.desc, path),
            "checkpoint " + path + ": written by a build of 'linear' with source hash "
                                   "0x000000001234abcd, this executable has 0x0000000000000099 "
                                   "(the .ingot source or its --set overrides changed)");
  LinearModel f64({1, 2});
  f64.desc.computeType = DType::f64;
  EXPECT_EQ(loadError(f64.desc, path), "checkpoint " + path + ": written with compute dtype f32, "
                                                              "this executable computes in f64");
  LinearModel renamed;
  renamed.params[1].value.name = "proj.bias";
  EXPECT_EQ(loadError(renamed.desc, path),
            "checkpoint " + path + ": this model's tensor 'proj.bias' (f32 [1]) is not in the "
                                   "checkpoint");
}

TEST(Checkpoint, MissingDirectory) {
  LinearModel model;
  std::string dir = makeTempDir();
  std::string err = loadError(model.desc, dir + "/step_00000001");
  EXPECT_EQ(err, "checkpoint " + dir + "/step_00000001: cannot open: No such file or directory");
}

TEST(Checkpoint, LatestIgnoresTemporaryDirectoriesAndPruneKeepsNewest) {
  Fixture f;
  for (int64_t step : {5, 20, 100}) {
    f.state.step = step;
    saveCheckpoint(f.model.desc, f.arena.data(), f.dir, f.state);
  }
  ASSERT_EQ(::mkdir((f.dir + "/step_00000200.tmp-1234").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((f.dir + "/step_notastep").c_str(), 0755), 0);
  EXPECT_EQ(findLatestCheckpoint(f.dir), f.dir + "/step_00000100");
  EXPECT_EQ(findLatestCheckpoint(f.dir + "/nothing-here"), "");
  pruneCheckpoints(f.dir, 2);
  auto list = listCheckpoints(f.dir);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].first, 20);
  EXPECT_EQ(list[1].first, 100);
}

} // namespace
