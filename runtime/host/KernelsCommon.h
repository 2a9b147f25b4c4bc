//===- KernelsCommon.h - Helpers shared by the host kernel files -*- C++ -*-===//
//
// Private to runtime/host/: the parallel threshold, the strided-index walk used by binary,
// broadcast and transpose, and the macro that instantiates each kernel for float and double.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_HOST_KERNELSCOMMON_H
#define INGOT_RT_HOST_KERNELSCOMMON_H

#include <cstdint>

namespace ingot::host::detail {

/// Below this many elements an OpenMP region costs more than it saves. The threshold only
/// decides whether threads are used, never how an element is computed, so results do not
/// depend on it.
constexpr int64_t kParallelMin = 1 << 14;

constexpr int kMaxRank = 6;

/// A dense iteration space over `shape` with up to three operands' element strides per dimension
/// (operand 0 is usually the contiguous output). Size-1 dimensions are dropped and adjacent
/// dimensions that are contiguous for every operand are merged, so a broadcast bias over
/// [rows, n] walks n-long rows and a plain copy walks one long row.
struct StridedSpace {
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t strides[3][kMaxRank] = {};
  int operands = 0;

  StridedSpace(int inRank, const int64_t *inShape, int numOperands,
               const int64_t *const *inStrides)
      : operands(numOperands) {
    for (int d = 0; d < inRank; ++d) {
      if (inShape[d] == 1)
        continue;
      bool merge = rank > 0;
      for (int o = 0; merge && o < operands; ++o)
        merge = strides[o][rank - 1] == inStrides[o][d] * inShape[d];
      if (merge) {
        shape[rank - 1] *= inShape[d];
        for (int o = 0; o < operands; ++o)
          strides[o][rank - 1] = inStrides[o][d];
        continue;
      }
      shape[rank] = inShape[d];
      for (int o = 0; o < operands; ++o)
        strides[o][rank] = inStrides[o][d];
      ++rank;
    }
    if (rank == 0) { // a scalar, or all dimensions of size 1
      shape[0] = 1;
      for (int o = 0; o < operands; ++o)
        strides[o][0] = 0;
      rank = 1;
    }
  }

  int64_t inner() const { return shape[rank - 1]; }
  int64_t rows() const {
    int64_t r = 1;
    for (int d = 0; d + 1 < rank; ++d)
      r *= shape[d];
    return r;
  }
  /// Offsets of operand o at the start of row `row` (all dimensions but the last).
  void rowOffsets(int64_t row, int64_t *offsets) const {
    for (int o = 0; o < operands; ++o)
      offsets[o] = 0;
    for (int d = rank - 2; d >= 0; --d) {
      int64_t i = row % shape[d];
      row /= shape[d];
      for (int o = 0; o < operands; ++o)
        offsets[o] += i * strides[o][d];
    }
  }
};

/// Row-major element strides of a dense shape.
inline void denseStrides(int rank, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d];
  }
}

} // namespace ingot::host::detail

#endif // INGOT_RT_HOST_KERNELSCOMMON_H
