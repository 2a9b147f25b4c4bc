//===- EmitCommon.h - What the host and cuda emitters share -----*- C++ -*-===//
//
// Both targets start from the same memory-planned module (DESIGN.md: "both targets share
// everything up to the last step"), so the pieces that only read the plan live here: arena
// offsets of values and parameters, broadcast strides, number and list formatting, source
// location comments, the --describe manifest and the ModelDesc table libingot_rt reads.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_COMPILER_TARGET_EMITCOMMON_H
#define INGOT_COMPILER_TARGET_EMITCOMMON_H

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace ingot {

/// Options every emitter takes.
struct TargetEmitOptions {
  bool f64 = false;            // double everywhere (host gradient checks); else float
  std::string sourceName;      // the .ingot file, for comments and the manifest
  uint64_t sourceHash = 0;     // FNV-1a of the source and the --set overrides
  std::string compilerVersion;
  // What the machine must be (ModelDesc's startup block), from the --cluster map; without one,
  // any device and one rank.
  std::string clusterName;       // "" without --cluster
  std::string deviceKind = "any", deviceModel = "any";
  int64_t nodes = 1, devicesPerNode = 1;
};

/// The JSON manifest (`--describe`): model, parameter count, memory plan, train and parallel
/// settings, compiler version and source hash.
std::string describeModule(mlir::ModuleOp module, const TargetEmitOptions &options,
                           llvm::StringRef target = "host");

namespace codegen {

mlir::RankedTensorType typeOf(mlir::Value v);
int64_t product(llvm::ArrayRef<int64_t> dims);
/// "{1, 2, 3}" for a C++ array initializer.
std::string list(llvm::ArrayRef<int64_t> values);
/// A double as C++ source that reads back exactly.
std::string number(double v);
/// Row-major element strides of `shape`, aligned to an output of rank `rank` with numpy
/// broadcasting: 0 for dimensions that are missing or stretched.
llvm::SmallVector<int64_t> broadcastStrides(llvm::ArrayRef<int64_t> shape,
                                            llvm::ArrayRef<int64_t> out);
/// "file.ingot:12:3", or "" for an unknown location.
std::string locationComment(mlir::Location loc);
/// Escapes `s` as the body of a C++ string literal.
std::string cxxString(llvm::StringRef s);

/// A matmul as both targets' kernels take it: c[b] = op(a[b]) x op(b[b]) for b < batch, op(a)
/// [rows, k], op(b) [k, cols], element strides between batches (0 broadcasts). A weight shared
/// by the batch folds the batch into the rows.
struct MatmulGeometry {
  int64_t batch, rows, cols, k;
  bool transA, transB;
  int64_t strideA, strideB, strideC;
};
/// Fails (with an error at the op naming `target`) on partially broadcast batch dimensions.
mlir::FailureOr<MatmulGeometry> matmulGeometry(MatmulOp m, llvm::StringRef target);

/// A tensor viewed as [outer, axis, inner] around one axis (or a run of consecutive axes).
struct AxisSplit {
  int64_t outer, axis, inner;
};
AxisSplit around(llvm::ArrayRef<int64_t> shape, int64_t axis);
/// The split of a reduction over `axes` of `shape`; fails (with an error at `op` naming
/// `target`) unless the axes are consecutive.
mlir::FailureOr<AxisSplit> reductionSplit(mlir::Operation *op, llvm::ArrayRef<int64_t> shape,
                                          llvm::SmallVector<int64_t> axes, llvm::StringRef target);

/// Where every value and parameter of a planned module lives in the arena.
class ArenaPlan {
public:
  /// Reads the plan; fails (with an error at the module) when a pass did not run or the plan
  /// was made for another float size. `target` names the emitter in the message.
  mlir::LogicalResult read(mlir::ModuleOp module, int64_t floatBytes, llvm::StringRef target);

  /// The arena offset of `v` (a function argument or an op result).
  int64_t offset(mlir::Value v) const;
  /// The bytes `v` takes in the arena, as the plan sized it: bf16 where ingot-assign-storage
  /// chose it, else the plan's float size (or the integer's width).
  int64_t bytes(mlir::Value v) const;
  ParamOp param(llvm::StringRef name) const { return params.lookup(name); }
  /// The offset a parameter keeps under `key`: ingot.offset, ingot.grad_offset, ingot.m_offset,
  /// ingot.v_offset.
  static int64_t paramOffset(ParamOp p, llvm::StringRef key);

  llvm::SmallVector<int64_t> inputOffsets;
  int64_t lossOffset = 0;
  mlir::DictionaryAttr memory;
  int64_t floatBytes = 4;
  mlir::func::FuncOp forwardBackward, forward, optimizerStep;

private:
  llvm::StringMap<ParamOp> params;
};

/// The ModelDesc table of the generated file (and the manifest and parameter table before it).
/// `arenaBytes` may exceed the plan's when a target keeps scratch after it; `backendHooks` is
/// emitted after the entry points (empty for the host, whose arena is host memory).
void emitModelDesc(mlir::ModuleOp module, const TargetEmitOptions &options, const ArenaPlan &plan,
                   llvm::StringRef target, int64_t arenaBytes, llvm::StringRef backendHooks,
                   llvm::raw_ostream &os);

} // namespace codegen
} // namespace ingot

#endif // INGOT_COMPILER_TARGET_EMITCOMMON_H
