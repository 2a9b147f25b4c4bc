//===- GradCheck.h - The compiled gradient against finite differences ----===//
//
// `--gradcheck N` (an f64 trainer, `ingotc --f64`): for N random directions u over every
// parameter, compares the directional derivative the compiled backward gives, <grad, u>, with
// the central difference (L(p + h u) - L(p - h u)) / 2h of the compiled forward, on the first
// batch of --data. The step, tolerance and seed are printed with every row.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_GRADCHECK_H
#define INGOT_RT_GRADCHECK_H

#include "ingot/rt/Model.h"

#include <cstdint>

namespace ingot::rt {

/// Central-difference step and the relative tolerance of --gradcheck.
constexpr double kGradCheckStep = 1e-4;
constexpr double kGradCheckTolerance = 1e-6;

/// Runs the check on the parameters and batch already in `arena`; prints one row per
/// direction and returns whether every row is within tolerance. Throws Error for an f32
/// trainer, where the tolerance would mean nothing.
bool checkGradient(const ModelDesc &model, char *arena, int64_t directions, uint64_t seed);

} // namespace ingot::rt

#endif // INGOT_RT_GRADCHECK_H
