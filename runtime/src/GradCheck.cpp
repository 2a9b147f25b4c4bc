//===- GradCheck.cpp - The compiled gradient against finite differences --===//
#include "GradCheck.h"

#include "Error.h"
#include "Init.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace ingot::rt;

namespace {

double *values(const ModelDesc &model, char *arena, int p) {
  return reinterpret_cast<double *>(arena + model.params[p].value.offset);
}

double loss(const ModelDesc &model, char *arena) {
  model.forward(arena);
  double l;
  std::memcpy(&l, arena + model.loss.offset, sizeof(l));
  return l;
}

} // namespace

bool ingot::rt::checkGradient(const ModelDesc &model, char *arena, int64_t directions,
                              uint64_t seed) {
  if (model.computeType != DType::f64)
    throw Error(kExitUsage, "--gradcheck: this trainer computes in f32; compile the model with "
                            "`ingotc --f64` for a meaningful check");
  // The analytic gradient of this micro-batch's loss (the backward seeds 1/microbatches).
  std::memset(arena + model.gradsOffset, 0, model.gradsBytes);
  model.forwardBackward(arena);
  const double scale = double(model.microbatches);

  std::printf("gradcheck: %lld random directions over %d parameters, central differences with "
              "h = %g, relative tolerance %g, seed %llu\n",
              (long long)directions, model.numParams, kGradCheckStep, kGradCheckTolerance,
              (unsigned long long)seed);
  std::printf("%10s %24s %24s %12s\n", "direction", "backward <g, u>", "finite difference",
              "rel. error");
  bool ok = true;
  double worst = 0;
  for (int64_t k = 0; k < directions; ++k) {
    // u: independent N(0, 1) entries, scaled to unit length over all parameters.
    std::vector<std::vector<double>> u(model.numParams);
    double norm2 = 0;
    for (int p = 0; p < model.numParams; ++p) {
      int64_t n = model.params[p].value.numel();
      u[p].resize(n);
      for (int64_t i = 0; i < n; ++i) {
        double a = uniformAt(seed ^ 0x6772616463686b31ull, uint64_t(k) * 4096 + p, i, 0);
        double b = uniformAt(seed ^ 0x6772616463686b31ull, uint64_t(k) * 4096 + p, i, 1);
        u[p][i] = std::sqrt(-2 * std::log(a)) * std::cos(6.283185307179586 * b);
        norm2 += u[p][i] * u[p][i];
      }
    }
    double analytic = 0;
    for (int p = 0; p < model.numParams; ++p) {
      const double *g = reinterpret_cast<const double *>(arena + model.params[p].grad.offset);
      for (size_t i = 0; i < u[p].size(); ++i) {
        u[p][i] /= std::sqrt(norm2);
        analytic += g[i] * u[p][i] * scale;
      }
    }
    auto shift = [&](double by) {
      for (int p = 0; p < model.numParams; ++p) {
        double *v = values(model, arena, p);
        for (size_t i = 0; i < u[p].size(); ++i)
          v[i] += by * u[p][i];
      }
    };
    shift(kGradCheckStep);
    double plus = loss(model, arena);
    shift(-2 * kGradCheckStep);
    double minus = loss(model, arena);
    shift(kGradCheckStep);
    double numeric = (plus - minus) / (2 * kGradCheckStep);
    double error = std::fabs(analytic - numeric) /
                   std::max({std::fabs(analytic), std::fabs(numeric), 1e-12});
    bool pass = error <= kGradCheckTolerance && std::isfinite(analytic);
    ok &= pass;
    worst = std::max(worst, error);
    std::printf("%10lld %24.16e %24.16e %12.3e%s\n", (long long)k + 1, analytic, numeric, error,
                pass ? "" : "  FAIL");
  }
  std::printf("gradcheck %s: largest relative error %.3e (tolerance %g)\n", ok ? "passed" : "FAILED",
              worst, kGradCheckTolerance);
  return ok;
}
