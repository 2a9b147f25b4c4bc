//===- RuntimeTestUtil.h - A hand-written model and files for runtime tests ===//
//
// LinearModel: a least-squares model small enough to write by hand, standing in for generated
// code. Every position predicts the next token from the current one:
//   x = token / V, y = target / V, p = w[0] * x + w[1] * x^2 + b, loss = mean (p - y)^2
// with its gradient (scaled by 1 / microbatches), and global-norm clip + AdamW, all in the arena
// at fixed offsets like a compiled model.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_TEST_RUNTIME_UTIL_H
#define INGOT_TEST_RUNTIME_UTIL_H

#include "ingot/rt/Model.h"
#include "src/Trainer.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <string>
#include <vector>

namespace ingot::rt::test {

constexpr int64_t kB = 2, kT = 8, kV = 16, kMicro = 2;
// Arena layout (every tensor at a multiple of 256).
constexpr uint64_t kW = 0, kBias = 256, kWGrad = 512, kBiasGrad = 768, kWM = 1024, kBiasM = 1280,
                   kWV = 1536, kBiasV = 1792, kTokens = 2048, kTargets = 2304, kLoss = 2560,
                   kArena = 2816;

inline float *f32(char *arena, uint64_t offset) { return reinterpret_cast<float *>(arena + offset); }
inline int32_t *i32(char *arena, uint64_t offset) {
  return reinterpret_cast<int32_t *>(arena + offset);
}

// Loss of the current micro-batch; adds the gradient when `grad`.
inline void linearPass(char *arena, bool grad) {
  const float *w = f32(arena, kW);
  float b = *f32(arena, kBias);
  const int32_t *x = i32(arena, kTokens), *y = i32(arena, kTargets);
  const int64_t n = kB * kT;
  double loss = 0, gw0 = 0, gw1 = 0, gb = 0;
  for (int64_t i = 0; i < n; ++i) {
    double xi = double(x[i]) / kV, yi = double(y[i]) / kV;
    double p = w[0] * xi + w[1] * xi * xi + b;
    double r = p - yi;
    loss += r * r;
    gw0 += 2 * r * xi;
    gw1 += 2 * r * xi * xi;
    gb += 2 * r;
  }
  *f32(arena, kLoss) = float(loss / double(n));
  if (grad) {
    double scale = 1.0 / double(n) / double(kMicro);
    f32(arena, kWGrad)[0] += float(gw0 * scale);
    f32(arena, kWGrad)[1] += float(gw1 * scale);
    f32(arena, kBiasGrad)[0] += float(gb * scale);
  }
}
inline void linearForwardBackward(char *arena) { linearPass(arena, true); }
inline void linearForward(char *arena) { linearPass(arena, false); }

inline void adamw(float *p, const float *g, float *m, float *v, int64_t n, double scale,
                  const ingot::rt::StepScalars &s, bool decay) {
  double c1 = 1 - std::pow(s.beta1, double(s.step)), c2 = 1 - std::pow(s.beta2, double(s.step));
  for (int64_t i = 0; i < n; ++i) {
    double gi = g[i] * scale;
    m[i] = float(s.beta1 * m[i] + (1 - s.beta1) * gi);
    v[i] = float(s.beta2 * v[i] + (1 - s.beta2) * gi * gi);
    double update = (m[i] / c1) / (std::sqrt(v[i] / c2) + s.eps);
    if (decay)
      update += s.weightDecay * p[i];
    p[i] = float(p[i] - s.lr * update);
  }
}

inline void linearOptimizerStep(char *arena, ingot::rt::StepScalars *s) {
  const float *gw = f32(arena, kWGrad), *gb = f32(arena, kBiasGrad);
  double sq = double(gw[0]) * gw[0] + double(gw[1]) * gw[1] + double(gb[0]) * gb[0];
  s->gradNorm = std::sqrt(sq);
  s->nonFinite = !std::isfinite(s->gradNorm) || !std::isfinite(*f32(arena, kLoss));
  if (s->nonFinite)
    return;
  double scale = (s->clip > 0 && s->gradNorm > s->clip) ? s->clip / s->gradNorm : 1.0;
  adamw(f32(arena, kW), gw, f32(arena, kWM), f32(arena, kWV), 2, scale, *s, true);
  adamw(f32(arena, kBias), gb, f32(arena, kBiasM), f32(arena, kBiasV), 1, scale, *s, false);
}

inline ingot::rt::TensorDesc tensor(const char *name, ingot::rt::DType dtype,
                                    std::vector<int64_t> shape, uint64_t offset) {
  ingot::rt::TensorDesc t;
  std::memset(&t, 0, sizeof(t));
  t.name = name;
  t.dtype = dtype;
  t.rank = int(shape.size());
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    t.shape[i] = shape[i];
    n *= shape[i];
  }
  t.offset = offset;
  t.bytes = uint64_t(n) * ingot::rt::dtypeBytes(dtype);
  return t;
}

