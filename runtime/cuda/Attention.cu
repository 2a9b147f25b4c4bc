//===- Attention.cu - Causal flash attention, forward and backward --------===//
//
// bf16 with head sizes 16, 32, 64, 128: flash attention on the tensor cores (mma.sync
// m16n8k16, fp32 accumulation), never materializing the [tq, tk] scores.
//   forward   one block of 4 warps per (128 queries, head, batch); each warp owns 32 query
//             rows (two m16 tiles sharing every K/V fragment it loads; 16 rows for head size
//             128), walks the key tiles of 64 with an online softmax in registers (the score
//             accumulators become the A operand of P.V without leaving registers), and writes
//             the output and each row's log-sum-exp (which the backward reads).
//   backward  delta = rowsum(dout * out) first; then two kernels so that no gradient needs an
//             atomic add (and the bits never depend on scheduling):
//             dK/dV: one block per (64 keys, kv head, batch) walks the query tiles of every
//                    query head that reads this kv head, in order;
//             dQ:    one block per (64 queries, head, batch) walks the key tiles.
//             Both recompute P = exp(S - lse) from the saved log-sum-exp.
// Only the key tiles that cross the diagonal or the end of the sequence pay for the mask;
// exponentials are one FFMA and one EX2 with the softmax scale folded into log2 units.
// Other head sizes and fp32 storage use the simple kernels at the end (one thread per row).
//
// Layout: q, out, dq are [batch, tq, heads * hd]; k, v, dk, dv [batch, tk, kvHeads * hd];
// query head h reads kv head h / (heads / kvHeads). Rows of q, of k and v, of dq and of dk and
// dv may be further apart (row strides): views of one [batch, t, 3 * dim] projection. Causal: query t sees keys s <= t (all keys
// once t >= tk), as on the host.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

namespace ingot::cuda {
namespace {

constexpr int kTile = 64;            // queries or keys per tile
constexpr int kFlashWarps = 4;
constexpr int kFlashThreads = 32 * kFlashWarps;
constexpr int kMaxHeadDim = 256;     // the simple kernels' limit
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct AttentionDims {
  int64_t batch, tq, tk, heads, kvHeads, hd;
  bool causal;
  float scale;
  // Row strides (elements between tokens) of q, of k and v, of dq and of dk, dv: heads * hd and
  // kvHeads * hd when packed, more when they are slices of one wider tensor.
  int64_t qStride, kvStride, dqStride, dkvStride;
};

__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/// Two bf16 in one register, `lo` in the low half (the lower column of a fragment pair).
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}
__device__ __forceinline__ uint32_t ld32(const bf16 *p) {
  return *reinterpret_cast<const uint32_t *>(p);
}

/// Row stride in shared memory: 8 elements of padding keep the fragment loads of the 8 row
/// groups on distinct banks.
template <int W> __host__ __device__ constexpr int padded() { return W + 8; }

/// Copies `valid` rows (of HD elements, `stride` apart in global memory) into a [Rows][HD+8]
/// tile, zeros below; 16-byte loads.
template <int HD, int Rows = kTile>
__device__ void loadTile(bf16 *dst, const bf16 *src, int64_t stride, int64_t valid) {
  constexpr int chunks = HD / 8;
  for (int i = threadIdx.x; i < Rows * chunks; i += blockDim.x) {
    int r = i / chunks, c = (i % chunks) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < valid)
      v = *reinterpret_cast<const uint4 *>(src + r * stride + c);
    *reinterpret_cast<uint4 *>(dst + r * padded<HD>() + c) = v;
  }
}

/// loadTile with cp.async: the copies land while the block computes on the other buffer;
/// rows past `valid` are zero-filled. Completes at cp.async.wait_group.
template <int HD>
__device__ void loadTileAsync(bf16 *dst, const bf16 *src, int64_t stride, int64_t valid) {
  constexpr int chunks = HD / 8;
  for (int i = threadIdx.x; i < kTile * chunks; i += blockDim.x) {
    int r = i / chunks, c = (i % chunks) * 8;
    const bf16 *from = src + (r < valid ? r * stride + c : 0);
    unsigned to = static_cast<unsigned>(__cvta_generic_to_shared(dst + r * padded<HD>() + c));
    int bytes = r < valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(to), "l"(from),
                 "r"(bytes));
  }
}
__device__ __forceinline__ void asyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int Pending> __device__ __forceinline__ void asyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

/// Starts the copies of the key tile at k0 (K, then V) into slot `buffer` of a double buffer of
/// (K, V) tile pairs, for the kv head `kvh` of batch `b`.
template <int HD>
__device__ void prefetchKeyValues(bf16 *tiles, int buffer, const bf16 *k, const bf16 *v,
                                  const AttentionDims &d, int64_t b, int64_t kvh, int64_t k0) {
  constexpr int kTileElems = kTile * padded<HD>();
  const int64_t kvBase = (b * d.tk + k0) * d.kvStride + kvh * HD;
  loadTileAsync<HD>(tiles + (2 * buffer) * kTileElems, k + kvBase, d.kvStride, d.tk - k0);
  loadTileAsync<HD>(tiles + (2 * buffer + 1) * kTileElems, v + kvBase, d.kvStride, d.tk - k0);
  asyncCommit();
}

/// Waits for this thread's copies of the current tile (the next tile's may stay in flight),
/// then for the block: every thread's copies have landed.
__device__ __forceinline__ void awaitTile(bool nextInFlight) {
  if (nextInFlight)
    asyncWait<1>();
  else
    asyncWait<0>();
  __syncthreads();
}

