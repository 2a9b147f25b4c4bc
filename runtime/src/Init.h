//===- Init.h - Deterministic parameter initialization ----------*- C++ -*-===//
//
// Every element's value is a pure function of (seed, parameter index, element index): a
// counter-based generator (splitmix64 of a mix of the three) gives uniform bits, Box-Muller
// turns two of them into a normal. So the weights do not depend on the thread count, the order
// of initialization, or how the arena is laid out.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_INIT_H
#define INGOT_RT_INIT_H

#include "ingot/rt/Model.h"

#include <cstdint>

namespace ingot::rt {

uint64_t splitmix64(uint64_t x);

/// A uniform double in (0, 1) for (seed, stream, index, draw).
double uniformAt(uint64_t seed, uint64_t stream, uint64_t index, uint64_t draw);

/// Fills every parameter's value from its InitDesc and zeroes its gradient and moments.
/// Throws Error on an unknown init kind.
void initParameters(const ModelDesc &model, char *arena, uint64_t seed);

} // namespace ingot::rt

#endif // INGOT_RT_INIT_H
