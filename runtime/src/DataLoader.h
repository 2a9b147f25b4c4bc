//===- DataLoader.h - llm.c token shards -------------------------*- C++ -*-===//
//
// A shard is a 256 x int32 header and then the tokens:
//   header[0] = 20240520, header[1] = 1: uint16 tokens      (llm.c's GPT-2 shards)
//   header[0] = 20240801, header[1] = 7: uint32 tokens      (vocabularies past 65,535)
//   header[2] = the token count; the file is exactly 1024 + count * token size bytes.
// Every file the glob matches is validated when the loader opens (header, version, exact size,
// at least one batch), and every token is checked against the vocabulary as it is read.
//
// Batches as in llm.c: read B*T+1 consecutive tokens; inputs are the first B*T, targets the same
// shifted by one; advance by B*T. When the rest of a shard is shorter than B*T+1 the loader goes
// to the next shard, and after the last back to the first (one epoch more). The position before
// each read (shard, offset, epoch) is all the state there is, so resume restores it exactly.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_DATALOADER_H
#define INGOT_RT_DATALOADER_H

#include <cstdint>
#include <string>
#include <vector>

namespace ingot::rt {

constexpr int32_t kShardMagicU16 = 20240520;
constexpr int32_t kShardVersionU16 = 1;
constexpr int32_t kShardMagicU32 = 20240801;
constexpr int32_t kShardVersionU32 = 7;
constexpr int kShardHeaderInts = 256;

struct DataPosition {
  int64_t shard = 0;   // index into the sorted file list
  int64_t offset = 0;  // token index of the next read inside that shard
  int64_t epoch = 0;   // completed passes over all shards
};

struct Shard {
  std::string path;
  int tokenBytes = 2;  // 2 (uint16) or 4 (uint32)
  int64_t tokens = 0;
};

/// The files matching `pattern`, sorted. Throws DataError when nothing matches.
std::vector<std::string> globFiles(const std::string &pattern, const char *flag);

/// Reads and validates one shard's header against its file size. Throws DataError naming the
/// file and what is wrong.
Shard readShardHeader(const std::string &path);

/// The checks of readShardHeader on a header held in memory: `header` holds the file's first
/// 1024 bytes (read only when fileBytes >= 1024), `fileBytes` is the file's size. Touches no
/// file; used by readShardHeader and the fuzzer (test/fuzz/ShardHeaderFuzzer.cpp).
Shard parseShardHeader(const void *header, int64_t fileBytes, const std::string &path);

class DataLoader {
public:
  /// Opens every file matching `pattern` (`flag` names the flag in messages, e.g. "--data").
  DataLoader(const std::string &pattern, const char *flag, int64_t batch, int64_t seqLen,
             int64_t vocab);
  ~DataLoader();
  DataLoader(const DataLoader &) = delete;
  DataLoader &operator=(const DataLoader &) = delete;

  /// Fills inputs and targets (int32 [batch * seqLen] each) and advances.
  void next(int32_t *inputs, int32_t *targets);

  DataPosition position() const { return pos_; }
  /// Restores a saved position; throws DataError if it does not fit these shards.
  void setPosition(const DataPosition &pos);
  void reset() { pos_ = DataPosition(); }

  const std::vector<Shard> &shards() const { return shards_; }
  /// How many batches one pass over every shard gives.
  int64_t batchesPerEpoch() const;

private:
  void openShard(int64_t index);

  std::vector<Shard> shards_;
  int64_t batch_, seqLen_, vocab_;
  DataPosition pos_;
  int fd_ = -1;             // the open shard (pos_.shard) or -1
  int64_t fdShard_ = -1;
  std::vector<uint8_t> buffer_;
};

} // namespace ingot::rt

#endif // INGOT_RT_DATALOADER_H
