//===- CommReduce.h - The deterministic sum that every Comm backend runs -*- C++ -*-===//
//
// All-reduce over members m0 < m1 < ... < m(n-1): member i owns chunk i of the buffer
// [chunkBegin(count, n, i), chunkBegin(count, n, i + 1)), receives that chunk from every member,
// and adds the contributions in ascending member order with sumInRankOrder; then every member
// receives every summed chunk. Each element is summed once, by one rank, in one fixed order:
//   ((x[m0] + x[m1]) + x[m2]) + ...
// so the result has the same bits on every rank, whatever the timing, and the same bits as a
// one-rank run that accumulates the same terms in that order into a zeroed buffer (0 + x == x).
// The MPI backend (CommMpi.cpp) uses these; the NCCL backend (runtime/cuda/CommNccl.cu) runs the
// same loop in a kernel. Unit tests: test/unittests/runtime/CommTest.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_COMMREDUCE_H
#define INGOT_RT_COMMREDUCE_H

#include <cstddef>
#include <cstdint>

namespace ingot::rt {

/// The first element of member i's chunk, for `members` members sharing `count` elements
/// (chunk sizes differ by at most one; trailing chunks may be empty when count < members).
inline size_t chunkBegin(size_t count, int members, int i) {
  // 128-bit product: count * i cannot overflow for any buffer that fits in memory.
  return size_t((unsigned __int128)count * unsigned(i) / unsigned(members));
}

/// sum[k] = ((c[0][k] + c[1][k]) + c[2][k]) + ... for the `members` contributions laid out
/// member-major (c[m] = contributions + m * count). `sum` may alias no contribution.
template <typename T>
void sumInRankOrder(T *sum, const T *contributions, size_t count, int members) {
  for (size_t k = 0; k < count; ++k) {
    T acc = contributions[k];
    for (int m = 1; m < members; ++m)
      acc = acc + contributions[size_t(m) * count + k];
    sum[k] = acc;
  }
}

} // namespace ingot::rt

#endif // INGOT_RT_COMMREDUCE_H