/// The LinearModel's description; `wShape` lets tests build a "different model" whose weight
/// has another shape (e.g. {1, 3}).
struct LinearModel {
  ingot::rt::ParamDesc params[2];
  ingot::rt::ModelDesc desc;
  explicit LinearModel(std::vector<int64_t> wShape = {1, 2}, const char *name = "linear",
                       uint64_t sourceHash = 0x1234abcd) {
    using ingot::rt::DType;
    std::memset(params, 0, sizeof(params));
    params[0].value = tensor("proj.w", DType::f32, wShape, kW);
    params[0].grad = tensor("proj.w.grad", DType::f32, wShape, kWGrad);
    params[0].m = tensor("proj.w.m", DType::f32, wShape, kWM);
    params[0].v = tensor("proj.w.v", DType::f32, wShape, kWV);
    params[0].init = {"normal", {0.0, 0.02}};
    params[0].weightDecay = true;
    params[1].value = tensor("proj.b", DType::f32, {1}, kBias);
    params[1].grad = tensor("proj.b.grad", DType::f32, {1}, kBiasGrad);
    params[1].m = tensor("proj.b.m", DType::f32, {1}, kBiasM);
    params[1].v = tensor("proj.b.v", DType::f32, {1}, kBiasV);
    params[1].init = {"zeros", {0, 0}};
    params[1].weightDecay = false;

    std::memset(&desc, 0, sizeof(desc));
    desc.name = name;
    desc.target = "host";
    desc.manifestJson = "{\"model\": \"linear\", \"parameters\": 3}";
    desc.sourceHash = sourceHash;
    desc.microBatch = kB;
    desc.seqLen = kT;
    desc.vocab = kV;
    desc.microbatches = kMicro;
    desc.computeType = DType::f32;
    desc.numParams = 2;
    desc.params = params;
    desc.arenaBytes = kArena;
    desc.gradsOffset = kWGrad;
    desc.gradsBytes = 512;
    desc.tokens = tensor("tokens", DType::i32, {kB, kT}, kTokens);
    desc.targets = tensor("targets", DType::i32, {kB, kT}, kTargets);
    desc.loss = tensor("loss", DType::f32, {}, kLoss);
    desc.defaults = {0.05, 0.9, 0.95, 1e-8, 0.1, 1.0, "cosine", 2, 0.1};
    desc.forwardBackward = linearForwardBackward;
    desc.forward = linearForward;
    desc.optimizerStep = linearOptimizerStep;
  }
  LinearModel(const LinearModel &) = delete;
};

//===----------------------------------------------------------------------===//
// Files.
//===----------------------------------------------------------------------===//

/// Removes the directories makeTempDir() made when the test program ends.
struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() {
    std::error_code ignored;
    for (const std::string &d : dirs)
      std::filesystem::remove_all(d, ignored);
  }
};
inline TempDirs &tempDirs() {
  static TempDirs all;
  return all;
}

/// A fresh directory under the test temp dir.
inline std::string makeTempDir() {
  std::string base = ::testing::TempDir();
  if (base.empty() || base.back() != '/')
    base += '/';
  std::string templ = base + "ingot-rt-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    ADD_FAILURE() << "mkdtemp failed for " << templ;
  tempDirs().dirs.push_back(buf.data());
  return std::string(buf.data());
}

struct ShardHeader {
  int32_t magic = 20240520, version = 1;
  int64_t count = -1; // -1: the real token count
};

/// Writes an llm.c shard: uint16 tokens for magic 20240520, uint32 for 20240801.
inline void writeShard(const std::string &path, const std::vector<uint32_t> &tokens,
                       ShardHeader h = ShardHeader(), bool u32 = false) {
  if (u32 && h.magic == 20240520) {
    h.magic = 20240801;
    h.version = 7;
  }
  int32_t header[256] = {0};
  header[0] = h.magic;
  header[1] = h.version;
  header[2] = int32_t(h.count >= 0 ? h.count : int64_t(tokens.size()));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(header), sizeof(header));
  for (uint32_t t : tokens) {
    if (u32) {
      out.write(reinterpret_cast<const char *>(&t), 4);
    } else {
      uint16_t s = uint16_t(t);
      out.write(reinterpret_cast<const char *>(&s), 2);
    }
  }
}

/// Counting tokens 0, 1, ..., V-1, 0, ... starting at `start`, with every 7th token replaced
/// by a pseudo-random one, so positions differ and the next token is mostly predictable.
inline std::vector<uint32_t> patternTokens(int64_t n, uint32_t start, uint32_t seed = 1) {
  std::vector<uint32_t> out;
  uint32_t state = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    state = state * 1664525u + 1013904223u;
    out.push_back(i % 7 == 6 ? (state >> 16) % kV : uint32_t((start + i) % kV));
  }
  return out;
}

inline std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

/// argv for runTrainer from a list of strings.
struct Args {
  std::vector<std::string> strings;
  std::vector<char *> pointers;
  Args(std::initializer_list<std::string> list) : Args(std::vector<std::string>(list)) {}
  explicit Args(std::vector<std::string> list) : strings(std::move(list)) {
    strings.insert(strings.begin(), "trainer");
    for (std::string &s : strings)
      pointers.push_back(s.data());
    pointers.push_back(nullptr);
  }
  Args(const Args &) = delete;
  int argc() const { return int(strings.size()); }
  char **argv() { return pointers.data(); }
};

/// What a training run printed and returned.
struct RunResult {
  int rc;
  std::string out, err;
};

/// Runs the training loop on `model` with `flags`, capturing its stdout and stderr.
inline RunResult run(const ModelDesc &model, std::vector<std::string> flags) {
  Args args(std::move(flags));
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  RunResult r;
  r.rc = runTrainer(model, args.argc(), args.argv());
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

} // namespace ingot::rt::test

#endif // INGOT_TEST_RUNTIME_UTIL_H
