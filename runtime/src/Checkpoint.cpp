//===- Checkpoint.cpp - Checkpoint directories ----------------------------===//
#include "Checkpoint.h"

#include "Error.h"
#include "ModelUtil.h"
#include "checkpoint_generated.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <csignal>
#include <cstdlib>
#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace ingot::rt {

//===----------------------------------------------------------------------===//
// CRC-32C, slice-by-8 (software, so it runs everywhere; about 2 GB/s).
//===----------------------------------------------------------------------===//

namespace {
struct Crc32cTables {
  uint32_t t[8][256];
  Crc32cTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s)
        t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};
const Crc32cTables &crcTables() {
  static const Crc32cTables tables;
  return tables;
}
} // namespace

uint32_t crc32c(const void *data, size_t size, uint32_t crc) {
  const uint32_t(*t)[256] = crcTables().t;
  const uint8_t *p = static_cast<const uint8_t *>(data);
  crc = ~crc;
  while (size >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc; // little-endian hosts only (x86-64, aarch64)
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0)
    crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
  return ~crc;
}

//===----------------------------------------------------------------------===//
// Files.
//===----------------------------------------------------------------------===//

std::string checkpointName(int64_t step) { return format("step_%08lld", (long long)step); }

static std::string sysError(const char *what, const std::string &path) {
  return format("%s %s: %s", what, path.c_str(), std::strerror(errno));
}

static void writeAll(int fd, const void *data, size_t size, const std::string &path) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, std::min<size_t>(size, size_t(1) << 30));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw CheckpointError(sysError("cannot write", path));
    p += n;
    size -= size_t(n);
  }
}

static void readAll(int fd, void *data, size_t size, const std::string &path) {
  char *p = static_cast<char *>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, std::min<size_t>(size, size_t(1) << 30));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw CheckpointError(sysError("cannot read", path));
    if (n == 0)
      throw CheckpointError(format("%s: unexpected end of file", path.c_str()));
    p += n;
    size -= size_t(n);
  }
}

static void fsyncPath(const std::string &path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    throw CheckpointError(sysError("cannot open", path));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  errno = err;
  if (rc != 0)
    throw CheckpointError(sysError("cannot fsync", path));
}

static void makeDirs(const std::string &path) {
  std::string partial;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string::npos)
      slash = path.size();
    partial = path.substr(0, slash);
    i = slash + 1;
    if (partial.empty())
      continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      throw CheckpointError(sysError("cannot create the checkpoint directory", partial));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw CheckpointError(format("--ckpt-dir %s: not a directory", path.c_str()));
}

static int removeEntry(const char *path, const struct stat *, int, struct FTW *) {
  return ::remove(path);
}

