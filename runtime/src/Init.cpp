//===- Init.cpp - Deterministic parameter initialization ------------------===//
#include "Init.h"

#include "Error.h"
#include "ModelUtil.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace ingot::rt {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double uniformAt(uint64_t seed, uint64_t stream, uint64_t index, uint64_t draw) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ stream);
  h = splitmix64(h ^ (index * 2 + draw));
  // 53 random bits, shifted by half an ulp so the result is never 0 or 1 (log(0) below).
  return (double(h >> 11) + 0.5) * 0x1.0p-53;
}

template <typename T>
static void fillParameter(const ParamDesc &p, int index, T *out, uint64_t seed) {
  const int64_t n = p.value.numel();
  const std::string kind = p.init.kind;
  const double a = p.init.args[0], b = p.init.args[1];
  const uint64_t stream = uint64_t(index);
  if (kind == "zeros") {
    for (int64_t i = 0; i < n; ++i) out[i] = T(0);
  } else if (kind == "ones") {
    for (int64_t i = 0; i < n; ++i) out[i] = T(1);
  } else if (kind == "constant") {
    for (int64_t i = 0; i < n; ++i) out[i] = T(a);
  } else if (kind == "normal") {
    // Box-Muller on two draws per element (the cosine branch only: one normal per element keeps
    // each element independent of its neighbours' indices).
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      double u1 = uniformAt(seed, stream, uint64_t(i), 0);
      double u2 = uniformAt(seed, stream, uint64_t(i), 1);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      out[i] = T(a + b * z);
    }
  } else if (kind == "uniform") {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
      out[i] = T(a + (b - a) * uniformAt(seed, stream, uint64_t(i), 0));
  } else {
    throw Error(kExitError, format("parameter '%s': unknown init kind '%s' (expected zeros, ones, "
                                   "constant, normal or uniform)", p.value.name, p.init.kind));
  }
}

void initParameters(const ModelDesc &model, char *arena, uint64_t seed) {
  std::vector<char> staging; // a device arena is filled from host memory
  for (int i = 0; i < model.numParams; ++i) {
    const ParamDesc &p = model.params[i];
    char *value = arena + p.value.offset;
    if (arenaOnDevice(model)) {
      staging.resize(p.value.bytes);
      value = staging.data();
    }
    if (p.value.dtype == DType::f64)
      fillParameter(p, i, reinterpret_cast<double *>(value), seed);
    else
      fillParameter(p, i, reinterpret_cast<float *>(value), seed);
    if (arenaOnDevice(model))
      writeArena(model, arena, p.value.offset, value, p.value.bytes);
    zeroArena(model, arena, p.grad.offset, p.grad.bytes);
    zeroArena(model, arena, p.m.offset, p.m.bytes);
    zeroArena(model, arena, p.v.offset, p.v.bytes);
  }
}

} // namespace ingot::rt
