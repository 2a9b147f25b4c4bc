//===- DataLoader.cpp - llm.c token shards --------------------------------===//
#include "DataLoader.h"

#include "Error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ingot::rt {

// The directory glob() could not read, and why (for the GLOB_ABORTED message).
static thread_local std::string globErrorPath;
static thread_local int globErrno = 0;

static int globError(const char *path, int err) {
  globErrorPath = path;
  globErrno = err;
  return 1;
}

std::vector<std::string> globFiles(const std::string &pattern, const char *flag) {
  glob_t g;
  std::memset(&g, 0, sizeof(g));
  globErrorPath.clear();
  globErrno = 0;
  int rc = ::glob(pattern.c_str(), GLOB_ERR, globError, &g);
  std::vector<std::string> files;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i)
      files.push_back(g.gl_pathv[i]);
  globfree(&g);
  if (rc == GLOB_NOSPACE)
    throw DataError(format("%s '%s': out of memory while matching files", flag, pattern.c_str()));
  if (rc == GLOB_ABORTED)
    throw DataError(format("%s '%s': cannot read directory '%s': %s", flag, pattern.c_str(),
                           globErrorPath.c_str(), std::strerror(globErrno)));
  if (files.empty())
    throw DataError(format("%s '%s': no file matches", flag, pattern.c_str()));
  std::sort(files.begin(), files.end());
  return files;
}

// Reads exactly `size` bytes at `offset`, or throws naming `path`.
static void preadAll(int fd, void *dst, size_t size, int64_t offset, const std::string &path) {
  char *p = static_cast<char *>(dst);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw DataError(format("%s: read failed: %s", path.c_str(), std::strerror(errno)));
    if (n == 0)
      throw DataError(format("%s: unexpected end of file at byte %lld (was it truncated while "
                             "training?)", path.c_str(), (long long)offset));
    p += n;
    size -= size_t(n);
    offset += n;
  }
}

