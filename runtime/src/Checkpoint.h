//===- Checkpoint.h - Checkpoint directories ---------------------*- C++ -*-===//
//
//   <ckpt-dir>/step_00000100/manifest.bin   flatbuffers (schema/checkpoint.fbs): model name,
//                                           source hash, target, compute dtype, step, data
//                                           position, RNG state, layout, and per tensor: name,
//                                           dtype, shape, offset, bytes, CRC-32C
//   <ckpt-dir>/step_00000100/tensors.bin    raw bytes: every parameter's value, then every m,
//                                           then every v, in ModelDesc order, back to back
//
// Written under step_00000100.tmp-<pid>/, both files and the directory fsynced, renamed to the
// final name, then the parent fsynced: a step_* directory exists only when it is complete.
//
// Test hook: INGOT_CRASH_POINT=mid-tensor|before-fsync|before-rename makes saveCheckpoint raise
// SIGKILL on its own process at that point (mid-tensor: halfway through writing the middle
// tensor of tensors.bin; before-fsync: manifest.bin written, not yet fsynced; before-rename:
// the temporary directory complete and fsynced, not yet renamed). test/e2e/kill.test uses it
// to check that a run killed there resumes from the newest complete checkpoint.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CHECKPOINT_H
#define INGOT_RT_CHECKPOINT_H

#include "DataLoader.h"
#include "ingot/rt/Model.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ingot::rt {

/// What saveCheckpoint writes; loadCheckpoint reads every version from 1 (schema/checkpoint.fbs).
constexpr uint32_t kCheckpointFormatVersion = 2;

/// Everything besides the tensors that a resumed run needs to continue bit for bit.
struct TrainState {
  int64_t step = 0;        // the last completed optimizer step
  DataPosition data;       // where the training loader reads next
  uint64_t seed = 0;       // the run's seed
  uint64_t rngCounter = 0; // random draws taken since init (none yet: no dropout)
  DataOrder dataOrder;     // how the training loader orders the data
  /// The token count of each --data file (sorted order) the run read; empty when the
  /// checkpoint predates format 2 (then nothing can be compared).
  std::vector<int64_t> shardTokens;
  int64_t skippedSteps = 0; // steps up to `step` whose update --on-nonfinite=skip dropped
};

/// CRC-32C (Castagnoli), as in iSCSI/ext4: crc32c("123456789") = 0xE3069283. Chain calls by
/// passing the previous result as `crc`.
uint32_t crc32c(const void *data, size_t size, uint32_t crc = 0);

/// "step_00000100"
std::string checkpointName(int64_t step);

/// Writes the checkpoint of `state.step` into ckptDir (created if missing) and returns its
/// final path. Replaces an existing checkpoint of the same step. Throws CheckpointError.
std::string saveCheckpoint(const ModelDesc &model, const char *arena, const std::string &ckptDir,
                           const TrainState &state);

/// Reads the checkpoint directory `path` into the arena (values, m, v) after checking that it
/// belongs to this model, and returns its state. Throws CheckpointError naming `path` and
/// exactly what differs or is corrupt.
TrainState loadCheckpoint(const ModelDesc &model, char *arena, const std::string &path);

/// Verifies a manifest.bin held in memory (size bytes at data) and checks it against the
/// model: format version, model name, source hash, compute dtype, layout, and every tensor by
/// name, dtype, shape and size. Returns its state; touches no file.
/// Throws CheckpointError naming `path`. loadCheckpoint uses it; so does the fuzzer
/// (test/fuzz/CheckpointManifestFuzzer.cpp).
TrainState parseManifest(const ModelDesc &model, const void *data, size_t size,
                         const std::string &path);

/// The complete step_* directories in ckptDir (ignoring *.tmp-*), by ascending step.
std::vector<std::pair<int64_t, std::string>> listCheckpoints(const std::string &ckptDir);

/// The newest complete checkpoint in ckptDir, or "" when there is none.
std::string findLatestCheckpoint(const std::string &ckptDir);

/// Removes all but the newest `keep` checkpoints (keep > 0).
void pruneCheckpoints(const std::string &ckptDir, int64_t keep);

/// Removes what crashed saves left in ckptDir: step_*.tmp-PID directories (never renamed, so
/// never a checkpoint) and step_*.old-PID ones whose step_* exists again, in both cases only
/// when process PID is gone (a live one may still be writing). Complete checkpoints are never
/// touched, so a save stays atomic. Returns the paths removed.
std::vector<std::string> removeStaleTemporaries(const std::string &ckptDir);

} // namespace ingot::rt

#endif // INGOT_RT_CHECKPOINT_H
