//===- Check.cuh - Error checks for CUDA and cuBLAS calls ------*- CUDA -*-===//
//
// Private to runtime/cuda/. Every CUDA and cuBLAS call goes through cudaCheck / cublasCheck
// (llm.c's habit): a failure prints the call, the file and line, and the library's message,
// and exits with status 1: a training step cannot continue after a device error.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_CUDA_CHECK_CUH
#define INGOT_RT_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace ingot::cuda::detail {

[[noreturn]] void cudaFail(cudaError_t error, const char *what, const char *file, int line);
[[noreturn]] void cublasFail(cublasStatus_t status, const char *what, const char *file, int line);
/// Checks the last launch; with INGOT_CUDA_SYNC=1 also waits for it.
void checkLaunch(const char *kernel, const char *file, int line);
/// The one cuBLAS handle (created with the arena).
cublasHandle_t cublas();

} // namespace ingot::cuda::detail

#define cudaCheck(call)                                                                            \
  do {                                                                                             \
    cudaError_t ingotError_ = (call);                                                              \
    if (ingotError_ != cudaSuccess)                                                                \
      ::ingot::cuda::detail::cudaFail(ingotError_, #call, __FILE__, __LINE__);                     \
  } while (0)
#define cublasCheck(call)                                                                          \
  do {                                                                                             \
    cublasStatus_t ingotStatus_ = (call);                                                          \
    if (ingotStatus_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::ingot::cuda::detail::cublasFail(ingotStatus_, #call, __FILE__, __LINE__);                  \
  } while (0)
#define launchCheck(kernel) ::ingot::cuda::detail::checkLaunch(kernel, __FILE__, __LINE__)

#endif // INGOT_RT_CUDA_CHECK_CUH