Shard readShardHeader(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw DataError(format("%s: cannot open: %s", path.c_str(), std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw DataError(format("%s: cannot stat: %s", path.c_str(), std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw DataError(format("%s: not a regular file", path.c_str()));
  }
  const int64_t headerBytes = kShardHeaderInts * 4;
  int64_t fileBytes = st.st_size;
  int32_t header[kShardHeaderInts] = {};
  try {
    if (fileBytes >= headerBytes)
      preadAll(fd, header, sizeof(header), 0, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return parseShardHeader(header, fileBytes, path);
}

Shard parseShardHeader(const void *headerBytesPtr, int64_t fileBytes, const std::string &path) {
  const int64_t headerBytes = kShardHeaderInts * 4;
  if (fileBytes < headerBytes)
    throw DataError(format("%s: %lld bytes is too short for the %lld-byte shard header", path.c_str(),
                           (long long)fileBytes, (long long)headerBytes));
  int32_t header[kShardHeaderInts];
  std::memcpy(header, headerBytesPtr, sizeof(header));

  Shard shard;
  shard.path = path;
  if (header[0] == kShardMagicU16) {
    if (header[1] != kShardVersionU16)
      throw DataError(format("%s: magic %d (uint16 tokens) needs version %d, found version %d",
                             path.c_str(), kShardMagicU16, kShardVersionU16, header[1]));
    shard.tokenBytes = 2;
  } else if (header[0] == kShardMagicU32) {
    if (header[1] != kShardVersionU32)
      throw DataError(format("%s: magic %d (uint32 tokens) needs version %d, found version %d",
                             path.c_str(), kShardMagicU32, kShardVersionU32, header[1]));
    shard.tokenBytes = 4;
  } else {
    throw DataError(format("%s: not a token shard: expected magic %d or %d in the header, found %d",
                           path.c_str(), kShardMagicU16, kShardMagicU32, header[0]));
  }
  if (header[2] < 0)
    throw DataError(format("%s: the header's token count is negative (%d)", path.c_str(), header[2]));
  shard.tokens = header[2];
  int64_t expected = headerBytes + shard.tokens * shard.tokenBytes;
  if (fileBytes != expected)
    throw DataError(format("%s: the header says %lld tokens (%lld bytes with the header), but the "
                           "file has %lld bytes", path.c_str(), (long long)shard.tokens,
                           (long long)expected, (long long)fileBytes));
  return shard;
}

//===----------------------------------------------------------------------===//
// The data order: counter-based, platform-independent permutations (DataLoader.h).
//===----------------------------------------------------------------------===//

namespace {

// splitmix64's output function: a bijective 64-bit mix with good avalanche.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The stream of one permutation. The key folds in a domain tag so that the data order never
// shares a stream with the parameter init, which draws from the same --seed.
class PermutationRng {
public:
  PermutationRng(uint64_t seed, int64_t epoch, int64_t file) {
    const uint64_t kDataDomain = 0x64617461'6F726472ull; // "dataordr"
    state_ = mix64(mix64(mix64(seed ^ kDataDomain) ^ uint64_t(epoch)) ^ uint64_t(file + 1));
  }
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    return mix64(state_);
  }
  /// Uniform in [0, n) exactly: draws below 2^64 mod n are rejected, so every value has the
  /// same number of preimages (std::uniform_int_distribution is implementation-defined).
  uint64_t below(uint64_t n) {
    const uint64_t reject = (0 - n) % n;
    uint64_t r;
    do
      r = next();
    while (r < reject);
    return r % n;
  }

private:
  uint64_t state_;
};

// Fisher-Yates over 0..n-1.
std::vector<int64_t> permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t file) {
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    out[size_t(i)] = i;
  PermutationRng rng(seed, epoch, file);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(out[size_t(i)], out[size_t(rng.below(uint64_t(i) + 1))]);
  return out;
}

} // namespace

DataLoader::DataLoader(const std::string &pattern, const char *flag, int64_t batch, int64_t seqLen,
                       int64_t vocab, DataOrder order)
    : batch_(batch), seqLen_(seqLen), vocab_(vocab), order_(order) {
  const int64_t need = batch * seqLen + 1;
  for (const std::string &path : globFiles(pattern, flag)) {
    Shard shard = readShardHeader(path);
    if (shard.tokens < need)
      throw DataError(format("%s: has %lld tokens, but one batch needs B*T+1 = %lld*%lld+1 = %lld",
                             path.c_str(), (long long)shard.tokens, (long long)batch,
                             (long long)seqLen, (long long)need));
    shards_.push_back(shard);
  }
  buffer_.resize(size_t(need) * 4);
}

DataLoader::~DataLoader() {
  if (fd_ >= 0)
    ::close(fd_);
}

// floor(R / B) with R = (N - 1) / T rows: the same as llm.c's floor((N - 1) / (B * T)).
int64_t DataLoader::batchesIn(int64_t file) const {
  return (shards_[size_t(file)].tokens - 1) / seqLen_ / batch_;
}

int64_t DataLoader::batchesPerEpoch() const {
  int64_t n = 0;
  for (size_t i = 0; i < shards_.size(); ++i)
    n += batchesIn(int64_t(i));
  return n;
}

std::vector<int64_t> DataLoader::shardOrder(int64_t epoch) const {
  const int64_t n = int64_t(shards_.size());
  if (order_.shuffle)
    return permutation(n, order_.seed, epoch, /*file=*/-1);
  std::vector<int64_t> identity(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    identity[size_t(i)] = i;
  return identity;
}

std::vector<int64_t> DataLoader::rowOrder(int64_t epoch, int64_t file) const {
  if (!order_.shuffle)
    return {};
  return permutation((shards_[size_t(file)].tokens - 1) / seqLen_, order_.seed, epoch, file);
}

void DataLoader::setOrder(const DataOrder &order) {
  order_ = order;
  epochOfShards_ = epochOfRows_ = fileOfRows_ = -1;
}

void DataLoader::syncOrders() {
  if (epochOfShards_ != pos_.epoch) {
    shardOrder_ = shardOrder(pos_.epoch);
    epochOfShards_ = pos_.epoch;
  }
  const int64_t file = shardOrder_[size_t(pos_.shard)];
  if (order_.shuffle && (epochOfRows_ != pos_.epoch || fileOfRows_ != file)) {
    rowOrder_ = rowOrder(pos_.epoch, file);
    epochOfRows_ = pos_.epoch;
    fileOfRows_ = file;
  }
}

int64_t DataLoader::currentShardFile() {
  syncOrders();
  return shardOrder_[size_t(pos_.shard)];
}

int64_t DataLoader::batchesLeftInEpoch() {
  syncOrders();
  int64_t left = batchesIn(shardOrder_[size_t(pos_.shard)]) - pos_.offset / (batch_ * seqLen_);
  for (size_t slot = size_t(pos_.shard) + 1; slot < shardOrder_.size(); ++slot)
    left += batchesIn(shardOrder_[slot]);
  return left;
}

void DataLoader::setPosition(const DataPosition &pos) {
  const int64_t bt = batch_ * seqLen_;
  bool fits = pos.shard >= 0 && pos.shard < int64_t(shards_.size()) && pos.offset >= 0 &&
              pos.epoch >= 0 && pos.offset % bt == 0;
  if (fits) {
    pos_ = DataPosition{pos.shard, 0, pos.epoch};
    fits = pos.offset / bt < batchesIn(currentShardFile());
  }
  if (!fits) {
    pos_ = DataPosition();
    throw DataError(format("the saved data position (shard %lld, token %lld) does not fit the %zu "
                           "shard(s) given (did the data files change since the checkpoint?)",
                           (long long)pos.shard, (long long)pos.offset, shards_.size()));
  }
  pos_ = pos;
}

void DataLoader::openShard(int64_t index) {
  if (fdShard_ == index)
    return;
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  fdShard_ = -1;
  const std::string &path = shards_[size_t(index)].path;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    throw DataError(format("%s: cannot open: %s", path.c_str(), std::strerror(errno)));
  fdShard_ = index;
}

void DataLoader::readTokens(int64_t start, int64_t count, int32_t *out) {
  const Shard &shard = shards_[size_t(fdShard_)];
  preadAll(fd_, buffer_.data(), size_t(count) * size_t(shard.tokenBytes),
           kShardHeaderInts * 4 + start * shard.tokenBytes, shard.path);
  for (int64_t i = 0; i < count; ++i) {
    uint32_t token;
    if (shard.tokenBytes == 2) {
      uint16_t t;
      std::memcpy(&t, buffer_.data() + 2 * i, 2);
      token = t;
    } else {
      std::memcpy(&token, buffer_.data() + 4 * i, 4);
    }
    if (int64_t(token) >= vocab_)
      throw DataError(format("%s: token %u at index %lld is outside the model's vocabulary of "
                             "%lld (expected < %lld)", shard.path.c_str(), token,
                             (long long)(start + i), (long long)vocab_, (long long)vocab_));
    out[i] = int32_t(token);
  }
}

void DataLoader::next(int32_t *inputs, int32_t *targets) {
  const int64_t bt = batch_ * seqLen_;
  // pos_ always names a readable batch: the constructor starts at (0, 0), setPosition checks,
  // and the advance below moves to the next shard when this one has no whole batch left.
  const int64_t file = currentShardFile();
  openShard(file);
  const int64_t batchIndex = pos_.offset / bt;
  std::vector<int32_t> &row = rowTokens_;
  if (!order_.shuffle) {
    // The batch's rows are consecutive: one read of B*T+1 tokens.
    row.resize(size_t(bt + 1));
    readTokens(pos_.offset, bt + 1, row.data());
    std::memcpy(inputs, row.data(), size_t(bt) * 4);
    std::memcpy(targets, row.data() + 1, size_t(bt) * 4);
  } else {
    row.resize(size_t(seqLen_ + 1));
    for (int64_t b = 0; b < batch_; ++b) {
      const int64_t r = rowOrder_[size_t(batchIndex * batch_ + b)];
      readTokens(r * seqLen_, seqLen_ + 1, row.data());
      std::memcpy(inputs + b * seqLen_, row.data(), size_t(seqLen_) * 4);
      std::memcpy(targets + b * seqLen_, row.data() + 1, size_t(seqLen_) * 4);
    }
  }
  pos_.offset += bt;
  // Keep the saved position pointing at a readable batch, so a checkpoint taken now names
  // where the next batch really starts.
  if (batchIndex + 1 >= batchesIn(file)) {
    pos_.offset = 0;
    if (++pos_.shard == int64_t(shards_.size())) {
      pos_.shard = 0;
      ++pos_.epoch;
    }
  }
}

} // namespace ingot::rt