/// A-operand fragments of rows 16 rowTile .. 16 rowTile + 15 of a [rows][HD+8] tile.
template <int HD>
__device__ void loadRowFragments(uint32_t (&f)[HD / 16][4], const bf16 *tile, int rowTile, int g,
                                 int t) {
  const bf16 *r0 = tile + (rowTile * 16 + g) * padded<HD>() + t * 2;
  const bf16 *r1 = r0 + 8 * padded<HD>();
  #pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks) {
    f[ks][0] = ld32(r0 + ks * 16);
    f[ks][1] = ld32(r1 + ks * 16);
    f[ks][2] = ld32(r0 + ks * 16 + 8);
    f[ks][3] = ld32(r1 + ks * 16 + 8);
  }
}

/// B-operand fragments of m16n8k16 for two adjacent n-tiles (16 n-rows) of a row-major
/// [n][k] shared tile, one ldmatrix.x4: `tile` points at the first n-row's k-slice, `stride`
/// elements between rows. b[0], b[1] for the first n-tile, b[2], b[3] for the second.
__device__ __forceinline__ void loadB2(uint32_t (&b)[4], const bf16 *tile, int stride, int lane) {
  const bf16 *row = tile + ((lane & 7) + ((lane >> 4) << 3)) * stride + ((lane >> 3) & 1) * 8;
  unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(address));
}

/// acc[m][nt] (16 x 8 per n-tile, 8 n-tiles = 64 columns) = rows of row tile m . tile^T: the B
/// operand is the [kTile][HD+8] tile read along its rows, each fragment used by all RT row tiles.
template <int HD, int RT>
__device__ void productWithTileRows(float (&acc)[RT][8][4], const uint32_t (&a)[RT][HD / 16][4],
                                    const bf16 *tile, int lane) {
#pragma unroll
  for (int m = 0; m < RT; ++m)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        acc[m][nt][e] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < HD / 16; ++ks)
#pragma unroll
    for (int nt = 0; nt < 8; nt += 2) {
      uint32_t b[4];
      loadB2(b, tile + nt * 8 * padded<HD>() + ks * 16, padded<HD>(), lane);
#pragma unroll
      for (int m = 0; m < RT; ++m) {
        mma16816(acc[m][nt], a[m][ks], b[0], b[1]);
        mma16816(acc[m][nt + 1], a[m][ks], b[2], b[3]);
      }
    }
}
/// One row tile (the backward kernels).
template <int HD>
__device__ void productWithTileRows(float (&acc)[8][4], const uint32_t (&a)[HD / 16][4],
                                    const bf16 *tile, int lane) {
  productWithTileRows<HD, 1>(reinterpret_cast<float(&)[1][8][4]>(acc),
                             reinterpret_cast<const uint32_t(&)[1][HD / 16][4]>(a), tile, lane);
}

/// B-operand fragments of m16n8k16 for a [16 k-rows] block of a row-major [k][n] shared tile
/// and two adjacent n-tiles, transposed on the way by one ldmatrix.x4.trans: `rows` points at
/// the block's first element, `stride` elements between rows. b[0], b[1] for the first n-tile,
/// b[2], b[3] for the second.
__device__ __forceinline__ void loadTransposedB2(uint32_t (&b)[4], const bf16 *rows, int stride,
                                                 int lane) {
  const bf16 *row = rows + (lane & 15) * stride + (lane >> 4) * 8;
  unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(address));
}

/// out[m][HD/8 n-tiles] += P[m] (16 x 64, in accumulator layout) . tile for each row tile m,
/// where tile is a row-major [kTile][HD+8] shared tile (its rows are P's columns): the
/// flash-attention register reuse of the score accumulators as the A operand; each B fragment
/// feeds all RT row tiles.
template <int HD, int RT>
__device__ void accumulateProduct(float (&out)[RT][HD / 8][4], const float (&p)[RT][8][4],
                                  const bf16 *tile, int lane) {
#pragma unroll
  for (int kk = 0; kk < kTile / 16; ++kk) {
    uint32_t a[RT][4];
#pragma unroll
    for (int m = 0; m < RT; ++m) {
      a[m][0] = pack(p[m][2 * kk][0], p[m][2 * kk][1]);
      a[m][1] = pack(p[m][2 * kk][2], p[m][2 * kk][3]);
      a[m][2] = pack(p[m][2 * kk + 1][0], p[m][2 * kk + 1][1]);
      a[m][3] = pack(p[m][2 * kk + 1][2], p[m][2 * kk + 1][3]);
    }
#pragma unroll
    for (int nt = 0; nt < HD / 8; nt += 2) {
      uint32_t b[4];
      loadTransposedB2(b, tile + kk * 16 * padded<HD>() + nt * 8, padded<HD>(), lane);
#pragma unroll
      for (int m = 0; m < RT; ++m) {
        mma16816(out[m][nt], a[m], b[0], b[1]);
        mma16816(out[m][nt + 1], a[m], b[2], b[3]);
      }
    }
  }
}
/// One row tile (the backward kernels).
template <int HD>
__device__ void accumulateProduct(float (&out)[HD / 8][4], const float (&p)[8][4],
                                  const bf16 *tile, int lane) {
  accumulateProduct<HD, 1>(reinterpret_cast<float(&)[1][HD / 8][4]>(out),
                           reinterpret_cast<const float(&)[1][8][4]>(p), tile, lane);
}

