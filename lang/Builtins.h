//===- Builtins.h - The tensor operations a model can call ------*- C++ -*-===//
//
// One table entry per builtin (`matmul`, `layer_norm`, `attention`, ...): how many tensor
// arguments it takes, its named arguments with their kinds and defaults, and its shape rule.
// Sema uses it to check calls; MLIRGen maps each builtin to its ingot dialect op.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_BUILTINS_H
#define INGOT_LANG_BUILTINS_H

#include "lang/AST.h"
#include "lang/Diagnostics.h"

namespace ingot::lang {

enum class AttrKind { Int, Float, Bool, String, IntList, DType };

struct AttrSpec {
  const char *name;
  AttrKind kind;
  bool required;
  ConstValue defaultValue; // used when not required and not given
};

struct BuiltinSpec {
  const char *name;
  int minTensors;
  int maxTensors; // -1: any number (concat)
  std::vector<const char *> positionalAttrs; // attribute names that may follow the tensors
  std::vector<AttrSpec> attrs;
};

/// The builtin called `name`, or null.
const BuiltinSpec *lookupBuiltin(llvm::StringRef name);

/// Checks a call's tensor argument types against the builtin's shape and dtype rules, with its
/// attributes already evaluated into call.attrs (defaults filled in). Normalizes negative axes
/// in call.attrs. Returns the result type, or nullopt after reporting an error.
std::optional<TensorType> inferBuiltin(const BuiltinSpec &spec, Expr &call,
                                       llvm::ArrayRef<TensorType> args, Diagnostics &diags);

llvm::StringRef describe(AttrKind kind);

} // namespace ingot::lang

#endif // INGOT_LANG_BUILTINS_H
