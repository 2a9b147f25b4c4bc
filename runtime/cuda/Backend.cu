//===- Backend.cu - The GPU arena, cuBLAS and error checks ---------------===//
//
// The ModelDesc hooks that let libingot_rt's device-independent loop move data to and from
// the one GPU arena, and the error reporting every launcher uses.
//
//===----------------------------------------------------------------------===//
#include "cuda/Check.cuh"
#include "cuda/Kernels.cuh"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ingot::cuda {
namespace detail {

namespace {
cublasHandle_t handle = nullptr;
int syncEveryLaunch = -1;
} // namespace

void cudaFail(cudaError_t error, const char *what, const char *file, int line) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: CUDA: %s (%s) in %s at %s:%d\n", cudaGetErrorString(error),
               cudaGetErrorName(error), what, file, line);
  std::exit(1);
}

void cublasFail(cublasStatus_t status, const char *what, const char *file, int line) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: cuBLAS: %s (%s) in %s at %s:%d\n", cublasGetStatusString(status),
               cublasGetStatusName(status), what, file, line);
  std::exit(1);
}

void checkLaunch(const char *kernel, const char *file, int line) {
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess)
    cudaFail(error, kernel, file, line);
  if (syncEveryLaunch < 0) {
    const char *env = std::getenv("INGOT_CUDA_SYNC");
    syncEveryLaunch = env && std::strcmp(env, "1") == 0;
  }
  if (syncEveryLaunch) {
    error = cudaDeviceSynchronize();
    if (error != cudaSuccess)
      cudaFail(error, kernel, file, line);
  }
}

cublasHandle_t cublas() {
  if (!handle) {
    cublasCheck(cublasCreate(&handle));
    // Plain fp32 products (no TF32): this target is checked against the host's numbers.
    cublasCheck(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH));
  }
  return handle;
}

} // namespace detail

void *allocArena(uint64_t bytes) {
  int devices = 0;
  cudaError_t error = cudaGetDeviceCount(&devices);
  if (error != cudaSuccess || devices == 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: this trainer was compiled for the cuda target but no CUDA device "
                         "is usable (%s)\n",
                 error != cudaSuccess ? cudaGetErrorString(error) : "0 devices");
    std::exit(1);
  }
  cudaCheck(cudaSetDevice(0));
  void *arena = nullptr;
  uint64_t rounded = (bytes + 255) / 256 * 256;
  error = cudaMalloc(&arena, rounded);
  if (error != cudaSuccess) {
    size_t freeBytes = 0, totalBytes = 0;
    cudaMemGetInfo(&freeBytes, &totalBytes);
    std::fflush(stdout);
    std::fprintf(stderr, "error: cannot allocate the model's arena of %llu bytes (%.2f GiB) on the "
                         "GPU: %s (%.2f GiB free of %.2f GiB)\n",
                 (unsigned long long)bytes, double(bytes) / (1 << 30), cudaGetErrorString(error),
                 double(freeBytes) / (1 << 30), double(totalBytes) / (1 << 30));
    std::exit(1);
  }
  cudaCheck(cudaMemset(arena, 0, rounded));
  detail::cublas();
  return arena;
}

void freeArena(void *arena) {
  if (detail::handle) {
    cublasDestroy(detail::handle);
    detail::handle = nullptr;
  }
  cudaFree(arena);
}

void copyToArena(void *arena, uint64_t offset, const void *src, uint64_t bytes) {
  cudaCheck(cudaMemcpy(static_cast<char *>(arena) + offset, src, bytes, cudaMemcpyHostToDevice));
}

void copyFromArena(void *dst, const void *arena, uint64_t offset, uint64_t bytes) {
  cudaCheck(
      cudaMemcpy(dst, static_cast<const char *>(arena) + offset, bytes, cudaMemcpyDeviceToHost));
}

void zeroArena(void *arena, uint64_t offset, uint64_t bytes) {
  cudaCheck(cudaMemset(static_cast<char *>(arena) + offset, 0, bytes));
}

} // namespace ingot::cuda