/// exp2 on the special-function unit, denormal results flushed to zero (probabilities that
/// small vanish in the bf16 products anyway).
__device__ __forceinline__ float fastExp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/// Sets to -inf the scores of a 16 x 64 accumulator tile (rows row0 and row0 + 8, keys k0 + the
/// column) that the causal mask or the end of the keys hides. Only the tiles that cross the
/// diagonal or the end of the keys call it.
__device__ __forceinline__ void maskScores(float (&s)[8][4], int k0, int row0, bool causal, int tk,
                                           int t) {
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int key = k0 + nt * 8 + t * 2 + (e & 1), row = row0 + 8 * (e >> 1);
      if (key >= tk || (causal && key > row))
        s[nt][e] = -INFINITY;
    }
}

/// The online softmax of one key tile for a 16-row tile: updates each row's maximum raw score
/// and running sum, rescales the output accumulators by exp2 of the change of the maximum, and
/// turns the scores into the tile's unnormalized probabilities exp2(s·scale·log2e − max·scale·
/// log2e), one FFMA and one EX2 each. A row whose keys are all masked so far keeps max −inf and
/// gets probabilities 0 (its "scaled max" is taken as 0 so that −inf − −inf never happens).
template <int HD>
__device__ __forceinline__ void onlineSoftmax(float (&s)[8][4], float (&rowMax)[2],
                                              float (&rowSum)[2], float (&o)[HD / 8][4],
                                              float scaleLog2) {
  float newMax[2] = {rowMax[0], rowMax[1]};
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      newMax[e >> 1] = fmaxf(newMax[e >> 1], s[nt][e]);
  float scaledMax[2], correction[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    newMax[r] = fmaxf(newMax[r], __shfl_xor_sync(0xffffffffu, newMax[r], 1));
    newMax[r] = fmaxf(newMax[r], __shfl_xor_sync(0xffffffffu, newMax[r], 2));
    scaledMax[r] = newMax[r] == -INFINITY ? 0.0f : newMax[r] * scaleLog2;
    correction[r] = fastExp2(rowMax[r] * scaleLog2 - scaledMax[r]); // 0 while rowMax is -inf
    rowMax[r] = newMax[r];
    rowSum[r] *= correction[r];
  }
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int r = e >> 1;
      const float p = fastExp2(fmaf(s[nt][e], scaleLog2, -scaledMax[r]));
      s[nt][e] = p;
      rowSum[r] += p;
    }
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt) {
    o[nt][0] *= correction[0];
    o[nt][1] *= correction[0];
    o[nt][2] *= correction[1];
    o[nt][3] *= correction[1];
  }
}

/// Writes a warp's 16 x HD accumulator rows (times `scale`) to rows `row0`, `row0 + 8` of a
/// [.., stride] bf16 matrix, skipping rows at or past `limit`.
template <int HD>
__device__ void storeRows(bf16 *dst, int64_t stride, const float (&acc)[HD / 8][4], int64_t row0,
                          int64_t limit, float scale0, float scale1, int t) {
  #pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt) {
    int c = nt * 8 + t * 2;
    if (row0 < limit)
      *reinterpret_cast<__nv_bfloat162 *>(dst + row0 * stride + c) =
          __floats2bfloat162_rn(acc[nt][0] * scale0, acc[nt][1] * scale0);
    if (row0 + 8 < limit)
      *reinterpret_cast<__nv_bfloat162 *>(dst + (row0 + 8) * stride + c) =
          __floats2bfloat162_rn(acc[nt][2] * scale1, acc[nt][3] * scale1);
  }
}

/// Query rows per warp in the forward kernel, in m16 tiles: two for head sizes up to 64, so
/// each K and V fragment loaded from shared memory feeds two mma instead of one (shared-memory
/// reads per flop halve); one for 128, where the registers of a second row tile do not fit.
// Tuning knobs (defaults measured on an H100 with utils/bench/attention.sh, 2026-11-25: two
// row tiles and one forward block per SM ran like one row tile and four blocks; the backward at
// three blocks per SM ran 12% faster than at two).
#ifndef INGOT_FLASH_FWD_ROW_TILES
#define INGOT_FLASH_FWD_ROW_TILES 2
#endif
#ifndef INGOT_FLASH_FWD_MIN_BLOCKS
#define INGOT_FLASH_FWD_MIN_BLOCKS 1
#endif
#ifndef INGOT_FLASH_BWD_MIN_BLOCKS
#define INGOT_FLASH_BWD_MIN_BLOCKS 3
#endif
/// Blocks per SM the backward kernels are compiled for: three caps head size 64's dK/dV kernel
/// at 168 registers (from 236) for a few bytes of spills; 128 would spill heavily.
template <int HD> __host__ __device__ constexpr int backwardMinBlocks() {
  return HD <= 64 ? INGOT_FLASH_BWD_MIN_BLOCKS : 1;
}
template <int HD> __host__ __device__ constexpr int forwardRowTiles() {
  return HD <= 64 ? INGOT_FLASH_FWD_ROW_TILES : 1;
}
/// Queries per forward block.
template <int HD> __host__ __device__ constexpr int forwardRows() { return kFlashWarps * 16 * forwardRowTiles<HD>(); }

