//===- Matmul.cu - GEMMs: cuBLASLt for bf16, cuBLAS for fp32 --------------===//
//
// Row-major C[m, n] = A[m, k] B[k, n] is column-major C^T[n, m] = B^T A^T, so the library sees
// b as its first operand (a row-major [r, c] matrix is a column-major [c, r] one with ld = c).
//
// bf16 operands go through cuBLASLt on the tensor cores with fp32 accumulation and an fp32
// scale; the output is bf16 (activations) or fp32 (weight gradients). Each distinct shape gets
// its descriptors and the heuristic's first algorithm once, cached for the run, so the steady
// state makes one library call per GEMM and the choice (hence the bits) never changes.
// fp32 operands (precision f32) use cuBLAS without TF32, as the host target computes.
//
// Every call goes to the calling thread's default stream (cudaStreamPerThread), where all the
// kernels go (the cuda code is compiled with --default-stream per-thread): the stream a CUDA
// graph of the step is captured from.
//
//===----------------------------------------------------------------------===//
#include "cuda/Common.cuh"

#include <cublasLt.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>
#include <type_traits>

namespace ingot::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;

#define cublasLtCheck(call) cublasCheck(call)

struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t first = nullptr, second = nullptr, out = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

using LtKey = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t,
                         int64_t, int64_t, int, bool>;

struct LtState {
  cublasLtHandle_t handle = nullptr;
  void *workspace = nullptr;
  std::map<LtKey, LtPlan> plans;
};
LtState lt;

cublasLtMatrixLayout_t layout(cudaDataType type, int64_t rows, int64_t cols, int64_t ld,
                              int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l;
  cublasLtCheck(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    cublasLtCheck(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                   sizeof(count)));
    cublasLtCheck(cublasLtMatrixLayoutSetAttribute(
        l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  return l;
}

/// The weight gradient's bias-gradient epilogue (cuBLASLt's BGRADA: column sums of the first
/// library operand, our b), kept out of the public Epilogue set: only matmulWeightBiasGrad
/// uses it.
constexpr Epilogue kBiasGrad = Epilogue(100);

/// Sets the per-call pointers of a fused epilogue on the plan's descriptor.
void setEpiloguePointers(const LtPlan &plan, Epilogue epilogue, const void *bias, void *aux) {
  if (epilogue == Epilogue::bias || epilogue == Epilogue::geluBias || epilogue == kBiasGrad)
    cublasLtCheck(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                 &bias, sizeof(bias)));
  if (epilogue == Epilogue::geluBias || epilogue == Epilogue::dgelu)
    cublasLtCheck(cublasLtMatmulDescSetAttribute(
        plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)));
}

/// The descriptors and algorithm of one GEMM shape and epilogue, made on first use. `bias` and
/// `aux` of the first call are set before the heuristic runs (it reads their alignment). With
/// `optional`, a shape cuBLASLt has no algorithm for gives null (remembered) instead of an
/// error.
const LtPlan *ltPlan(cudaDataType inType, cudaDataType outType, int64_t batch, int64_t m,
                     int64_t n, int64_t k, bool transA, bool transB, int64_t strideA,
                     int64_t strideB, int64_t strideC, Epilogue epilogue, bool residual,
                     const void *bias, void *aux, bool optional);
