//===- ShardHeaderFuzzer.cpp - libFuzzer target for the shard header ------===//
//
// The input is a whole token shard: its first 1024 bytes (zero-padded when shorter) and its
// size through parseShardHeader. DataError is expected, crashes and sanitizer reports are not.
//
//===----------------------------------------------------------------------===//
#include "src/DataLoader.h"
#include "src/Error.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t header[1024] = {};
  std::memcpy(header, data, size < sizeof(header) ? size : sizeof(header));
  try {
    ingot::rt::Shard shard = ingot::rt::parseShardHeader(header, int64_t(size), "fuzz.bin");
    if (shard.tokenBytes != 2 && shard.tokenBytes != 4)
      __builtin_trap();
    if (1024 + shard.tokens * shard.tokenBytes != int64_t(size))
      __builtin_trap();
  } catch (const ingot::rt::DataError &) {
  }
  return 0;
}