template <int HD>
__global__ void __launch_bounds__(kFlashThreads, INGOT_FLASH_FWD_MIN_BLOCKS)
    flashForwardKernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                       AttentionDims d) {
  constexpr int RT = forwardRowTiles<HD>(), kRows = forwardRows<HD>();
  extern __shared__ __align__(16) unsigned char smem[];
  // Q, then two buffers of K and V: the next key tile loads while this one computes.
  bf16 *sQ = reinterpret_cast<bf16 *>(smem);
  bf16 *sKV = sQ + kRows * padded<HD>();
  constexpr int kTileElems = kTile * padded<HD>();
  // Causal query tiles far down the sequence see the most keys: they go first (blockIdx.x 0),
  // so the short tiles fill the tail of the grid instead of the long ones.
  const int64_t q0 = int64_t(gridDim.x - 1 - blockIdx.x) * kRows, h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (d.heads / d.kvHeads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  loadTile<HD, kRows>(sQ, q + (b * d.tq + q0) * d.qStride + h * HD, d.qStride, d.tq - q0);
  __syncthreads();
  uint32_t qf[RT][HD / 16][4];
#pragma unroll
  for (int m = 0; m < RT; ++m)
    loadRowFragments<HD>(qf[m], sQ, warp * RT + m, g, t);

  // This warp's rows: warpRow + 16 m + g (+ 8); sequence positions fit in 32 bits.
  const int warpRow = int(q0) + warp * RT * 16;
  float o[RT][HD / 8][4] = {};
  // Each row's running maximum of the raw scores and sum of exp2(scaled score - scaled max).
  float rowMax[RT][2], rowSum[RT][2];
#pragma unroll
  for (int m = 0; m < RT; ++m)
    rowMax[m][0] = rowMax[m][1] = -INFINITY, rowSum[m][0] = rowSum[m][1] = 0.0f;
  const float scaleLog2 = d.scale * kLog2e; // > 0: the dispatcher sends other scales elsewhere
  const int tk = int(d.tk);
  const int64_t kEnd = d.causal ? min(d.tk, q0 + kRows) : d.tk;
  prefetchKeyValues<HD>(sKV, 0, k, v, d, b, kvh, 0);
  for (int k0 = 0, tile = 0; k0 < kEnd; k0 += kTile, ++tile) {
    const int buffer = tile & 1;
    const bool more = k0 + kTile < kEnd;
    if (more) // that buffer was released at the end of the last tile
      prefetchKeyValues<HD>(sKV, buffer ^ 1, k, v, d, b, kvh, k0 + kTile);
    awaitTile(more);
    const bf16 *sK = sKV + (2 * buffer) * kTileElems, *sV = sKV + (2 * buffer + 1) * kTileElems;
    // Warp-uniform: a key tile wholly after this warp's last row adds nothing (skipping it keeps
    // every bit); only tiles crossing the diagonal or the end of the keys need the mask.
    const bool visible = !d.causal || k0 <= warpRow + RT * 16 - 1;
    const bool needsMask = (d.causal && k0 + kTile - 1 > warpRow) || k0 + kTile > tk;
    if (visible) {
      float s[RT][8][4];
      productWithTileRows<HD, RT>(s, qf, sK, lane);
#pragma unroll
      for (int m = 0; m < RT; ++m) {
        if (needsMask)
          maskScores(s[m], k0, warpRow + m * 16 + g, d.causal, tk, t);
        onlineSoftmax<HD>(s[m], rowMax[m], rowSum[m], o[m], scaleLog2);
      }
      accumulateProduct<HD, RT>(o, s, sV, lane);
    }
    __syncthreads(); // every warp is done with this buffer before it is refilled
  }
#pragma unroll
  for (int m = 0; m < RT; ++m) {
    float inverse[2];
    const int64_t row0 = warpRow + m * 16 + g;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      rowSum[m][r] += __shfl_xor_sync(0xffffffffu, rowSum[m][r], 1);
      rowSum[m][r] += __shfl_xor_sync(0xffffffffu, rowSum[m][r], 2);
      inverse[r] = rowSum[m][r] > 0 ? 1.0f / rowSum[m][r] : 0.0f;
      if (t == 0 && row0 + 8 * r < d.tq)
        lse[(b * d.heads + h) * d.tq + row0 + 8 * r] =
            (rowMax[m][r] * scaleLog2 + log2f(rowSum[m][r])) * kLn2;
    }
    storeRows<HD>(out + (b * d.tq * d.heads + h) * HD, d.heads * HD, o[m], row0, d.tq,
                  inverse[0], inverse[1], t);
  }
}

/// delta[(b, h, t)] = dout[b, t, h, :] . out[b, t, h, :]: 8 lanes per row, 8 elements each per
/// step (whole 16-byte rows per lane group), then a fixed butterfly over the 8 lanes.
template <typename T>
__global__ void attentionDeltaKernel(float *delta, const T *out, const T *dout, AttentionDims d) {
  int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 8;
  int part = threadIdx.x % 8;
  bool valid = row < d.batch * d.heads * d.tq;
  float acc = 0;
  if (valid) {
    int64_t t = row % d.tq, h = (row / d.tq) % d.heads, b = row / (d.tq * d.heads);
    int64_t base = ((b * d.tq + t) * d.heads + h) * d.hd;
    for (int64_t j = part * 8; j < d.hd; j += 64)
#pragma unroll
      for (int e = 0; e < 8; ++e)
        if (j + e < d.hd)
          acc += ld(dout + base + j + e) * ld(out + base + j + e);
  }
#pragma unroll
  for (int o = 4; o > 0; o >>= 1)
    acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (valid && part == 0)
    delta[row] = acc;
}