const LtPlan &ltPlan(cudaDataType inType, cudaDataType outType, int64_t batch, int64_t m,
                     int64_t n, int64_t k, bool transA, bool transB, int64_t strideA,
                     int64_t strideB, int64_t strideC, Epilogue epilogue = Epilogue::none,
                     bool residual = false, const void *bias = nullptr, void *aux = nullptr) {
  return *ltPlan(inType, outType, batch, m, n, k, transA, transB, strideA, strideB, strideC,
                 epilogue, residual, bias, aux, false);
}
const LtPlan *ltPlan(cudaDataType inType, cudaDataType outType, int64_t batch, int64_t m,
                     int64_t n, int64_t k, bool transA, bool transB, int64_t strideA,
                     int64_t strideB, int64_t strideC, Epilogue epilogue, bool residual,
                     const void *bias, void *aux, bool optional) {
  LtKey key{int(inType), int(outType), batch, m,          n,          k,       transA,
            transB,      strideA,        strideB, strideC, int(epilogue), residual};
  auto found = lt.plans.find(key);
  if (found != lt.plans.end())
    return found->second.desc ? &found->second : nullptr;
  if (!lt.handle) {
    cublasLtCheck(cublasLtCreate(&lt.handle));
    cudaCheck(cudaMalloc(&lt.workspace, kWorkspaceBytes));
  }
  LtPlan plan;
  cublasLtCheck(cublasLtMatmulDescCreate(&plan.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t opFirst = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opSecond = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtCheck(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opFirst,
                                               sizeof(opFirst)));
  cublasLtCheck(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opSecond,
                                               sizeof(opSecond)));
  // First operand b: column-major [n, k] (ld n), or [k, n] (ld k) read transposed.
  plan.first = transB ? layout(inType, k, n, k, batch, strideB) : layout(inType, n, k, n, batch, strideB);
  // Second operand a: column-major [k, m] (ld k), or [m, k] (ld m) read transposed.
  plan.second = transA ? layout(inType, m, k, m, batch, strideA) : layout(inType, k, m, k, batch, strideA);
  plan.out = layout(outType, n, m, n, batch, strideC);
  if (epilogue != Epilogue::none) {
    // The bias runs along the output's columns of the row-major view: the rows (n) of cuBLAS's
    // column-major D.
    cublasLtEpilogue_t e = epilogue == Epilogue::bias       ? CUBLASLT_EPILOGUE_BIAS
                           : epilogue == Epilogue::geluBias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS
                           : epilogue == kBiasGrad          ? CUBLASLT_EPILOGUE_BGRADA
                                                            : CUBLASLT_EPILOGUE_DGELU;
    cublasLtCheck(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &e,
                                                 sizeof(e)));
    if (epilogue == Epilogue::geluBias || epilogue == Epilogue::dgelu) {
      int64_t ld = n;
      cublasLtCheck(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD,
                                                   &ld, sizeof(ld)));
    }
    setEpiloguePointers(plan, epilogue, bias, aux);
  }

  cublasLtMatmulPreference_t preference;
  cublasLtCheck(cublasLtMatmulPreferenceCreate(&preference));
  size_t workspace = kWorkspaceBytes;
  cublasLtCheck(cublasLtMatmulPreferenceSetAttribute(
      preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
  cublasLtMatmulHeuristicResult_t result{};
  int count = 0;
  cublasLtCheck(cublasLtMatmulAlgoGetHeuristic(lt.handle, plan.desc, plan.first, plan.second,
                                               plan.out, plan.out, preference, 1, &result, &count));
  cublasLtMatmulPreferenceDestroy(preference);
  if (count == 0 && optional) {
    cublasLtMatmulDescDestroy(plan.desc);
    cublasLtMatrixLayoutDestroy(plan.first);
    cublasLtMatrixLayoutDestroy(plan.second);
    cublasLtMatrixLayoutDestroy(plan.out);
    lt.plans.emplace(key, LtPlan{}); // remembered: no algorithm
    return nullptr;
  }
  if (count == 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: cuBLASLt has no algorithm for a bf16 GEMM of m %lld n %lld k %lld "
                         "(batch %lld, epilogue %d)\n",
                 (long long)m, (long long)n, (long long)k, (long long)batch, int(epilogue));
    std::exit(1);
  }
  plan.algo = result.algo;
  return &lt.plans.emplace(key, plan).first->second;
}

template <typename T> constexpr cudaDataType dataType() {
  return std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_16BF;
}

} // namespace

