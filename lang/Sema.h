//===- Sema.h - Meaning of an Ingot model -----------------------*- C++ -*-===//
//
// Sema resolves names, evaluates compile-time constants, checks every tensor expression's shape
// and dtype (numpy broadcasting for elementwise arithmetic), and reads the train and parallel
// sections. It annotates the AST (Expr::type, Expr::folded, Expr::attrs) and returns the model's
// static facts in a ModelInfo. It reports every error it finds, each at its source location.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_SEMA_H
#define INGOT_LANG_SEMA_H

#include "lang/AST.h"
#include "lang/Diagnostics.h"

#include "llvm/ADT/StringMap.h"

#include <map>

namespace ingot::lang {

struct ParamInfo {
  std::string name;
  llvm::SMLoc loc;
  TensorType type;
  std::string init;         // zeros | ones | normal | uniform | constant
  std::vector<double> initArgs;
};

struct BlockInfo {
  std::string name;
  llvm::SMLoc loc;
  int64_t count = 1;
  std::vector<ParamInfo> params;
  std::vector<TensorType> argTypes;
  TensorType resultType;
  const BlockDecl *decl = nullptr;
  bool valid = true; // false when its count, signature or parameters had errors
};

struct OptimizerConfig {
  std::string kind = "adamw";
  double lr = 6e-4, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weightDecay = 0.0;
};

struct LRScheduleConfig {
  std::string kind = "constant"; // constant | cosine | linear
  int64_t warmup = 0;
  double finalFraction = 1.0;    // the floor, as a fraction of the peak lr
};

struct TrainConfig {
  int64_t microBatch = 0, seqLen = 0;
  DType precision = DType::bf16;
  OptimizerConfig optimizer;
  double clip = 1.0; // global gradient-norm clip; 0 turns it off
  LRScheduleConfig lrSchedule;
  std::string recompute = "none";
};

struct ParallelConfig {
  int64_t stages = 1, data = 1, microbatches = 1, chunks = 1;
  std::string schedule = "1f1b"; // gpipe | 1f1b | interleaved | zb-h1
  bool zero1 = false;
};

struct ModelInfo {
  std::string name;
  std::map<std::string, ConstValue> consts;
  std::vector<ParamInfo> params;
  std::vector<BlockInfo> blocks;
  std::vector<TensorType> forwardArgTypes;
  TensorType forwardResult;
  TrainConfig train;
  ParallelConfig parallel;
};

/// `--set name=value` overrides of model constants, applied before anything is evaluated.
struct ConstOverride {
  std::string name;
  std::string value; // parsed as an integer, a number, true/false, or else a string
};

/// Checks `module` and fills `info`. Returns false if any error was reported.
bool analyze(Module &module, Diagnostics &diags, llvm::ArrayRef<ConstOverride> overrides,
             ModelInfo &info);

/// The largest tensor Ingot accepts: 2^48 elements (far past any GPU's memory).
constexpr int64_t kMaxTensorElements = int64_t(1) << 48;

/// The number of elements of `shape`; nullopt when it exceeds kMaxTensorElements (or int64).
std::optional<int64_t> elementCount(llvm::ArrayRef<int64_t> shape);

/// numpy broadcasting of two shapes; nullopt if they do not broadcast.
std::optional<llvm::SmallVector<int64_t, 4>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                             llvm::ArrayRef<int64_t> b);

} // namespace ingot::lang

#endif // INGOT_LANG_SEMA_H