template <int HD>
__global__ void __launch_bounds__(kFlashThreads, backwardMinBlocks<HD>())
    flashBackwardKeyKernel(bf16 *dk, bf16 *dv, const bf16 *q, const bf16 *k, const bf16 *v,
                           const bf16 *dout, const float *lse, const float *delta,
                           AttentionDims d) {
  extern __shared__ __align__(16) unsigned char smem[];
  // Two buffers of (query tile, dout tile, their log-sum-exp and delta): the next pair loads
  // while this one computes. K and V pass through the first buffer on their way to registers.
  constexpr int kTileElems = kTile * padded<HD>();
  bf16 *sTiles = reinterpret_cast<bf16 *>(smem);
  float *sStats = reinterpret_cast<float *>(sTiles + 4 * kTileElems);
  const int64_t k0 = int64_t(blockIdx.x) * kTile, kvh = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int64_t kvBase = (b * d.tk + k0) * d.kvStride + kvh * HD;
  loadTile<HD>(sTiles, k + kvBase, d.kvStride, d.tk - k0);
  loadTile<HD>(sTiles + kTileElems, v + kvBase, d.kvStride, d.tk - k0);
  __syncthreads();
  uint32_t kf[HD / 16][4], vf[HD / 16][4];
  loadRowFragments<HD>(kf, sTiles, warp, g, t);
  loadRowFragments<HD>(vf, sTiles + kTileElems, warp, g, t);
  __syncthreads(); // K and V are in registers: the buffer is free
  const int warpKey = int(k0) + warp * 16; // this warp's keys: warpKey + g (+ 8)
  float dK[HD / 8][4] = {}, dV[HD / 8][4] = {};
  const float scaleLog2 = d.scale * kLog2e;
  const int64_t group = d.heads / d.kvHeads;
  const int64_t qStart = d.causal ? (k0 / kTile) * kTile : 0;
  const int64_t queryTiles = (d.tq - qStart + kTile - 1) / kTile, steps = group * queryTiles;
  // Step i: query head kvh * group + i / queryTiles, query tile i % queryTiles.
  auto prefetch = [&](int64_t i, int buffer) {
    const int64_t h = kvh * group + i / queryTiles, q0 = qStart + (i % queryTiles) * kTile;
    const int64_t doBase = ((b * d.tq + q0) * d.heads + h) * HD;
    loadTileAsync<HD>(sTiles + (2 * buffer) * kTileElems, q + (b * d.tq + q0) * d.qStride + h * HD,
                      d.qStride, d.tq - q0);
    loadTileAsync<HD>(sTiles + (2 * buffer + 1) * kTileElems, dout + doBase, d.heads * HD,
                      d.tq - q0);
    asyncCommit();
    float *stats = sStats + buffer * 2 * kTile;
    for (int j = threadIdx.x; j < kTile; j += blockDim.x) {
      bool valid = q0 + j < d.tq;
      stats[j] = valid ? lse[(b * d.heads + h) * d.tq + q0 + j] * kLog2e : 0.0f;
      stats[kTile + j] = valid ? delta[(b * d.heads + h) * d.tq + q0 + j] : 0.0f;
    }
  };
  if (steps > 0)
    prefetch(0, 0);
  for (int64_t i = 0; i < steps; ++i) {
    const int buffer = int(i & 1);
    if (i + 1 < steps) {
      prefetch(i + 1, buffer ^ 1);
      asyncWait<1>();
    } else {
      asyncWait<0>();
    }
    __syncthreads();
    const int64_t q0 = qStart + (i % queryTiles) * kTile;
    const bf16 *sQ = sTiles + (2 * buffer) * kTileElems, *sDO = sQ + kTileElems;
    const float *sLse = sStats + buffer * 2 * kTile, *sDelta = sLse + kTile;
    float p[8][4], ds[8][4];
    productWithTileRows<HD>(p, kf, sQ, lane);   // S^T: keys x queries
    productWithTileRows<HD>(ds, vf, sDO, lane); // dP^T
    // Warp-uniform: only the tile on the diagonal and the ends of the sequences need the mask.
    const bool needsMask = (d.causal && warpKey + 15 > q0) || q0 + kTile > d.tq ||
                           warpKey + 16 > d.tk;
    if (needsMask) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int query = int(q0) + nt * 8 + t * 2 + (e & 1), key = warpKey + g + 8 * (e >> 1);
          if (query >= d.tq || key >= d.tk || (d.causal && key > query))
            p[nt][e] = -INFINITY;
        }
    }
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = nt * 8 + t * 2 + (e & 1);
        const float prob = fastExp2(fmaf(p[nt][e], scaleLog2, -sLse[c]));
        p[nt][e] = prob;
        ds[nt][e] = prob * (ds[nt][e] - sDelta[c]);
      }
    accumulateProduct<HD>(dV, p, sDO, lane);
    accumulateProduct<HD>(dK, ds, sQ, lane);
    __syncthreads(); // every warp is done with this buffer before it is refilled
  }
  storeRows<HD>(dk + b * d.tk * d.dkvStride + kvh * HD, d.dkvStride, dK, warpKey + g, d.tk,
                d.scale, d.scale, t);
  storeRows<HD>(dv + b * d.tk * d.dkvStride + kvh * HD, d.dkvStride, dV, warpKey + g, d.tk, 1.0f,
                1.0f, t);
}

