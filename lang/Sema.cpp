//===- Sema.cpp - Meaning of an Ingot model -------------------------------===//
#include "lang/Analyzer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"

#include <functional>

#include <cmath>

using namespace ingot::lang;

std::string ConstValue::describe() const {
  switch (kind) {
  case Kind::Int: return "integer " + std::to_string(i);
  case Kind::Float: return "number " + formatNumber(f);
  case Kind::Bool: return b ? "true" : "false";
  case Kind::String: return "string \"" + s + "\"";
  case Kind::Symbol: return "name '" + s + "'";
  case Kind::IntList: return "a list";
  case Kind::Call: return "call of '" + s + "'";
  }
  return "value";
}

std::optional<llvm::SmallVector<int64_t, 4>>
ingot::lang::broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  llvm::SmallVector<int64_t, 4> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return std::nullopt;
    result[i] = da == 1 ? db : da;
  }
  return result;
}

std::optional<int64_t> ingot::lang::elementCount(llvm::ArrayRef<int64_t> shape) {
  int64_t elements = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements) || elements > kMaxTensorElements)
      return std::nullopt;
  return elements;
}

using namespace ingot::lang::detail;

//===----------------------------------------------------------------------===//
// The whole model
//===----------------------------------------------------------------------===//

bool Analyzer::run() {
  unsigned errorsBefore = diags.errorCount();
  info.name = module.name;
  if (!module.hasModelDecl)
    error(fileStart()) << "missing 'model NAME;' declaration";
  evaluateConsts();

  llvm::StringSet<> failedModelParams;
  for (ParamDecl &decl : module.params) {
    if (!declareTopLevelName(decl.name, decl.loc, "parameter")) {
      failed = true;
      continue;
    }
    ParamInfo p;
    if (checkParam(decl, p, "the model")) {
      info.params.push_back(std::move(p));
    } else {
      failedModelParams.insert(decl.name);
      failed = true;
    }
  }

  // Block signatures first, so forward can call any block wherever it is declared.
  std::vector<MaybeTypes> blockArgs;                    // parallel to info.blocks
  std::vector<std::optional<TensorType>> blockResults; // parallel to info.blocks
  std::vector<llvm::StringSet<>> blockFailedParams;     // parallel to info.blocks
  for (BlockDecl &decl : module.blocks) {
    if (!declareTopLevelName(decl.name, decl.loc, "block")) {
      failed = true;
      continue;
    }
    BlockInfo b;
    b.name = decl.name;
    b.loc = decl.loc;
    b.decl = &decl;
    auto count = evalPositiveInt(*decl.count, "a block's repeat count");
    b.count = count.value_or(1);
    // The signature is checked even after a bad count, so the body still sees its arguments.
    MaybeTypes args;
    std::optional<TensorType> result;
    bool ok = checkSignature(decl.fn, args, result);
    ok = count.has_value() && ok;
    for (const std::optional<TensorType> &arg : args)
      b.argTypes.push_back(arg.value_or(TensorType{}));
    b.resultType = result.value_or(TensorType{});
    llvm::StringMap<llvm::SMLoc> names;
    llvm::StringSet<> failedParams;
    for (ParamDecl &pd : decl.params) {
      if (auto [it, inserted] = names.try_emplace(pd.name, pd.loc); !inserted) {
        auto diag = error(pd.loc);
        diag << "redefinition of parameter '" << pd.name << "' in block '" << decl.name << "'";
        noteDefinedHere(diag, it->second);
        ok = false;
        continue;
      }
      if (constLocs.count(pd.name)) {
        error(pd.loc) << "parameter '" << pd.name << "' has the name of a constant";
        ok = false;
        continue;
      }
      ParamInfo p;
      if (checkParam(pd, p, "block '" + decl.name + "'")) {
        b.params.push_back(std::move(p));
      } else {
        failedParams.insert(pd.name);
        ok = false;
      }
    }
    if (decl.fn.args.empty()) {
      error(decl.loc) << "block '" << decl.name << "' needs at least one argument";
      ok = false;
    }
    for (size_t i = 0; i < args.size(); ++i)
      if (args[i] && args[i]->dtype == DType::i32) {
        error(decl.fn.args[i].loc) << "block arguments are activations (f32 or bf16)";
        ok = false;
      }
    if (ok && (b.argTypes.size() != 1 || b.argTypes[0] != b.resultType)) {
      error(decl.loc) << "a repeated block maps its input to an output of the same type: "
                      << "takes " << (b.argTypes.empty() ? std::string("nothing") : b.argTypes[0].str())
                      << ", returns " << b.resultType.str();
      ok = false;
    }
    b.valid = ok;
    failed = failed || !ok;
    info.blocks.push_back(std::move(b));
    blockArgs.push_back(std::move(args));
    blockResults.push_back(result);
    blockFailedParams.push_back(std::move(failedParams));
  }

  // Block bodies.
  for (size_t i = 0; i < info.blocks.size(); ++i) {
    BlockInfo &b = info.blocks[i];
    FunctionScope scope{&b.params, &b, {}, std::move(blockFailedParams[i])};
    bindArguments(b.decl->fn, blockArgs[i], scope);
    checkBody(const_cast<BlockDecl *>(b.decl)->fn, scope, blockResults[i]);
  }

  checkTrain();
  checkParallel();

  if (!module.forward) {
    error(fileEnd()) << "missing 'forward' function";
  } else {
    Function &fn = module.forward->fn;
    MaybeTypes args;
    std::optional<TensorType> result;
    bool signatureOk = checkSignature(fn, args, result);
    for (const std::optional<TensorType> &arg : args)
      info.forwardArgTypes.push_back(arg.value_or(TensorType{}));
    info.forwardResult = result.value_or(TensorType{});
    if (signatureOk) {
      TensorType tokens{DType::i32, {info.train.microBatch, info.train.seqLen}};
      bool shapesKnown = info.train.microBatch > 0 && info.train.seqLen > 0;
      if (fn.args.size() != 2)
        error(module.forward->loc) << "forward takes (tokens, targets), found " << fn.args.size()
                                   << " argument" << (fn.args.size() == 1 ? "" : "s");
      for (size_t i = 0; i < fn.args.size() && i < 2 && shapesKnown; ++i)
        if (info.forwardArgTypes[i] != tokens)
          error(fn.args[i].loc) << "forward's '" << fn.args[i].name << "' must be " << tokens.str()
                                << " ([micro_batch, seq_len] from the train section), found "
                                << info.forwardArgTypes[i].str();
      if (info.forwardResult != TensorType{DType::f32, {}})
        error(fn.result.loc) << "forward returns the loss, an f32 scalar, found "
                             << info.forwardResult.str();
    }
    FunctionScope scope{&info.params, nullptr, {}, std::move(failedModelParams)};
    bindArguments(fn, args, scope);
    checkBody(fn, scope, result);
  }
  return !failed && diags.errorCount() == errorsBefore;
}

bool ingot::lang::analyze(Module &module, Diagnostics &diags,
                          llvm::ArrayRef<ConstOverride> overrides, ModelInfo &info) {
  return Analyzer(module, diags, overrides, info).run();
}
