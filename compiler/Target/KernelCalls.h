//===- KernelCalls.h - One kernel call per ingot op, for both targets -*- C++ -*-===//
//
// The host and cuda emitters write the same straight-line sequence of kernel calls, one per
// op of the planned module under a comment naming the op and its .ingot line. The calls differ
// only in spelling, which KernelCallStyle captures: the callee suffix (`unary<T>(...)` against
// `unary(...)`), the arena element type of pointers, how shape and stride arrays travel (static
// arrays in a block, or `Dims{...}` by value), the scratch argument of some backward kernels
// and how the loss is copied out. Everything else (file prologue, optimizer step, scratch
// placement) stays in each target's emitter.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_TARGET_KERNELCALLS_H
#define INGOT_COMPILER_TARGET_KERNELCALLS_H

#include "compiler/Target/EmitCommon.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"

#include <string>
#include <utility>

namespace ingot {
namespace codegen {

class PipelineSegments;

/// How a target spells its kernel calls.
struct KernelCallStyle {
  /// The target's name in error messages: "host", "cuda".
  llvm::StringRef target;
  /// Appended to every kernel name: "<T>" on the host, "" on cuda.
  llvm::StringRef calleeSuffix;
  /// The element type of float pointers into the arena: "T" on the host, "float" on cuda.
  llvm::StringRef floatType;
  /// Shapes, strides and permutations as `Dims{...}` arguments (cuda); otherwise as
  /// `static const int64_t` arrays in a block around the call (host).
  bool dimsByValue = false;
  /// Appended to the arguments of the backward kernels that need transient scratch
  /// (layerNormGrad, rmsNormGrad, attentionGrad): ", scratch(A)" on cuda, "" on the host.
  llvm::StringRef scratchArg;
  /// The statement storing the loss: a formatv pattern of the destination ({0}) and the
  /// source ({1}) pointer.
  llvm::StringRef lossCopy;
  /// Attention and cross-entropy keep each row's log-sum-exp for their backward (cuda): the
  /// forward op writes it and its gradient op reads it at `lse(A, i)`, i the forward op's
  /// index among the attention and cross-entropy ops of its function.
  bool keepStats = false;
  /// A weight-gradient GEMM whose product only feeds a parameter's gradient accumulates into
  /// that gradient itself (cuda: beta = 1), instead of a product buffer and an accumulate.
  bool foldGradAccumulate = false;
  /// GEMM operands that are parameters read the parameter's bf16 working copy
  /// (`ingot.shadow_offset`, cuda under precision bf16).
  bool shadowWeights = false;
  /// A bf16 GEMM followed by a bias add, a residual add (and a bias), or a bias add and a tanh
  /// GELU becomes one cuBLASLt call with a fused epilogue (cuda).
  bool fuseEpilogues = false;
};

/// Writes the kernel calls of a planned module's functions to `os`.
class KernelCallEmitter {
public:
  KernelCallEmitter(const KernelCallStyle &style, const ArenaPlan &plan, llvm::raw_ostream &os)
      : style(style), plan(plan), os(os) {}

  /// `at<T>(A, 1234)`: a pointer to `v` in the arena, typed by its storage.
  std::string ptr(mlir::Value v) const;
  /// A matmul operand: the bf16 working copy where `v` is a parameter that has one.
  std::string gemmOperand(mlir::Value v) const;
  /// A float pointer at arena offset `off`.
  std::string ptrAt(int64_t off) const;
  /// One indented line of the function body.
  void line(const llvm::Twine &text) { os << "  " << text << "\n"; }

  /// `void name(char *A) { ... }` with one call per op of `fn`, after what `prologue` writes.
  mlir::LogicalResult emitFunction(mlir::func::FuncOp fn, llvm::StringRef name,
                                   llvm::function_ref<void()> prologue = nullptr);
  /// Prepares emitOp for the ops of `fn` (statistics slots, fused epilogues), as emitFunction
  /// does before its calls. With `segments` (pipeline stages: `fn` is @forward_backward, its
  /// ops emitted segment by segment), no fusion joins ops of two segments, and an op reading
  /// the statistics of a forward op must run on that op's stage.
  void beginFunction(mlir::func::FuncOp fn, const PipelineSegments *segments = nullptr);
  /// The comment line and the call(s) of one op; fails (with an error at the op) on an op the
  /// target has no kernel for.
  mlir::LogicalResult emitOp(mlir::Operation *op);

