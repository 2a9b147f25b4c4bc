//===- Reductions.cu - reduce, sum of squares, embedding gradient ---------===//
//
// All deterministic without floating-point atomics:
//   - reduce: short axes by one thread per output in axis order; the last axis by one warp
//     per output; long middle axes in fixed chunks of rows (ColumnSum.cuh).
//   - sumSquares: kSumSquaresBlocks blocks over fixed contiguous chunks, each a fixed tree in
//     float64; the host adds the partials in ascending order.
//   - embeddingGrad: the token ids are sorted stably on the device (CUB's radix sort: equal
//     ids keep ascending positions), then one block per distinct id sums its rows in position
//     order, the order the host target adds them in; accumulating, it adds that sum to the
//     row it finds (a parameter's gradient) instead of storing it into a cleared table.
//
//===----------------------------------------------------------------------===//
#include "cuda/ColumnSum.cuh"

#include <cub/device/device_radix_sort.cuh>

#include <vector>

namespace ingot::cuda {
namespace {

template <typename O, typename X>
__global__ void shortAxisKernel(Reduce op, O *out, const X *x, int64_t outer, int64_t axis,
                                int64_t inner, bool accumulate) {
  INGOT_GRID_LOOP(e, outer * inner) {
    int64_t o = e / inner, i = e % inner;
    const X *src = x + o * axis * inner + i;
    float acc = op == Reduce::max ? -INFINITY : 0.0f;
    for (int64_t a = 0; a < axis; ++a) {
      float v = ld(src + a * inner);
      acc = op == Reduce::max ? ((v > acc || isnan(v)) ? v : acc) : acc + v;
    }
    float result = op == Reduce::mean ? acc / float(axis) : acc;
    st(out + e, accumulate ? ld(out + e) + result : result);
  }
}

/// One warp per output: lanes stride the axis, then a fixed butterfly.
template <typename O, typename X>
__global__ void lastAxisKernel(Reduce op, O *out, const X *x, int64_t outer, int64_t axis,
                               bool accumulate) {
  int64_t o = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (o >= outer)
    return;
  int lane = threadIdx.x % 32;
  const X *src = x + o * axis;
  float acc = op == Reduce::max ? -INFINITY : 0.0f;
  for (int64_t a = lane; a < axis; a += 32) {
    float v = ld(src + a);
    acc = op == Reduce::max ? ((v > acc || isnan(v)) ? v : acc) : acc + v;
  }
  if (op == Reduce::max) {
    for (int d = 16; d > 0; d >>= 1) {
      float v = __shfl_xor_sync(0xffffffffu, acc, d);
      acc = (v > acc || isnan(v)) ? v : acc;
    }
  } else {
    acc = warpSum(acc);
  }
  if (lane == 0) {
    float result = op == Reduce::mean ? acc / float(axis) : acc;
    st(out + o, accumulate ? ld(out + o) + result : result);
  }
}

template <typename X> struct AxisValue {
  const X *x;
  int64_t axis, inner;
  __device__ Values<1> operator()(int64_t o, int64_t r, int64_t c) const {
    return {{ld(x + (o * axis + r) * inner + c)}};
  }
};

__global__ void sumSquaresKernel(const float *x, int64_t n, double *partials) {
  __shared__ double shared[32];
  int64_t chunk = (n + gridDim.x - 1) / gridDim.x;
  int64_t begin = int64_t(blockIdx.x) * chunk, end = min(n, begin + chunk);
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    s += double(x[i]) * double(x[i]);
  s = blockSum(s, shared);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = s;
}

__global__ void positionsKernel(int32_t *positions, int64_t count) {
  INGOT_GRID_LOOP(i, count) { positions[i] = int32_t(i); }
}

/// Block b starts a run of equal sorted ids when b is 0 or its id differs from the previous:
/// it sums that run's rows, in position order, into dtable[id] (stored, or with `accumulate`
/// added to what is there: the sum first, so the bits are those of a temporary table and an
/// `accumulate`).
template <typename T>
__global__ void embeddingRunsKernel(float *dtable, const int32_t *sortedIds,
                                    const int32_t *positions, const T *dout, int64_t count,
                                    int64_t vocab, int64_t dim, bool accumulate) {
  int64_t start = blockIdx.x;
  int32_t id = sortedIds[start];
  if ((start > 0 && sortedIds[start - 1] == id) || id < 0 || id >= vocab)
    return;
  int64_t end = start + 1;
  while (end < count && sortedIds[end] == id)
    ++end;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    float acc = 0;
    for (int64_t k = start; k < end; ++k)
      acc += ld(dout + int64_t(positions[k]) * dim + j);
    float *row = dtable + int64_t(id) * dim;
    row[j] = accumulate ? row[j] + acc : acc;
  }
}

/// Sort buffers, grown on first use (before any graph capture) and kept.
struct SortWorkspace {
  void *memory = nullptr;
  size_t bytes = 0;
  void *reserve(size_t need) {
    if (need > bytes) {
      if (memory)
        cudaCheck(cudaFree(memory));
      cudaCheck(cudaMalloc(&memory, need));
      bytes = need;
    }
    return memory;
  }
};
SortWorkspace sortWorkspace;

} // namespace