template <int HD>
__global__ void __launch_bounds__(kFlashThreads, backwardMinBlocks<HD>())
    flashBackwardQueryKernel(bf16 *dq, const bf16 *q, const bf16 *k, const bf16 *v,
                             const bf16 *dout, const float *lse, const float *delta,
                             AttentionDims d) {
  extern __shared__ __align__(16) unsigned char smem[];
  // Two buffers of (key tile, value tile): the next pair loads while this one computes. Q and
  // dout pass through the first buffer on their way to registers.
  constexpr int kTileElems = kTile * padded<HD>();
  bf16 *sTiles = reinterpret_cast<bf16 *>(smem);
  // Causal query tiles far down the sequence see the most keys: they go first (blockIdx.x 0),
  // so the short tiles fill the tail of the grid instead of the long ones.
  const int64_t q0 = int64_t(gridDim.x - 1 - blockIdx.x) * kTile, h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (d.heads / d.kvHeads);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  loadTile<HD>(sTiles, q + (b * d.tq + q0) * d.qStride + h * HD, d.qStride, d.tq - q0);
  loadTile<HD>(sTiles + kTileElems, dout + ((b * d.tq + q0) * d.heads + h) * HD, d.heads * HD,
               d.tq - q0);
  __syncthreads();
  uint32_t qf[HD / 16][4], df[HD / 16][4];
  loadRowFragments<HD>(qf, sTiles, warp, g, t);
  loadRowFragments<HD>(df, sTiles + kTileElems, warp, g, t);
  __syncthreads(); // Q and dout are in registers: the buffer is free
  const int64_t rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  float rowLse[2], rowDelta[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    bool valid = rows[r] < d.tq;
    rowLse[r] = valid ? lse[(b * d.heads + h) * d.tq + rows[r]] * kLog2e : 0.0f;
    rowDelta[r] = valid ? delta[(b * d.heads + h) * d.tq + rows[r]] : 0.0f;
  }
  float dQ[HD / 8][4] = {};
  const float scaleLog2 = d.scale * kLog2e;
  const int64_t kEnd = d.causal ? min(d.tk, q0 + kTile) : d.tk;
  prefetchKeyValues<HD>(sTiles, 0, k, v, d, b, kvh, 0);
  for (int64_t k0 = 0, tile = 0; k0 < kEnd; k0 += kTile, ++tile) {
    const int buffer = int(tile & 1);
    const bool more = k0 + kTile < kEnd;
    if (more)
      prefetchKeyValues<HD>(sTiles, buffer ^ 1, k, v, d, b, kvh, k0 + kTile);
    awaitTile(more);
    const bf16 *sK = sTiles + (2 * buffer) * kTileElems, *sV = sK + kTileElems;
    float p[8][4], ds[8][4];
    productWithTileRows<HD>(p, qf, sK, lane);  // S
    productWithTileRows<HD>(ds, df, sV, lane); // dP
    // Warp-uniform: only the tile on the diagonal and the ends of the sequences need the mask.
    const int warpRow = int(rows[0]) - g;
    if ((d.causal && k0 + kTile - 1 > warpRow) || k0 + kTile > d.tk || warpRow + 16 > d.tq) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = int(k0) + nt * 8 + t * 2 + (e & 1), row = int(rows[e >> 1]);
          if (row >= d.tq || key >= d.tk || (d.causal && key > row))
            p[nt][e] = -INFINITY;
        }
    }
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const float prob = fastExp2(fmaf(p[nt][e], scaleLog2, -rowLse[r]));
        ds[nt][e] = prob * (ds[nt][e] - rowDelta[r]);
      }
    accumulateProduct<HD>(dQ, ds, sK, lane);
    __syncthreads(); // every warp is done with this buffer before it is refilled
  }
  storeRows<HD>(dq + b * d.tq * d.dqStride + h * HD, d.dqStride, dQ, rows[0], d.tq, d.scale,
                d.scale, t);
}

template <int HD> constexpr int forwardSmem() {
  return (forwardRows<HD>() + 4 * kTile) * padded<HD>() * 2;
}
template <int HD> constexpr int keySmem() { return 4 * kTile * padded<HD>() * 2 + 4 * kTile * 4; }
template <int HD> constexpr int querySmem() { return 4 * kTile * padded<HD>() * 2; }

/// Lets a flash kernel take `smemBytes` of dynamic shared memory (over the 48 KiB default) and
/// asks for the largest shared-memory carveout: with the default split the SM fit only two or
/// three blocks by shared memory, fewer than the registers allow.
template <typename Kernel> void configureFlashKernel(Kernel *kernel, int smemBytes) {
  cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smemBytes));
  cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                 int(cudaSharedmemCarveoutMaxShared)));
}

template <int HD>
void flashForward(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                  const AttentionDims &d) {
  static bool configured = false;
  if (!configured) {
    configureFlashKernel(flashForwardKernel<HD>, forwardSmem<HD>());
    configured = true;
  }
  dim3 grid(unsigned((d.tq + forwardRows<HD>() - 1) / forwardRows<HD>()), unsigned(d.heads),
            unsigned(d.batch));
  flashForwardKernel<HD><<<grid, kFlashThreads, forwardSmem<HD>()>>>(out, lse, q, k, v, d);
  launchCheck("attention (flash forward)");
}

template <int HD>
void flashBackward(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *q, const bf16 *k, const bf16 *v,
                   const bf16 *dout, const float *lse, const float *delta,
                   const AttentionDims &d) {
  static bool configured = false;
  if (!configured) {
    configureFlashKernel(flashBackwardKeyKernel<HD>, keySmem<HD>());
    configureFlashKernel(flashBackwardQueryKernel<HD>, querySmem<HD>());
    configured = true;
  }
  dim3 keyGrid(unsigned((d.tk + kTile - 1) / kTile), unsigned(d.kvHeads), unsigned(d.batch));
  flashBackwardKeyKernel<HD><<<keyGrid, kFlashThreads, keySmem<HD>()>>>(dk, dv, q, k, v, dout,
                                                                         lse, delta, d);
  launchCheck("attentionGrad (flash keys, values)");
  dim3 queryGrid(unsigned((d.tq + kTile - 1) / kTile), unsigned(d.heads), unsigned(d.batch));
  flashBackwardQueryKernel<HD><<<queryGrid, kFlashThreads, querySmem<HD>()>>>(dq, q, k, v, dout,
                                                                               lse, delta, d);
  launchCheck("attentionGrad (flash queries)");
}

