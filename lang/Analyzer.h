//===- Analyzer.h - Sema's state, shared by its source files ---*- C++ -*-===//
//
// Private to lang/: Sema is split by concern (SemaConstants.cpp, SemaExpressions.cpp,
// SemaSections.cpp, Sema.cpp for the whole model); this header holds the class they share.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_ANALYZER_H
#define INGOT_LANG_ANALYZER_H

#include "lang/Sema.h"
#include "lang/Builtins.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <functional>

namespace ingot::lang::detail {

struct Local {
  TensorType type;
  llvm::SMLoc loc;
  /// The type is unknown because its definition had an error (already reported). Uses of a
  /// poisoned local fail silently instead of reporting follow-on errors.
  bool poisoned = false;
};

/// What is visible inside a function body besides its locals.
struct FunctionScope {
  const std::vector<ParamInfo> *params; // the block's, or the model's for forward
  const BlockInfo *block = nullptr;     // the block being checked, if any
  llvm::StringMap<Local> locals;
  llvm::StringSet<> failedParams; // parameters dropped after an error: uses report nothing more
};

class Analyzer {
public:
  Analyzer(Module &module, Diagnostics &diags, llvm::ArrayRef<ConstOverride> overrides,
           ModelInfo &info)
      : module(module), diags(diags), overrides(overrides), info(info) {}

  bool run();

private:
  mlir::InFlightDiagnostic error(llvm::SMLoc loc) { return diags.error(loc); }
  const llvm::MemoryBuffer &mainBuffer() {
    llvm::SourceMgr &sm = diags.getSourceMgr();
    return *sm.getMemoryBuffer(sm.getMainFileID());
  }
  llvm::SMLoc fileStart() { return llvm::SMLoc::getFromPointer(mainBuffer().getBufferStart()); }
  llvm::SMLoc fileEnd() { return llvm::SMLoc::getFromPointer(mainBuffer().getBufferEnd()); }
  void noteDefinedHere(mlir::InFlightDiagnostic &diag, llvm::SMLoc loc) {
    diag.attachNote(diags.location(loc)) << "first defined here";
  }
  /// "12:5": a source position inside a message.
  std::string lineAndColumn(llvm::SMLoc loc) {
    auto [line, col] = diags.getSourceMgr().getLineAndColumn(loc);
    return std::to_string(line) + ":" + std::to_string(col);
  }

  // Compile-time evaluation.
  void evaluateConsts();
  std::optional<ConstValue> evalConst(const Expr &e);
  std::optional<ConstValue> evalArithmetic(const Expr &e, const ConstValue &a,
                                           const ConstValue &b);
  std::optional<int64_t> evalPositiveInt(const Expr &e, llvm::StringRef what);
  std::optional<TensorType> evalType(const TypeExpr &t, bool allowInt);
  bool checkParam(ParamDecl &decl, ParamInfo &out, llvm::StringRef owner);
  bool declareTopLevelName(const std::string &name, llvm::SMLoc loc, llvm::StringRef what);

  // Functions and tensor expressions. A type that had an error is nullopt.
  using MaybeTypes = std::vector<std::optional<TensorType>>;
  bool checkSignature(Function &fn, MaybeTypes &args, std::optional<TensorType> &result);
  void bindArguments(const Function &fn, const MaybeTypes &args, FunctionScope &scope);
  bool checkHides(const std::string &name, llvm::SMLoc loc, const FunctionScope &scope);
  void checkBody(Function &fn, FunctionScope &scope, const std::optional<TensorType> &result);
  bool checkElementCount(const Expr &e, const TensorType &type);
  std::optional<TensorType> checkExpr(Expr &e, FunctionScope &scope);
  std::optional<TensorType> checkCall(Expr &e, FunctionScope &scope);
  std::optional<TensorType> checkBlockCall(Expr &e, FunctionScope &scope, const BlockInfo &b);
  bool evalAttributes(const BuiltinSpec &spec, Expr &call, size_t firstAttr);

  // Sections.
  void checkTrain();
  void checkParallel();
  std::optional<ConstValue> evalSetting(const Setting &s);

  Module &module;
  Diagnostics &diags;
  llvm::ArrayRef<ConstOverride> overrides;
  ModelInfo &info;
  llvm::StringMap<llvm::SMLoc> topLevelNames; // consts, params and blocks share one namespace
  llvm::StringMap<llvm::SMLoc> constLocs;      // constants evaluated so far (value or error)
  llvm::StringMap<llvm::SMLoc> declaredConsts; // every constant, for "used before its definition"
  const ConstDecl *evaluating = nullptr;       // the constant whose value is being evaluated
  llvm::StringMap<llvm::SMLoc> appliedBlocks;  // block name -> its call in forward
  bool failed = false; // a declaration was dropped; analyze() must fail even without a new error
};

} // namespace ingot::lang::detail

#endif // INGOT_LANG_ANALYZER_H