template <typename O, typename X>
void reduce(Reduce op, O *out, const X *x, int64_t outer, int64_t axis, int64_t inner,
            void *scratch, bool accumulate) {
  if (inner == 1) {
    lastAxisKernel<<<blocksFor(outer * 32), kThreads>>>(op, out, x, outer, axis, accumulate);
    launchCheck("reduce (last axis)");
  } else if (axis <= kShortAxis) {
    shortAxisKernel<<<blocksFor(outer * inner), kThreads>>>(op, out, x, outer, axis, inner,
                                                            accumulate);
    launchCheck("reduce (short axis)");
  } else {
    float scale = op == Reduce::mean ? 1.0f / float(axis) : 1.0f;
    auto *partial = static_cast<float *>(scratch);
    if (op == Reduce::max)
      columnReduce<1, true>(AxisValue<X>{x, axis, inner}, out, static_cast<O *>(nullptr),
                            partial, outer, axis, inner, 1.0f, accumulate, "reduce");
    else
      columnReduce<1, false>(AxisValue<X>{x, axis, inner}, out, static_cast<O *>(nullptr),
                             partial, outer, axis, inner, scale, accumulate, "reduce");
  }
}

void sumSquares(const float *x, int64_t n, double *partials) {
  sumSquaresKernel<<<kSumSquaresBlocks, 512>>>(x, n, partials);
  launchCheck("sumSquares");
}

double sumPartials(const double *partials) {
  std::vector<double> host(kSumSquaresBlocks);
  cudaCheck(cudaMemcpy(host.data(), partials, sizeof(double) * kSumSquaresBlocks,
                       cudaMemcpyDeviceToHost));
  double total = 0;
  for (double p : host)
    total += p;
  return total;
}

template <typename T>
void embeddingGrad(float *dtable, const int32_t *ids, const T *dout, int64_t count,
                   int64_t vocab, int64_t dim, bool accumulate) {
  if (!accumulate) // rows no id names are zero; accumulating leaves them as they are
    cudaCheck(cudaMemsetAsync(dtable, 0, sizeof(float) * vocab * dim));
  size_t sortBytes = 0;
  cudaCheck(cub::DeviceRadixSort::SortPairs(nullptr, sortBytes, ids, static_cast<int32_t *>(nullptr),
                                            static_cast<const int32_t *>(nullptr),
                                            static_cast<int32_t *>(nullptr), int(count)));
  size_t arrays = (4 * count * sizeof(int32_t) + 255) / 256 * 256;
  char *base = static_cast<char *>(sortWorkspace.reserve(arrays + sortBytes));
  auto *positions = reinterpret_cast<int32_t *>(base);
  int32_t *sortedIds = positions + count, *sortedPositions = positions + 2 * count;
  positionsKernel<<<blocksFor(count), kThreads>>>(positions, count);
  launchCheck("embeddingGrad (positions)");
  // All 32 key bits: out-of-range ids (the data loader refuses them) sort apart from valid
  // ones, so every valid id's rows stay one run.
  cudaCheck(cub::DeviceRadixSort::SortPairs(base + arrays, sortBytes, ids, sortedIds, positions,
                                            sortedPositions, int(count)));
  embeddingRunsKernel<<<unsigned(count), 256>>>(dtable, sortedIds, sortedPositions, dout, count,
                                                vocab, dim, accumulate);
  launchCheck("embeddingGrad (runs)");
}

#define INGOT_INST_REDUCE(O, X)                                                                    \
  template void reduce<O, X>(Reduce, O *, const X *, int64_t, int64_t, int64_t, void *, bool);
INGOT_FOR_T2(INGOT_INST_REDUCE)

#define INGOT_INST_EMBGRAD(T)                                                                      \
  template void embeddingGrad<T>(float *, const int32_t *, const T *, int64_t, int64_t, int64_t,   \
                                 bool);
INGOT_FOR_T(INGOT_INST_EMBGRAD)

} // namespace ingot::cuda
