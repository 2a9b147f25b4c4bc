//===- DataLoader.h - llm.c token shards -------------------------*- C++ -*-===//
//
// A shard is a 256 x int32 header and then the tokens:
//   header[0] = 20240520, header[1] = 1: uint16 tokens      (llm.c's GPT-2 shards)
//   header[0] = 20240801, header[1] = 7: uint32 tokens      (vocabularies past 65,535)
//   header[2] = the token count; the file is exactly 1024 + count * token size bytes.
// Every file the glob matches is validated when the loader opens (header, version, exact size,
// at least one batch), and every token is checked against the vocabulary as it is read.
//
// What a batch is. A shard of N tokens holds R = (N - 1) / T sequences ("rows"): row r is the
// T + 1 tokens starting at token r * T (inputs are its first T, targets the same shifted by
// one). A batch is B rows; a shard gives floor(R / B) batches per pass and its last R mod B rows
// sit that pass out. An epoch is one pass over every shard.
//
// The order (DataOrder). Unshuffled (--shuffle off, the default): shards in sorted file order,
// rows in file order, so batch k of a shard is its B*T+1 consecutive tokens from k*B*T; this is
// llm.c's reading order, which the PyTorch reference tests rely on. Shuffled (--shuffle on):
// each epoch has its own permutation of the shards, and each (epoch, shard) its own
// permutation of that shard's R rows; batch k of a shard is rows perm[k*B .. k*B+B). Nothing
// else moves: tokens inside a row keep their order, and a row never mixes shards. A new epoch
// is reshuffled (its permutations differ), and because a shard's leftover rows are the last
// R mod B of its permutation, a different few rows sit out each epoch.
//
// The permutations are pure functions of (seed, epoch) and (seed, epoch, shard index): a
// Fisher-Yates shuffle driven by a counter-based generator (splitmix64 of a key hashed from
// those numbers) with exact rejection sampling, so they are the same on every platform,
// compiler and thread count, and the loader has no hidden generator state. Its whole state is
// the order (shuffle, seed) and the position (epoch, shard, offset), which checkpoints save.
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

/// Where the next batch comes from. The same three numbers mean the same thing in both orders
/// (and in checkpoints written before shuffling existed, which are unshuffled).
struct DataPosition {
  int64_t shard = 0;   // shards of this epoch's order already done (= the file index unshuffled)
  int64_t offset = 0;  // tokens of that shard already read this epoch: batches done x B x T
  int64_t epoch = 0;   // completed passes over all shards
};

/// How the loader orders the data (see above). Checkpoints save it with the position.
struct DataOrder {
  bool shuffle = false;
  uint64_t seed = 0;   // the run's --seed; ignored unshuffled
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
             int64_t vocab, DataOrder order = DataOrder());
  ~DataLoader();
  DataLoader(const DataLoader &) = delete;
  DataLoader &operator=(const DataLoader &) = delete;

  /// Fills inputs and targets (int32 [batch * seqLen] each) and advances.
  void next(int32_t *inputs, int32_t *targets);

  DataPosition position() const { return pos_; }
  /// Restores a saved position; throws DataError if it does not fit these shards.
  void setPosition(const DataPosition &pos);
  void reset() { pos_ = DataPosition(); }

  const DataOrder &order() const { return order_; }
  /// Changes the order (a resumed run continues its checkpoint's); call setPosition after.
  void setOrder(const DataOrder &order);

  const std::vector<Shard> &shards() const { return shards_; }
  /// The index into shards() of the file the next batch comes from.
  int64_t currentShardFile();
  /// How many batches one pass over every shard gives.
  int64_t batchesPerEpoch() const;
  /// How many batches are left before the current epoch ends (at least 1).
  int64_t batchesLeftInEpoch();

  /// The shard-file order of `epoch` (the identity unshuffled), and the row order of file
  /// `file` in `epoch` (empty unshuffled: rows in file order). Exposed for tests and docs.
  std::vector<int64_t> shardOrder(int64_t epoch) const;
  std::vector<int64_t> rowOrder(int64_t epoch, int64_t file) const;

private:
  void openShard(int64_t index);
  int64_t batchesIn(int64_t file) const;
  /// Brings the cached shard and row orders to pos_ (recomputed only when epoch/shard change).
  void syncOrders();
  /// Reads `count` tokens at token index `start` of the open shard into `out`, checking each
  /// against the vocabulary.
  void readTokens(int64_t start, int64_t count, int32_t *out);

  std::vector<Shard> shards_;
  int64_t batch_, seqLen_, vocab_;
  DataOrder order_;
  DataPosition pos_;
  int fd_ = -1;             // the open shard file or -1
  int64_t fdShard_ = -1;
  std::vector<uint8_t> buffer_;
  std::vector<int32_t> rowTokens_; // one read's tokens (B*T+1 unshuffled, T+1 shuffled)
  // Cached orders: shardOrder(epochOfShards_) and rowOrder(epochOfRows_, fileOfRows_).
  std::vector<int64_t> shardOrder_, rowOrder_;
  int64_t epochOfShards_ = -1, epochOfRows_ = -1, fileOfRows_ = -1;
};

} // namespace ingot::rt

#endif // INGOT_RT_DATALOADER_H
