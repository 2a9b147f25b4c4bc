//===- Backend.cu - The GPU arena, cuBLAS and error checks ---------------===//
//
// The ModelDesc hooks that let libingot_rt's device-independent loop move data to and from
// the one GPU arena, and the error reporting every launcher uses.
//
//===----------------------------------------------------------------------===//
#include "cuda/Check.cuh"
#include "cuda/Kernels.cuh"
#include "ingot/rt/Model.h"
#include "src/GpuModel.h"

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
    cublasCheck(cublasSetStream(handle, cudaStreamPerThread)); // where the kernels go
  }
  return handle;
}

} // namespace detail

namespace {
bool graphsDisabled() {
  const char *env = std::getenv("INGOT_CUDA_GRAPH");
  const char *sync = std::getenv("INGOT_CUDA_SYNC");
  return (env && std::strcmp(env, "0") == 0) || (sync && std::strcmp(sync, "1") == 0);
}
} // namespace

void runCaptured(CapturedPass &pass, void (*body)(char *), char *arena) {
  if (graphsDisabled()) {
    body(arena);
    return;
  }
  if (pass.exec && pass.arena != arena) { // another arena: capture again
    cudaCheck(cudaGraphExecDestroy(pass.exec));
    pass.exec = nullptr;
    pass.calls = 0;
  }
  if (!pass.exec && pass.calls++ == 0) {
    // The first pass runs directly: it makes the library plans, workspaces and kernel
    // attributes that a capture must not create.
    body(arena);
    return;
  }
  if (!pass.exec) {
    cudaGraph_t graph;
    cudaCheck(cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeThreadLocal));
    body(arena);
    cudaCheck(cudaStreamEndCapture(cudaStreamPerThread, &graph));
    cudaCheck(cudaGraphInstantiate(&pass.exec, graph, 0));
    cudaCheck(cudaGraphDestroy(graph));
    pass.arena = arena;
  }
  cudaCheck(cudaGraphLaunch(pass.exec, cudaStreamPerThread));
}


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
  // The device is this rank's, chosen before (the startup check and the NCCL bootstrap set
  // the local rank's): the arena, cuBLAS and NCCL must all be on it.
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

//===----------------------------------------------------------------------===//
// The startup check of this rank's GPU (ModelDesc::checkDevice, runtime/src/Startup.h): the
// runtime calls it before any work and prints the message it writes.
//===----------------------------------------------------------------------===//

extern "C" int ingot_cuda_check_device(const ingot::rt::ModelDesc *model, int localRank,
                                       char *message, uint64_t messageBytes) {
  auto fail = [&](const char *format, auto... args) {
    std::snprintf(message, size_t(messageBytes), format, args...);
    return 1;
  };
  char expects[256]; // who expects what follows
  if (model->clusterName && *model->clusterName)
    std::snprintf(expects, sizeof(expects), "the cluster map '%s' names", model->clusterName);
  else
    std::snprintf(expects, sizeof(expects), "this trainer (built without --cluster) needs");
  const int built = CUDART_VERSION; // the toolkit this file was compiled with

  // A driver older than the toolkit fails later with an opaque error: say so first.
  int driver = 0;
  cudaError_t error = cudaDriverGetVersion(&driver);
  if (error != cudaSuccess)
    return fail("cannot read the CUDA driver's version: %s", cudaGetErrorString(error));
  if (driver == 0)
    return fail("no CUDA driver is installed; this trainer was built with the CUDA %d.%d toolkit "
                "and needs a driver for CUDA %d.%d or newer",
                built / 1000, built % 1000 / 10, built / 1000, built % 1000 / 10);
  if (driver < built)
    return fail("the CUDA driver supports CUDA %d.%d, but this trainer was built with the CUDA "
                "%d.%d toolkit: it needs a driver for CUDA %d.%d or newer",
                driver / 1000, driver % 1000 / 10, built / 1000, built % 1000 / 10, built / 1000,
                built % 1000 / 10);

  // Enough GPUs for every rank of this node; more are fine (they stay idle).
  int count = 0;
  error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess && error != cudaErrorNoDevice)
    return fail("cannot count the GPUs: %s (%s)", cudaGetErrorString(error),
                cudaGetErrorName(error));
  if (error == cudaErrorNoDevice)
    count = 0;
  const long long perNode = model->devicesPerNode > 0 ? model->devicesPerNode : 1;
  const char *visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (count < perNode || localRank >= count)
    return fail("%s %lld GPU(s) per node, but %d %s visible to this process (local rank %d; "
                "CUDA_VISIBLE_DEVICES %s%s%s)",
                expects, perNode, count, count == 1 ? "is" : "are", localRank,
                visible ? "is '" : "is not set", visible ? visible : "", visible ? "'" : "");

  cudaDeviceProp properties;
  error = cudaGetDeviceProperties(&properties, localRank);
  if (error != cudaSuccess)
    return fail("cannot read GPU %d's properties: %s", localRank, cudaGetErrorString(error));
  if (!ingot::rt::deviceModelMatches(model->deviceModel, properties.name))
    return fail("%s the GPU model '%s', but GPU %d is '%s'", expects, model->deviceModel,
                localRank, properties.name);

  // The arena is allocated once and never grows: it must fit in what is free now.
  error = cudaSetDevice(localRank);
  size_t freeBytes = 0, totalBytes = 0;
  if (error == cudaSuccess)
    error = cudaMemGetInfo(&freeBytes, &totalBytes);
  if (error != cudaSuccess)
    return fail("cannot read GPU %d's free memory: %s", localRank, cudaGetErrorString(error));
  if (freeBytes < model->arenaBytes)
    return fail("the trainer's arena needs %llu bytes (%.2f GiB) on GPU %d ('%s'), but only "
                "%.2f GiB of its %.2f GiB are free",
                (unsigned long long)model->arenaBytes, double(model->arenaBytes) / (1 << 30),
                localRank, properties.name, double(freeBytes) / (1 << 30),
                double(totalBytes) / (1 << 30));
  return 0;
}
