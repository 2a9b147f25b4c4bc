//===- CudaEmitter.h - The cuda target: memory-planned IR -> .cu -*- C++ -*-===//
//
// Turns the same memory-planned module as the host emitter into one CUDA source file: a
// straight-line sequence of kernel launches (runtime/cuda/Kernels.cuh, one launcher per op,
// matmuls through cuBLAS) on pointers into one GPU arena, every shape and offset a constant,
// plus the ModelDesc whose backend hooks let libingot_rt move data to and from the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_TARGET_CUDA_CUDAEMITTER_H
#define INGOT_COMPILER_TARGET_CUDA_CUDAEMITTER_H

#include "compiler/Target/EmitCommon.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/raw_ostream.h"

namespace ingot {

/// Writes the program; errors (an op the cuda target cannot run, the f64 mode) are emitted at
/// the op or the module.
mlir::LogicalResult emitCudaProgram(mlir::ModuleOp module, const TargetEmitOptions &options,
                                    llvm::raw_ostream &os);

} // namespace ingot

#endif // INGOT_COMPILER_TARGET_CUDA_CUDAEMITTER_H