// ---- The simple kernels: fp32 storage or head sizes the flash kernels do not cover. ----

struct SimpleShape {
  AttentionDims d;
  __device__ int64_t qRow(int64_t b, int64_t t, int64_t h) const {
    return (b * d.tq + t) * d.qStride + h * d.hd;
  }
  /// Rows of out and dout (always packed).
  __device__ int64_t outRow(int64_t b, int64_t t, int64_t h) const {
    return (b * d.tq + t) * d.heads * d.hd + h * d.hd;
  }
  __device__ int64_t kvRow(int64_t b, int64_t s, int64_t kvh) const {
    return (b * d.tk + s) * d.kvStride + kvh * d.hd;
  }
  __device__ int64_t lastKey(int64_t t) const {
    return d.causal ? (t < d.tk - 1 ? t : d.tk - 1) : d.tk - 1;
  }
  __device__ int64_t dqRow(int64_t b, int64_t t, int64_t h) const {
    return (b * d.tq + t) * d.dqStride + h * d.hd;
  }
  __device__ int64_t dkvRow(int64_t b, int64_t s, int64_t kvh) const {
    return (b * d.tk + s) * d.dkvStride + kvh * d.hd;
  }
};

template <typename T> __device__ float dotRows(const T *a, const T *b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += ld(a + i) * ld(b + i);
  return s;
}

template <typename T>
__global__ void simpleForwardKernel(T *out, float *lse, const T *q, const T *k, const T *v,
                                    SimpleShape sh) {
  const AttentionDims &d = sh.d;
  INGOT_GRID_LOOP(item, d.batch * d.heads * d.tq) {
    int64_t t = item % d.tq, h = (item / d.tq) % d.heads, b = item / (d.tq * d.heads);
    int64_t kvh = h / (d.heads / d.kvHeads);
    const T *qr = q + sh.qRow(b, t, h);
    int64_t last = sh.lastKey(t);
    float maxScore = -INFINITY;
    for (int64_t s = 0; s <= last; ++s)
      maxScore = fmaxf(maxScore, dotRows(qr, k + sh.kvRow(b, s, kvh), d.hd) * d.scale);
    float sum = 0;
    for (int64_t s = 0; s <= last; ++s)
      sum += expf(dotRows(qr, k + sh.kvRow(b, s, kvh), d.hd) * d.scale - maxScore);
    float acc[kMaxHeadDim];
    for (int64_t j = 0; j < d.hd; ++j)
      acc[j] = 0;
    for (int64_t s = 0; s <= last; ++s) {
      float p = expf(dotRows(qr, k + sh.kvRow(b, s, kvh), d.hd) * d.scale - maxScore) / sum;
      const T *vr = v + sh.kvRow(b, s, kvh);
      for (int64_t j = 0; j < d.hd; ++j)
        acc[j] += p * ld(vr + j);
    }
    T *o = out + sh.outRow(b, t, h);
    for (int64_t j = 0; j < d.hd; ++j)
      st(o + j, acc[j]);
    lse[item] = maxScore + logf(sum);
  }
}

template <typename T>
__global__ void simpleQueryGradKernel(T *dq, const T *q, const T *k, const T *v, const T *dout,
                                      const float *lse, const float *delta, SimpleShape sh) {
  const AttentionDims &d = sh.d;
  INGOT_GRID_LOOP(item, d.batch * d.heads * d.tq) {
    int64_t t = item % d.tq, h = (item / d.tq) % d.heads, b = item / (d.tq * d.heads);
    int64_t kvh = h / (d.heads / d.kvHeads);
    const T *qr = q + sh.qRow(b, t, h), *dor = dout + sh.outRow(b, t, h);
    float acc[kMaxHeadDim];
    for (int64_t j = 0; j < d.hd; ++j)
      acc[j] = 0;
    for (int64_t s = 0; s <= sh.lastKey(t); ++s) {
      const T *kr = k + sh.kvRow(b, s, kvh);
      float p = expf(dotRows(qr, kr, d.hd) * d.scale - lse[item]);
      float dp = dotRows(dor, v + sh.kvRow(b, s, kvh), d.hd);
      float ds = d.scale * p * (dp - delta[item]);
      for (int64_t j = 0; j < d.hd; ++j)
        acc[j] += ds * ld(kr + j);
    }
    T *dqr = dq + sh.dqRow(b, t, h);
    for (int64_t j = 0; j < d.hd; ++j)
      st(dqr + j, acc[j]);
  }
}

template <typename T>
__global__ void simpleKeyGradKernel(T *dk, T *dv, const T *q, const T *k, const T *v,
                                    const T *dout, const float *lse, const float *delta,
                                    SimpleShape sh) {
  const AttentionDims &d = sh.d;
  INGOT_GRID_LOOP(item, d.batch * d.kvHeads * d.tk) {
    int64_t s = item % d.tk, kvh = (item / d.tk) % d.kvHeads, b = item / (d.tk * d.kvHeads);
    int64_t group = d.heads / d.kvHeads;
    const T *kr = k + sh.kvRow(b, s, kvh), *vr = v + sh.kvRow(b, s, kvh);
    float dkAcc[kMaxHeadDim], dvAcc[kMaxHeadDim];
    for (int64_t j = 0; j < d.hd; ++j)
      dkAcc[j] = dvAcc[j] = 0;
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
      for (int64_t t = 0; t < d.tq; ++t) {
        if (d.causal && s > sh.lastKey(t))
          continue;
        int64_t row = (b * d.heads + h) * d.tq + t;
        const T *qr = q + sh.qRow(b, t, h), *dor = dout + sh.outRow(b, t, h);
        float p = expf(dotRows(qr, kr, d.hd) * d.scale - lse[row]);
        float dp = dotRows(dor, vr, d.hd);
        float ds = d.scale * p * (dp - delta[row]);
        for (int64_t j = 0; j < d.hd; ++j) {
          dvAcc[j] += p * ld(dor + j);
          dkAcc[j] += ds * ld(qr + j);
        }
      }
    T *dkr = dk + sh.dkvRow(b, s, kvh), *dvr = dv + sh.dkvRow(b, s, kvh);
    for (int64_t j = 0; j < d.hd; ++j) {
      st(dkr + j, dkAcc[j]);
      st(dvr + j, dvAcc[j]);
    }
  }
}