template <typename C, typename T>
void matmul(C *c, const T *a, const T *b, int64_t batch, int64_t m, int64_t n, int64_t k,
            bool transA, bool transB, int64_t strideA, int64_t strideB, int64_t strideC,
            bool accumulate) {
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  if constexpr (std::is_same_v<T, float>) {
    static_assert(std::is_same_v<C, float>, "fp32 operands give an fp32 product");
    cublasOperation_t opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    int64_t ldb = transB ? k : n, lda = transA ? m : k;
    cublasCheck(cublasGemmStridedBatchedEx(detail::cublas(), opB, opA, int(n), int(m), int(k),
                                           &alpha, b, CUDA_R_32F, int(ldb), strideB, a,
                                           CUDA_R_32F, int(lda), strideA, &beta, c, CUDA_R_32F,
                                           int(n), strideC, int(batch), CUBLAS_COMPUTE_32F,
                                           CUBLAS_GEMM_DEFAULT));
  } else {
    const LtPlan &plan = ltPlan(dataType<T>(), dataType<C>(), batch, m, n, k, transA, transB,
                                strideA, strideB, strideC);
    cublasLtCheck(cublasLtMatmul(lt.handle, plan.desc, &alpha, b, plan.first, a, plan.second,
                                 &beta, c, plan.out, c, plan.out, &plan.algo, lt.workspace,
                                 kWorkspaceBytes, cudaStreamPerThread));
  }
}

void matmulEpilogue(bf16 *d, const bf16 *a, const bf16 *b, const bf16 *residual,
                    const bf16 *bias, bf16 *aux, Epilogue epilogue, int64_t m, int64_t n,
                    int64_t k, bool transA, bool transB) {
  const float alpha = 1.0f, beta = residual ? 1.0f : 0.0f;
  const LtPlan &plan = ltPlan(CUDA_R_16BF, CUDA_R_16BF, 1, m, n, k, transA, transB, 0, 0, 0,
                              epilogue, residual != nullptr, bias, aux);
  setEpiloguePointers(plan, epilogue, bias, aux);
  const bf16 *c = residual ? residual : d;
  cublasLtCheck(cublasLtMatmul(lt.handle, plan.desc, &alpha, b, plan.first, a, plan.second, &beta,
                               c, plan.out, d, plan.out, &plan.algo, lt.workspace,
                               kWorkspaceBytes, cudaStreamPerThread));
}

void matmulWeightBiasGrad(float *dw, float *dbias, const bf16 *a, const bf16 *dy, int64_t m,
                          int64_t n, int64_t k, bool accumulateWeights, void *scratch) {
  auto *sums = static_cast<float *>(scratch);
  const LtPlan *plan = ltPlan(CUDA_R_16BF, CUDA_R_32F, 1, m, n, k, /*transA=*/true,
                              /*transB=*/false, 0, 0, 0, kBiasGrad, false, sums, nullptr, true);
  if (!plan) {
    matmul<float, bf16>(dw, a, dy, 1, m, n, k, true, false, 0, 0, 0, accumulateWeights);
    reduce<float, bf16>(Reduce::sum, dbias, dy, 1, k, n, scratch, true);
    return;
  }
  setEpiloguePointers(*plan, kBiasGrad, sums, nullptr);
  const float alpha = 1.0f, beta = accumulateWeights ? 1.0f : 0.0f;
  cublasLtCheck(cublasLtMatmul(lt.handle, plan->desc, &alpha, dy, plan->first, a, plan->second,
                               &beta, dw, plan->out, dw, plan->out, &plan->algo, lt.workspace,
                               kWorkspaceBytes, cudaStreamPerThread));
  accumulate<float, float>(dbias, sums, n);
}

template void matmul<float, float>(float *, const float *, const float *, int64_t, int64_t,
                                   int64_t, int64_t, bool, bool, int64_t, int64_t, int64_t, bool);
template void matmul<bf16, bf16>(bf16 *, const bf16 *, const bf16 *, int64_t, int64_t, int64_t,
                                 int64_t, bool, bool, int64_t, int64_t, int64_t, bool);
template void matmul<float, bf16>(float *, const bf16 *, const bf16 *, int64_t, int64_t, int64_t,
                                  int64_t, bool, bool, int64_t, int64_t, int64_t, bool);

} // namespace ingot::cuda