  /// The optimizer step after the global norm is in `norm`: record it, return on a non-finite
  /// gradient, and compute the clip factor `scale`.
  void emitNormChecks();
  /// One AdamW update of `adam`'s parameter with the run-time scalars of `s` and the clip factor
  /// `scale` (the host target; the cuda emitter updates every parameter in one adamwAll call).
  void emitAdamW(AdamWOp adam);

private:
  /// `name<T>` or `name`.
  std::string callee(llvm::StringRef name) const { return (name + style.calleeSuffix).str(); }
  /// A call whose trailing arguments are int64 arrays (named `arrays[i].first` where they are
  /// static arrays): `leadingArgs` is the text of the arguments before them.
  void arrayCall(llvm::StringRef name, const std::string &leadingArgs,
                 llvm::ArrayRef<std::pair<llvm::StringRef, llvm::SmallVector<int64_t>>> arrays);

  const KernelCallStyle &style;
  const ArenaPlan &plan;
  llvm::raw_ostream &os;
  /// The pipeline segments of the function being emitted, or null (one function, one pass).
  const PipelineSegments *segments = nullptr;
  /// Whether a fusion may join `a` and `b`: always, unless they run in different segments.
  bool sameSegment(mlir::Operation *a, mlir::Operation *b) const;
  /// Each attention and cross-entropy op's statistics slot in the function being emitted.
  llvm::DenseMap<mlir::Operation *, int64_t> statsIndex;
  /// Parameter gradients their producer already accumulated (foldGradAccumulate: a GEMM, a
  /// norm backward, a reduction, an embedding gradient), with what did, for the comment.
  llvm::DenseMap<mlir::Operation *, const char *> foldedGrads;
  /// Pads whose rows a reduction added straight into a parameter's gradient: no copy.
  llvm::DenseSet<mlir::Operation *> foldedPads;
  /// The pad that `sum` (the result of `reduce`, a reduce_sum) feeds when the reduction may add
  /// straight into the gradient rows that pad's result is the parameter gradient of: fp32
  /// storage, only unit dimensions before the padded axis (the rows are one contiguous block),
  /// all in one segment, no other addition into that gradient in between.
  PadOp paddedGradRows(mlir::Operation *reduce, mlir::Value sum) const;

  /// What a GEMM's fused epilogue absorbs (fuseEpilogues).
  struct GemmFusion {
    mlir::Value out;               // the value the fused call writes
    mlir::Value residual, bias;    // added to the product (either may be null)
    mlir::Value aux;               // the value before the GELU (GELU epilogues only)
    bool dgelu = false;            // out = product * gelu'(aux): the GELU's backward
  };
  llvm::DenseMap<mlir::Operation *, GemmFusion> gemmFusions;
  /// Norm backward ops whose input gradient is added to the residual stream's gradient: the
  /// kernel writes the sum (first) and reads the residual gradient (second).
  llvm::DenseMap<mlir::Operation *, std::pair<mlir::Value, mlir::Value>> normResiduals;
  /// The adds and GELUs a GEMM epilogue computes: they emit no call of their own.
  llvm::DenseSet<mlir::Operation *> fusedAway;
  /// GEMMs emitted late, fused into the op they feed (gelu_grad -> its GEMM).
  llvm::DenseMap<mlir::Operation *, mlir::Operation *> lateGemms;
  bool emittingLate = false;
  /// Finds the GEMM epilogues of `fn` whose buffers the memory plan lets fuse.
  void planEpilogues(mlir::func::FuncOp fn);
  /// A linear layer's bias gradient (a reduce_sum of dy over every axis but the last, folded
  /// into the bias's gradient) summed by its weight-gradient GEMM (a^T x dy, folded into the
  /// weight's gradient) as it reads dy: reduce -> GEMM, and GEMM -> (reduce, bias param_grad).
  llvm::DenseMap<mlir::Operation *, mlir::Operation *> biasGradGemm;
  llvm::DenseMap<mlir::Operation *, std::pair<mlir::Operation *, ParamGradOp>> gemmBiasGrad;
  /// Finds those pairs in `fn` (cuda, fuseEpilogues and foldGradAccumulate).
  void planBiasGrads(mlir::func::FuncOp fn);

  /// `lse(A, i)`: the statistics slot of `forward` (an attention or cross-entropy op of this
  /// function); an empty string, with an error at `user`, when there is none.
  std::string statsOf(mlir::Operation *forward, mlir::Operation *user);
};

} // namespace codegen
} // namespace ingot

#endif // INGOT_COMPILER_TARGET_KERNELCALLS_H
