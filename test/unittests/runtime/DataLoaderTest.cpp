//===- DataLoaderTest.cpp - llm.c token shards ----------------------------===//
#include "RuntimeTestUtil.h"
#include "src/DataLoader.h"
#include "src/Error.h"

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

std::vector<uint32_t> iota(int64_t n, uint32_t start = 0) {
  std::vector<uint32_t> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(uint32_t(start + i));
  return out;
}

// The message of the DataError that opening `pattern` (and reading one batch) raises.
std::string openError(const std::string &pattern, int64_t vocab = 1 << 20) {
  try {
    DataLoader loader(pattern, "--data", 2, 4, vocab);
    std::vector<int32_t> x(8), y(8);
    loader.next(x.data(), y.data());
  } catch (const DataError &e) {
    EXPECT_EQ(e.exitCode(), 1);
    return e.what();
  }
  return "";
}

TEST(DataLoader, Uint16ShardGivesShiftedBatches) {
  std::string dir = makeTempDir();
  writeShard(dir + "/a.bin", iota(20));
  DataLoader loader(dir + "/a.bin", "--data", 2, 4, 100);
  ASSERT_EQ(loader.shards().size(), 1u);
  EXPECT_EQ(loader.shards()[0].tokenBytes, 2);
  EXPECT_EQ(loader.shards()[0].tokens, 20);
  std::vector<int32_t> x(8), y(8);
  loader.next(x.data(), y.data());
  EXPECT_EQ(x, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(y, (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  loader.next(x.data(), y.data());
  EXPECT_EQ(x, (std::vector<int32_t>{8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(y, (std::vector<int32_t>{9, 10, 11, 12, 13, 14, 15, 16}));
  // 20 tokens hold two batches of 8+1: the third wraps to the start, one epoch later.
  loader.next(x.data(), y.data());
  EXPECT_EQ(x[0], 0);
  EXPECT_EQ(loader.position().epoch, 1);
}

TEST(DataLoader, Uint32ShardReadsLargeTokens) {
  std::string dir = makeTempDir();
  writeShard(dir + "/a.bin", iota(9, 70000), ShardHeader(), /*u32=*/true);
  DataLoader loader(dir + "/a.bin", "--data", 2, 4, 100000);
  EXPECT_EQ(loader.shards()[0].tokenBytes, 4);
  std::vector<int32_t> x(8), y(8);
  loader.next(x.data(), y.data());
  EXPECT_EQ(x[0], 70000);
  EXPECT_EQ(y[7], 70008);
}

TEST(DataLoader, SortedShardsNextShardAndPositionRestore) {
  std::string dir = makeTempDir();
  writeShard(dir + "/train_001.bin", iota(12, 100)); // one batch (9 tokens), 3 left over
  writeShard(dir + "/train_000.bin", iota(20, 0));   // two batches
  DataLoader loader(dir + "/train_*.bin", "--data", 2, 4, 1000);
  ASSERT_EQ(loader.shards().size(), 2u);
  EXPECT_EQ(loader.shards()[0].path, dir + "/train_000.bin");
  EXPECT_EQ(loader.batchesPerEpoch(), 3);
  std::vector<int32_t> x(8), y(8);
  std::vector<int32_t> firsts;
  std::vector<DataPosition> positions;
  for (int i = 0; i < 7; ++i) {
    positions.push_back(loader.position());
    loader.next(x.data(), y.data());
    firsts.push_back(x[0]);
  }
  EXPECT_EQ(firsts, (std::vector<int32_t>{0, 8, 100, 0, 8, 100, 0}));
  EXPECT_EQ(loader.position().epoch, 2);
  EXPECT_EQ(positions[2].shard, 1);
  EXPECT_EQ(positions[2].offset, 0);

  // A fresh loader set to a saved position continues identically.
  DataLoader again(dir + "/train_*.bin", "--data", 2, 4, 1000);
  again.setPosition(positions[4]);
  again.next(x.data(), y.data());
  EXPECT_EQ(x[0], 8);
  EXPECT_EQ(again.position().shard, 1);
  EXPECT_EQ(again.position().epoch, 1);

  DataPosition bad;
  bad.shard = 5;
  EXPECT_THROW(again.setPosition(bad), DataError);
}

TEST(DataLoader, GlobMatchingNothing) {
  std::string dir = makeTempDir();
  EXPECT_EQ(openError(dir + "/nothing_*.bin"), "--data '" + dir + "/nothing_*.bin': no file matches");
}

TEST(DataLoader, TruncatedFile) {
  std::string dir = makeTempDir();
  std::string path = dir + "/a.bin";
  writeShard(path, iota(20));
  std::string bytes = readFile(path);
  writeFile(path, bytes.substr(0, bytes.size() - 3));
  EXPECT_EQ(openError(path), path + ": the header says 20 tokens (1064 bytes with the header), "
                                    "but the file has 1061 bytes");
  writeFile(path, bytes.substr(0, 100));
  EXPECT_EQ(openError(path), path + ": 100 bytes is too short for the 1024-byte shard header");
}

TEST(DataLoader, WrongMagic) {
  std::string dir = makeTempDir();
  std::string path = dir + "/a.bin";
  ShardHeader h;
  h.magic = 12345;
  writeShard(path, iota(20), h);
  EXPECT_EQ(openError(path), path + ": not a token shard: expected magic 20240520 or 20240801 in "
                                    "the header, found 12345");
}

TEST(DataLoader, WrongVersion) {
  std::string dir = makeTempDir();
  std::string path = dir + "/a.bin";
  ShardHeader h;
  h.version = 7;
  writeShard(path, iota(20), h);
  EXPECT_EQ(openError(path),
            path + ": magic 20240520 (uint16 tokens) needs version 1, found version 7");
  ShardHeader h32;
  h32.magic = 20240801;
  h32.version = 1;
  writeShard(path, iota(20), h32, /*u32=*/true);
  EXPECT_EQ(openError(path),
            path + ": magic 20240801 (uint32 tokens) needs version 7, found version 1");
}

TEST(DataLoader, TokenCountDisagreesWithSize) {
  std::string dir = makeTempDir();
  std::string path = dir + "/a.bin";
  ShardHeader h;
  h.count = 25;
  writeShard(path, iota(20), h);
  EXPECT_EQ(openError(path), path + ": the header says 25 tokens (1074 bytes with the header), "
                                    "but the file has 1064 bytes");
}

TEST(DataLoader, TokenOutsideTheVocabulary) {
  std::string dir = makeTempDir();
  std::string path = dir + "/a.bin";
  std::vector<uint32_t> tokens(20, 3);
  tokens[5] = 300;
  writeShard(path, tokens);
  EXPECT_EQ(openError(path, 256), path + ": token 300 at index 5 is outside the model's "
                                         "vocabulary of 256 (expected < 256)");
}

TEST(DataLoader, ShardShorterThanOneBatch) {
  std::string dir = makeTempDir();
  std::string path = dir + "/a.bin";
  writeShard(path, iota(8));
  EXPECT_EQ(openError(path), path + ": has 8 tokens, but one batch needs B*T+1 = 2*4+1 = 9");
}

} // namespace