/// qRowStride, kvRowStride: 0 for packed rows.
AttentionDims attentionDims(int64_t batch, int64_t tq, int64_t tk, int64_t heads,
                            int64_t kvHeads, int64_t hd, bool causal, double scale,
                            int64_t qRowStride, int64_t kvRowStride) {
  if (hd > kMaxHeadDim || kvHeads <= 0 || heads % kvHeads != 0) {
    std::fprintf(stderr, "error: the cuda attention kernels need a head size of at most %d and "
                         "heads divisible by kv heads (found hd %lld, heads %lld, kv heads %lld)\n",
                 kMaxHeadDim, (long long)hd, (long long)heads, (long long)kvHeads);
    std::exit(1);
  }
  float s = float(scale == 0 ? 1.0 / std::sqrt(double(hd)) : scale);
  const int64_t qStride = qRowStride ? qRowStride : heads * hd;
  const int64_t kvStride = kvRowStride ? kvRowStride : kvHeads * hd;
  return {batch, tq, tk, heads, kvHeads, hd, causal, s, qStride, kvStride, heads * hd,
          kvHeads * hd};
}

} // namespace

template <typename T>
void attention(T *out, float *lse, const T *q, const T *k, const T *v, int64_t batch, int64_t tq,
               int64_t tk, int64_t heads, int64_t kvHeads, int64_t hd, bool causal,
               double scale, int64_t qRowStride, int64_t kvRowStride) {
  AttentionDims d = attentionDims(batch, tq, tk, heads, kvHeads, hd, causal, scale, qRowStride,
                                  kvRowStride);
  // The flash kernels fold the scale into the running maximum, which needs it positive.
  if constexpr (std::is_same_v<T, bf16>) {
    switch (d.scale > 0 ? hd : 0) {
    case 16: return flashForward<16>(out, lse, q, k, v, d);
    case 32: return flashForward<32>(out, lse, q, k, v, d);
    case 64: return flashForward<64>(out, lse, q, k, v, d);
    case 128: return flashForward<128>(out, lse, q, k, v, d);
    default: break;
    }
  }
  simpleForwardKernel<<<blocksFor(batch * heads * tq), kThreads>>>(out, lse, q, k, v,
                                                                   SimpleShape{d});
  launchCheck("attention");
}

template <typename T>
void attentionGrad(T *dq, T *dk, T *dv, const T *q, const T *k, const T *v, const T *out,
                   const T *dout, const float *lse, int64_t batch, int64_t tq, int64_t tk,
                   int64_t heads, int64_t kvHeads, int64_t hd, bool causal, double scale,
                   void *scratch, int64_t dqRowStride, int64_t dkvRowStride, int64_t qRowStride,
                   int64_t kvRowStride) {
  AttentionDims d = attentionDims(batch, tq, tk, heads, kvHeads, hd, causal, scale, qRowStride,
                                  kvRowStride);
  if (dqRowStride)
    d.dqStride = dqRowStride;
  if (dkvRowStride)
    d.dkvStride = dkvRowStride;
  auto *delta = static_cast<float *>(scratch);
  attentionDeltaKernel<<<blocksFor(batch * heads * tq * 8), kThreads>>>(delta, out, dout, d);
  launchCheck("attentionGrad (delta)");
  if constexpr (std::is_same_v<T, bf16>) {
    switch (d.scale > 0 ? hd : 0) {
    case 16: return flashBackward<16>(dq, dk, dv, q, k, v, dout, lse, delta, d);
    case 32: return flashBackward<32>(dq, dk, dv, q, k, v, dout, lse, delta, d);
    case 64: return flashBackward<64>(dq, dk, dv, q, k, v, dout, lse, delta, d);
    case 128: return flashBackward<128>(dq, dk, dv, q, k, v, dout, lse, delta, d);
    default: break;
    }
  }
  simpleQueryGradKernel<<<blocksFor(batch * heads * tq), kThreads>>>(dq, q, k, v, dout, lse, delta,
                                                                     SimpleShape{d});
  launchCheck("attentionGrad (queries)");
  simpleKeyGradKernel<<<blocksFor(batch * kvHeads * tk), kThreads>>>(dk, dv, q, k, v, dout, lse,
                                                                     delta, SimpleShape{d});
  launchCheck("attentionGrad (keys, values)");
}

#define INGOT_INST_ATTENTION(T)                                                                    \
  template void attention<T>(T *, float *, const T *, const T *, const T *, int64_t, int64_t,     \
                             int64_t, int64_t, int64_t, int64_t, bool, double, int64_t, int64_t); \
  template void attentionGrad<T>(T *, T *, T *, const T *, const T *, const T *, const T *,       \
                                 const T *, const float *, int64_t, int64_t, int64_t, int64_t,    \
                                 int64_t, int64_t, bool, double, void *, int64_t, int64_t,        \
                                 int64_t, int64_t);
INGOT_FOR_T(INGOT_INST_ATTENTION)

} // namespace ingot::cuda