static void removeTree(const std::string &path) {
  if (::nftw(path.c_str(), removeEntry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    throw CheckpointError(sysError("cannot remove", path));
}

static bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

//===----------------------------------------------------------------------===//
// Save.
//===----------------------------------------------------------------------===//

// Test hook (Checkpoint.h): SIGKILL ourselves when INGOT_CRASH_POINT names `point`.
static void maybeCrash(const char *point) {
  static const char *wanted = std::getenv("INGOT_CRASH_POINT");
  if (wanted && std::strcmp(wanted, point) == 0)
    ::kill(::getpid(), SIGKILL);
}

// Values, then m, then v: a reader that wants only the weights reads the file's first part.
static std::vector<const TensorDesc *> checkpointTensors(const ModelDesc &model) {
  std::vector<const TensorDesc *> out;
  for (int i = 0; i < model.numParams; ++i)
    out.push_back(&model.params[i].value);
  for (int i = 0; i < model.numParams; ++i)
    out.push_back(&model.params[i].m);
  for (int i = 0; i < model.numParams; ++i)
    out.push_back(&model.params[i].v);
  return out;
}

std::string saveCheckpoint(const ModelDesc &model, const char *arena, const std::string &ckptDir,
                           const TrainState &state) {
  makeDirs(ckptDir);
  const std::string name = checkpointName(state.step);
  const std::string finalPath = ckptDir + "/" + name;
  const std::string tmpPath = finalPath + format(".tmp-%d", int(::getpid()));
  if (exists(tmpPath))
    removeTree(tmpPath);
  if (::mkdir(tmpPath.c_str(), 0755) != 0)
    throw CheckpointError(sysError("cannot create", tmpPath));

  // tensors.bin, checksumming as we go.
  std::vector<const TensorDesc *> tensors = checkpointTensors(model);
  std::vector<uint32_t> crcs;
  const std::string tensorsPath = tmpPath + "/tensors.bin";
  int fd = ::open(tensorsPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw CheckpointError(sysError("cannot create", tensorsPath));
  uint64_t total = 0;
  std::vector<char> staging; // a device arena is read through host memory
  try {
    for (const TensorDesc *t : tensors) {
      const char *bytes = arena + t->offset;
      if (arenaOnDevice(model)) {
        staging.resize(t->bytes);
        readArena(model, arena, t->offset, staging.data(), t->bytes);
        bytes = staging.data();
      }
      crcs.push_back(crc32c(bytes, t->bytes));
      if (crcs.size() == tensors.size() / 2) { // half the tensors written, then half of one
        writeAll(fd, bytes, t->bytes / 2, tensorsPath);
        maybeCrash("mid-tensor");
        writeAll(fd, bytes + t->bytes / 2, t->bytes - t->bytes / 2, tensorsPath);
      } else {
        writeAll(fd, bytes, t->bytes, tensorsPath);
      }
      total += t->bytes;
    }
    if (::fsync(fd) != 0)
      throw CheckpointError(sysError("cannot fsync", tensorsPath));
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0)
    throw CheckpointError(sysError("cannot close", tensorsPath));

  // manifest.bin
  flatbuffers::FlatBufferBuilder fbb(4096);
  std::vector<flatbuffers::Offset<ckpt::Tensor>> entries;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorDesc *t = tensors[i];
    std::vector<int64_t> shape(t->shape, t->shape + t->rank);
    entries.push_back(ckpt::CreateTensorDirect(fbb, t->name, ckpt::DType(uint8_t(t->dtype)),
                                               &shape, offset, t->bytes, crcs[i]));
    offset += t->bytes;
  }
  ckpt::DataPosition position(state.data.shard, state.data.offset, state.data.epoch);
  ckpt::RngState rng(state.seed, state.rngCounter);
  ckpt::Layout layout(1, 1);
  auto dataOrder = ckpt::CreateDataOrderDirect(fbb, state.dataOrder.shuffle, state.dataOrder.seed,
                                               &state.shardTokens);
  auto manifest = ckpt::CreateManifestDirect(
      fbb, kCheckpointFormatVersion, model.name, model.sourceHash, model.target,
      ckpt::DType(uint8_t(model.computeType)), state.step, &position, &rng, &layout, &entries,
      total, dataOrder, state.skippedSteps);
  ckpt::FinishManifestBuffer(fbb, manifest);

  const std::string manifestPath = tmpPath + "/manifest.bin";
  fd = ::open(manifestPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw CheckpointError(sysError("cannot create", manifestPath));
  try {
    writeAll(fd, fbb.GetBufferPointer(), fbb.GetSize(), manifestPath);
    maybeCrash("before-fsync");
    if (::fsync(fd) != 0)
      throw CheckpointError(sysError("cannot fsync", manifestPath));
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0)
    throw CheckpointError(sysError("cannot close", manifestPath));
  fsyncPath(tmpPath, true);

  // An older checkpoint of the same step (a rerun after resume) moves aside first: rename()
  // cannot replace a non-empty directory.
  maybeCrash("before-rename");
  std::string oldPath;
  if (exists(finalPath)) {
    oldPath = finalPath + format(".old-%d", int(::getpid()));
    if (exists(oldPath))
      removeTree(oldPath);
    if (::rename(finalPath.c_str(), oldPath.c_str()) != 0)
      throw CheckpointError(sysError("cannot move aside the existing checkpoint", finalPath));
  }
  if (::rename(tmpPath.c_str(), finalPath.c_str()) != 0)
    throw CheckpointError(sysError("cannot rename the new checkpoint to", finalPath));
  fsyncPath(ckptDir, true);
  if (!oldPath.empty())
    removeTree(oldPath);
  return finalPath;
}

//===----------------------------------------------------------------------===//
// Load.
//===----------------------------------------------------------------------===//

TrainState parseManifest(const ModelDesc &model, const void *data, size_t size,
                         const std::string &path) {
  auto fail = [&](const std::string &what) -> CheckpointError {
    return CheckpointError(format("checkpoint %s: %s", path.c_str(), what.c_str()));
  };
  const uint8_t *bytes = static_cast<const uint8_t *>(data);
  flatbuffers::Verifier verifier(bytes, size);
  if (size < 8 || !ckpt::ManifestBufferHasIdentifier(bytes) ||
      !ckpt::VerifyManifestBuffer(verifier))
    throw fail("manifest.bin is corrupt or truncated (it does not verify as a checkpoint manifest)");
  const ckpt::Manifest *m = ckpt::GetManifest(bytes);

  if (m->format_version() < 1 || m->format_version() > kCheckpointFormatVersion)
    throw fail(format("format version %u, this runtime reads versions 1 to %u",
                      m->format_version(), kCheckpointFormatVersion));
  if (!m->model() || !m->tensors() || !m->train_data() || !m->rng() || !m->layout())
    throw fail("manifest.bin lacks a required field (model, tensors, train_data, rng, layout)");
  if (m->model()->str() != model.name)
    throw fail(format("it is a checkpoint of model '%s', this executable trains '%s'",
                      m->model()->c_str(), model.name));
  if (m->source_hash() != model.sourceHash)
    throw fail(format("written by a build of '%s' with source hash 0x%016llx, this executable has "
                      "0x%016llx (the .ingot source or its --set overrides changed)",
                      model.name, (unsigned long long)m->source_hash(),
                      (unsigned long long)model.sourceHash));
  if (uint8_t(m->compute_dtype()) != uint8_t(model.computeType))
    throw fail(format("written with compute dtype %s, this executable computes in %s",
                      dtypeName(DType(uint8_t(m->compute_dtype()))), dtypeName(model.computeType)));
  if (m->layout()->stages() != 1 || m->layout()->data_parallel() != 1)
    throw fail(format("written by a run of %d stage(s) x %d data-parallel replica(s); this "
                      "executable runs 1 x 1",
                      m->layout()->stages(), m->layout()->data_parallel()));

  // Every tensor of the model, by name, with the same dtype and shape; nothing extra.
  std::vector<const TensorDesc *> tensors = checkpointTensors(model);
  std::map<std::string, const ckpt::Tensor *> byName;
  for (const ckpt::Tensor *t : *m->tensors()) {
    if (!t->name() || !t->shape())
      throw fail("manifest.bin has a tensor without a name or shape");
    if (!byName.emplace(t->name()->str(), t).second)
      throw fail(format("manifest.bin lists tensor '%s' twice", t->name()->c_str()));
  }
  for (const TensorDesc *t : tensors) {
    auto it = byName.find(t->name);
    if (it == byName.end())
      throw fail(format("this model's tensor '%s' (%s %s) is not in the checkpoint", t->name,
                        dtypeName(t->dtype), shapeString(*t).c_str()));
    const ckpt::Tensor *c = it->second;
    if (uint8_t(c->dtype()) != uint8_t(t->dtype))
      throw fail(format("checkpoint tensor '%s' is %s, this model's is %s", t->name,
                        dtypeName(DType(uint8_t(c->dtype()))), dtypeName(t->dtype)));
    std::vector<int64_t> shape(c->shape()->begin(), c->shape()->end());
    std::vector<int64_t> want(t->shape, t->shape + t->rank);
    if (shape != want)
      throw fail(format("checkpoint tensor '%s' has shape %s, this model has %s", t->name,
                        shapeString(shape.data(), int(shape.size())).c_str(),
                        shapeString(*t).c_str()));
    if (c->bytes() != t->bytes)
      throw fail(format("checkpoint tensor '%s' has %llu bytes, expected %llu", t->name,
                        (unsigned long long)c->bytes(), (unsigned long long)t->bytes));
    byName.erase(it);
  }
  if (!byName.empty())
    throw fail(format("checkpoint tensor '%s' is not in this model", byName.begin()->first.c_str()));

  TrainState state;
  state.step = m->step();
  state.data.shard = m->train_data()->shard();
  state.data.offset = m->train_data()->offset();
  state.data.epoch = m->train_data()->epoch();
  state.seed = m->rng()->seed();
  state.rngCounter = m->rng()->counter();
  if (state.step < 0)
    throw fail(format("manifest.bin has a negative step %lld", (long long)state.step));
  state.dataOrder.seed = state.seed; // format 1: unshuffled, so the seed does not matter
  if (m->format_version() >= 2) {
    if (!m->data_order() || !m->data_order()->shard_tokens())
      throw fail("manifest.bin (format 2) lacks its data order (data_order.shard_tokens)");
    state.dataOrder.shuffle = m->data_order()->shuffle();
    state.dataOrder.seed = m->data_order()->seed();
    state.shardTokens.assign(m->data_order()->shard_tokens()->begin(),
                             m->data_order()->shard_tokens()->end());
    state.skippedSteps = m->skipped_steps();
    if (state.skippedSteps < 0 || state.skippedSteps > state.step)
      throw fail(format("manifest.bin says %lld step(s) were skipped by step %lld",
                        (long long)state.skippedSteps, (long long)state.step));
  }
  return state;
}

TrainState loadCheckpoint(const ModelDesc &model, char *arena, const std::string &path) {
  auto fail = [&](const std::string &what) -> CheckpointError {
    return CheckpointError(format("checkpoint %s: %s", path.c_str(), what.c_str()));
  };
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw fail(format("cannot open: %s", std::strerror(errno)));
  if (!S_ISDIR(st.st_mode))
    throw fail("not a directory (a checkpoint is a step_NNNNNNNN directory)");

  // The manifest, verified before any field is read.
  const std::string manifestPath = path + "/manifest.bin";
  int fd = ::open(manifestPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw fail(format("cannot open manifest.bin: %s", std::strerror(errno)));
  std::vector<uint8_t> buffer;
  try {
    if (::fstat(fd, &st) != 0)
      throw fail(format("cannot stat manifest.bin: %s", std::strerror(errno)));
    if (st.st_size > (int64_t(1) << 31))
      throw fail(format("manifest.bin is %lld bytes, too large for a manifest",
                        (long long)st.st_size));
    buffer.resize(size_t(st.st_size));
    readAll(fd, buffer.data(), buffer.size(), manifestPath);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  TrainState state = parseManifest(model, buffer.data(), buffer.size(), path);
  const ckpt::Manifest *m = ckpt::GetManifest(buffer.data());
  std::vector<const TensorDesc *> tensors = checkpointTensors(model);

  // tensors.bin: exactly the size the manifest says, every tensor inside it, every checksum.
  const std::string tensorsPath = path + "/tensors.bin";
  fd = ::open(tensorsPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw fail(format("cannot open tensors.bin: %s", std::strerror(errno)));
  try {
    if (::fstat(fd, &st) != 0)
      throw fail(format("cannot stat tensors.bin: %s", std::strerror(errno)));
    if (uint64_t(st.st_size) != m->tensors_bytes())
      throw fail(format("tensors.bin has %lld bytes, the manifest says %llu (truncated or "
                        "corrupt)", (long long)st.st_size,
                        (unsigned long long)m->tensors_bytes()));
    std::map<std::string, const ckpt::Tensor *> entries;
    for (const ckpt::Tensor *t : *m->tensors())
      entries[t->name()->str()] = t;
    std::vector<char> staging;
    for (const TensorDesc *t : tensors) {
      const ckpt::Tensor *c = entries[t->name];
      if (c->offset() > m->tensors_bytes() || c->bytes() > m->tensors_bytes() - c->offset())
        throw fail(format("tensor '%s' at [%llu, %llu) lies outside tensors.bin (%llu bytes)",
                          t->name, (unsigned long long)c->offset(),
                          (unsigned long long)(c->offset() + c->bytes()),
                          (unsigned long long)m->tensors_bytes()));
      char *dst = arena + t->offset;
      if (arenaOnDevice(model)) { // read into host memory, check, then copy to the device
        staging.resize(t->bytes);
        dst = staging.data();
      }
      size_t done = 0;
      while (done < t->bytes) {
        ssize_t n = ::pread(fd, dst + done, std::min<size_t>(t->bytes - done, size_t(1) << 30),
                            off_t(c->offset() + done));
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          throw fail(format("cannot read tensor '%s' from tensors.bin: %s", t->name,
                            n < 0 ? std::strerror(errno) : "unexpected end of file"));
        done += size_t(n);
      }
      uint32_t crc = crc32c(dst, t->bytes);
      if (crc != c->crc32c())
        throw fail(format("tensor '%s' fails its checksum in tensors.bin (CRC-32C 0x%08x, the "
                          "manifest says 0x%08x): the file is corrupt", t->name, crc,
                          c->crc32c()));
      if (arenaOnDevice(model))
        writeArena(model, arena, t->offset, dst, t->bytes);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return state;
}

//===----------------------------------------------------------------------===//
// Listing and pruning.
//===----------------------------------------------------------------------===//

// "step_" then only digits (at least 8): a complete checkpoint's name; "step_00000100.tmp-42"
// and "step_00000100.old-42" are not.
static bool parseCheckpointName(const char *name, int64_t *step) {
  if (std::strncmp(name, "step_", 5) != 0)
    return false;
  const char *digits = name + 5;
  size_t n = std::strlen(digits);
  if (n < 8 || n > 18)
    return false;
  for (size_t i = 0; i < n; ++i)
    if (digits[i] < '0' || digits[i] > '9')
      return false;
  *step = std::strtoll(digits, nullptr, 10);
  return true;
}

std::vector<std::pair<int64_t, std::string>> listCheckpoints(const std::string &ckptDir) {
  std::vector<std::pair<int64_t, std::string>> out;
  DIR *dir = ::opendir(ckptDir.c_str());
  if (!dir) {
    if (errno == ENOENT)
      return out;
    throw CheckpointError(sysError("cannot read the checkpoint directory", ckptDir));
  }
  while (struct dirent *e = ::readdir(dir)) {
    int64_t step;
    if (!parseCheckpointName(e->d_name, &step))
      continue;
    std::string path = ckptDir + "/" + e->d_name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      continue;
    out.emplace_back(step, path);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::string findLatestCheckpoint(const std::string &ckptDir) {
  auto all = listCheckpoints(ckptDir);
  return all.empty() ? std::string() : all.back().second;
}

// "step_<digits>.tmp-<pid>" or "step_<digits>.old-<pid>": the step name and the writer's pid.
static bool parseTemporaryName(const char *name, std::string *stepName, std::string *kind,
                               pid_t *pid) {
  const char *dot = std::strchr(name, '.');
  int64_t step;
  if (!dot || (std::strncmp(dot, ".tmp-", 5) != 0 && std::strncmp(dot, ".old-", 5) != 0))
    return false;
  std::string head(name, size_t(dot - name));
  if (!parseCheckpointName(head.c_str(), &step))
    return false;
  const char *digits = dot + 5;
  if (!*digits || std::strlen(digits) > 9)
    return false;
  for (const char *c = digits; *c; ++c)
    if (*c < '0' || *c > '9')
      return false;
  *stepName = head;
  *kind = std::string(dot + 1, 3);
  *pid = pid_t(std::strtol(digits, nullptr, 10));
  return true;
}

std::vector<std::string> removeStaleTemporaries(const std::string &ckptDir) {
  std::vector<std::string> removed;
  DIR *dir = ::opendir(ckptDir.c_str());
  if (!dir)
    return removed; // nothing to clean; the save that just succeeded proves the dir is fine
  std::vector<std::string> stale;
  while (struct dirent *e = ::readdir(dir)) {
    std::string stepName, kind;
    pid_t pid;
    if (!parseTemporaryName(e->d_name, &stepName, &kind, &pid))
      continue;
    // Our own pid's temporaries belong to a save in progress or are removed by it; a live
    // process may be another writer (kill(pid, 0) fails with ESRCH only when it is gone).
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    // An .old- directory is the only copy of its step until step_* exists again.
    if (kind == "old" && !exists(ckptDir + "/" + stepName))
      continue;
    stale.push_back(ckptDir + "/" + e->d_name);
  }
  ::closedir(dir);
  std::sort(stale.begin(), stale.end());
  for (const std::string &path : stale) {
    removeTree(path);
    removed.push_back(path);
  }
  return removed;
}

void pruneCheckpoints(const std::string &ckptDir, int64_t keep) {
  if (keep <= 0)
    return;
  auto all = listCheckpoints(ckptDir);
  for (size_t i = 0; i + size_t(keep) < all.size(); ++i)
    removeTree(all[i].second);
}

} // namespace ingot::rt
