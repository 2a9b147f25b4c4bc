//===- Sema.cpp - Meaning of an Ingot model -------------------------------===//
#include "lang/Sema.h"
#include "lang/Builtins.h"

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

namespace {

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

} // namespace

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

bool Analyzer::declareTopLevelName(const std::string &name, llvm::SMLoc loc,
                                   llvm::StringRef what) {
  // A builtin's name would be ambiguous in a call (`relu(x)`): Sema and MLIRGen must not have
  // to pick. The name is still declared, so its uses do not cause follow-on errors.
  if (lookupBuiltin(name))
    error(loc) << what << " '" << name << "' has the name of a builtin function";
  auto [it, inserted] = topLevelNames.try_emplace(name, loc);
  if (inserted)
    return true;
  auto diag = error(loc);
  diag << "redefinition of '" << name << "'";
  noteDefinedHere(diag, it->second);
  return false;
}

static bool isIdentifier(llvm::StringRef text) {
  auto identChar = [](char c) { return llvm::isAlnum(c) || c == '_'; };
  return !text.empty() && (llvm::isAlpha(text[0]) || text[0] == '_') && llvm::all_of(text, identChar);
}

/// The value of `--set NAME=TEXT`, read the way the same text would read in the source.
static ConstValue parseOverride(llvm::StringRef text) {
  long long i;
  double f;
  // `+3` is the integer 3 (getAsInteger takes no '+').
  llvm::StringRef unsignedText =
      text.size() > 1 && text[0] == '+' && llvm::isDigit(text[1]) ? text.drop_front() : text;
  if (!unsignedText.getAsInteger(10, i))
    return ConstValue::ofInt(i);
  ConstValue c;
  if (text == "true" || text == "false") {
    c.kind = ConstValue::Kind::Bool;
    c.b = text == "true";
    return c;
  }
  if (isIdentifier(text)) { // `--set prec=f32`: a symbol, like `f32` written in the source
    c.kind = ConstValue::Kind::Symbol;
    c.s = text.str();
    return c;
  }
  if (!text.getAsDouble(f) && std::isfinite(f))
    return ConstValue::ofFloat(f);
  c.kind = ConstValue::Kind::String;
  c.s = text.size() >= 2 && text.front() == '"' && text.back() == '"'
            ? text.drop_front().drop_back().str()
            : text.str();
  return c;
}

void Analyzer::evaluateConsts() {
  llvm::StringMap<const ConstOverride *> pending;
  for (const ConstOverride &o : overrides)
    pending[o.name] = &o;
  for (const ConstDecl &c : module.consts)
    declaredConsts.try_emplace(c.name, c.loc);
  for (ConstDecl &c : module.consts) {
    if (!declareTopLevelName(c.name, c.loc, "constant"))
      continue;
    std::optional<ConstValue> value;
    if (auto it = pending.find(c.name); it != pending.end()) {
      value = parseOverride(it->second->value);
      pending.erase(it);
    } else {
      evaluating = &c;
      value = evalConst(*c.value);
      evaluating = nullptr;
    }
    // Only now is the constant visible: its own value cannot see it.
    constLocs[c.name] = c.loc;
    if (value)
      info.consts[c.name] = *value;
  }
  for (auto &entry : pending)
    diags.commandLineError("--set " + entry.getKey() + "=" + entry.getValue()->value +
                           ": the model has no constant named '" + entry.getKey() + "'");
}

std::optional<ConstValue> Analyzer::evalArithmetic(const Expr &e, const ConstValue &a,
                                                   const ConstValue &b) {
  if (!a.isNumber() || !b.isNumber()) {
    error(e.loc) << "'" << e.text << "' needs numbers, found " << a.describe() << " and "
                 << b.describe();
    return std::nullopt;
  }
  char op = e.text[0];
  if (a.kind == ConstValue::Kind::Int && b.kind == ConstValue::Kind::Int) {
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
    case '+': overflow = __builtin_add_overflow(a.i, b.i, &r); break;
    case '-': overflow = __builtin_sub_overflow(a.i, b.i, &r); break;
    case '*': overflow = __builtin_mul_overflow(a.i, b.i, &r); break;
    case '/':
      if (b.i == 0) {
        error(e.loc) << "division by zero";
        return std::nullopt;
      }
      if (a.i == INT64_MIN && b.i == -1) { // the quotient 2^63 does not fit (and `%` traps)
        overflow = true;
        break;
      }
      // Integer division stays integral only when exact (`dim / heads`); otherwise it is real.
      if (a.i % b.i == 0)
        return ConstValue::ofInt(a.i / b.i);
      return ConstValue::ofFloat(static_cast<double>(a.i) / static_cast<double>(b.i));
    }
    if (overflow) {
      error(e.loc) << "integer overflow in constant expression";
      return std::nullopt;
    }
    return ConstValue::ofInt(r);
  }
  double x = a.asDouble(), y = b.asDouble(), r = 0;
  switch (op) {
  case '+': r = x + y; break;
  case '-': r = x - y; break;
  case '*': r = x * y; break;
  case '/':
    if (y == 0) {
      error(e.loc) << "division by zero";
      return std::nullopt;
    }
    r = x / y;
    break;
  }
  if (!std::isfinite(r)) {
    error(e.loc) << "constant expression is not finite";
    return std::nullopt;
  }
  return ConstValue::ofFloat(r);
}

std::optional<ConstValue> Analyzer::evalConst(const Expr &e) {
  switch (e.kind) {
  case Expr::Kind::Integer: return ConstValue::ofInt(e.intValue);
  case Expr::Kind::Float: return ConstValue::ofFloat(e.floatValue);
  case Expr::Kind::Bool: {
    ConstValue c;
    c.kind = ConstValue::Kind::Bool;
    c.b = e.boolValue;
    return c;
  }
  case Expr::Kind::String: {
    ConstValue c;
    c.kind = ConstValue::Kind::String;
    c.s = e.text;
    return c;
  }
  case Expr::Kind::Name: {
    if (auto it = info.consts.find(e.text); it != info.consts.end())
      return it->second;
    if (constLocs.count(e.text))
      return std::nullopt; // defined, but its own value had an error (already reported)
    if (evaluating && e.text == evaluating->name) {
      error(e.loc) << "constant '" << e.text << "' is used in its own definition";
      return std::nullopt;
    }
    if (auto it = declaredConsts.find(e.text); it != declaredConsts.end()) {
      auto diag = error(e.loc);
      diag << "constant '" << e.text << "' is used before its definition";
      diag.attachNote(diags.location(it->second)) << "'" << e.text << "' is defined here";
      return std::nullopt;
    }
    // Bare names that are not constants are symbols: `precision = bf16`, `cast(x, bf16)`.
    ConstValue c;
    c.kind = ConstValue::Kind::Symbol;
    c.s = e.text;
    return c;
  }
  case Expr::Kind::Negate: {
    auto v = evalConst(*e.operands[0]);
    if (!v)
      return std::nullopt;
    if (v->kind == ConstValue::Kind::Int && v->i == INT64_MIN) {
      error(e.loc) << "integer overflow in constant expression (-(" << v->i
                   << ") does not fit in 64 bits)";
      return std::nullopt;
    }
    if (v->kind == ConstValue::Kind::Int)
      return ConstValue::ofInt(-v->i);
    if (v->kind == ConstValue::Kind::Float)
      return ConstValue::ofFloat(-v->f);
    error(e.loc) << "cannot negate " << v->describe();
    return std::nullopt;
  }
  case Expr::Kind::Binary: {
    auto a = evalConst(*e.operands[0]);
    auto b = evalConst(*e.operands[1]);
    if (!a || !b)
      return std::nullopt;
    return evalArithmetic(e, *a, *b);
  }
  case Expr::Kind::List: {
    ConstValue c;
    c.kind = ConstValue::Kind::IntList;
    for (const ExprPtr &element : e.operands) {
      auto v = evalConst(*element);
      if (!v)
        return std::nullopt;
      if (v->kind != ConstValue::Kind::Int) {
        error(element->loc) << "list elements must be integers, found " << v->describe();
        return std::nullopt;
      }
      c.list.push_back(v->i);
    }
    return c;
  }
  case Expr::Kind::Call: {
    if (e.text == "sqrt" && e.operands.size() == 1 && e.namedArgs.empty()) {
      auto v = evalConst(*e.operands[0]);
      if (!v)
        return std::nullopt;
      if (!v->isNumber() || v->asDouble() < 0) {
        error(e.loc) << "sqrt needs a non-negative number, found " << v->describe();
        return std::nullopt;
      }
      return ConstValue::ofFloat(std::sqrt(v->asDouble()));
    }
    // Any other call is kept whole for its reader (e.g. `adamw(...)` in the train section).
    ConstValue c;
    c.kind = ConstValue::Kind::Call;
    c.s = e.text;
    c.call = &e;
    return c;
  }
  }
  return std::nullopt;
}

std::optional<int64_t> Analyzer::evalPositiveInt(const Expr &e, llvm::StringRef what) {
  auto v = evalConst(e);
  if (!v)
    return std::nullopt;
  if (v->kind != ConstValue::Kind::Int) {
    error(e.loc) << what << " must be an integer, found " << v->describe();
    return std::nullopt;
  }
  if (v->i <= 0) {
    error(e.loc) << what << " must be positive, found " << v->i;
    return std::nullopt;
  }
  return v->i;
}

std::optional<TensorType> Analyzer::evalType(const TypeExpr &t, bool allowInt) {
  auto dtype = parseDType(t.dtype);
  if (!dtype) {
    error(t.loc) << "unknown element type '" << t.dtype << "' (expected f32, bf16 or i32)";
    return std::nullopt;
  }
  if (*dtype == DType::i32 && !allowInt) {
    error(t.loc) << "parameters and activations are floating point (f32 or bf16), found i32";
    return std::nullopt;
  }
  TensorType type{*dtype, {}};
  int64_t elements = 1;
  bool ok = true;
  for (const ExprPtr &dim : t.dims) {
    auto d = evalPositiveInt(*dim, "a dimension");
    if (!d) {
      ok = false;
      continue;
    }
    if (__builtin_mul_overflow(elements, *d, &elements) || elements > kMaxTensorElements) {
      error(dim->loc) << "tensor has more than 2^48 elements";
      return std::nullopt;
    }
    type.shape.push_back(*d);
  }
  if (!ok)
    return std::nullopt;
  return type;
}

bool Analyzer::checkParam(ParamDecl &decl, ParamInfo &out, llvm::StringRef owner) {
  out.name = decl.name;
  out.loc = decl.loc;
  auto type = evalType(decl.type, /*allowInt=*/false);
  const Expr &init = *decl.init;
  std::string kind = init.kind == Expr::Kind::Name || init.kind == Expr::Kind::Call ? init.text : "";
  struct Form {
    size_t minArgs, maxArgs;
    const char *usage;
  };
  std::optional<Form> form = llvm::StringSwitch<std::optional<Form>>(kind)
                                 .Cases({"zeros", "ones"}, Form{0, 0, ""})
                                 .Case("constant", Form{1, 1, "constant(v)"})
                                 .Case("uniform", Form{2, 2, "uniform(lo, hi)"})
                                 .Case("normal", Form{1, 2, "normal(std) or normal(mean, std)"})
                                 .Default(std::nullopt);
  if (!form) {
    error(init.loc) << "unknown initializer for '" << decl.name << "' in " << owner
                    << " (expected zeros, ones, constant(v), normal(std), normal(mean, std) or "
                       "uniform(lo, hi))";
    return false;
  }
  size_t found = init.operands.size();
  if (form->maxArgs == 0 && init.kind == Expr::Kind::Call) {
    error(init.loc) << "initializer '" << kind << "' takes no arguments (write '" << kind << "')";
    return false;
  }
  if (!init.namedArgs.empty()) {
    error(init.namedArgs.front().loc) << "initializer '" << kind
                                      << "' takes positional arguments only: " << form->usage;
    return false;
  }
  if (found < form->minArgs || found > form->maxArgs) {
    auto diag = error(init.loc);
    diag << "initializer '" << kind << "' takes " << form->minArgs;
    if (form->maxArgs != form->minArgs)
      diag << " or " << form->maxArgs;
    diag << " argument" << (form->maxArgs == 1 ? "" : "s") << " (" << form->usage << "), found "
         << found;
    return false;
  }
  out.init = kind;
  for (const ExprPtr &arg : init.operands) {
    auto v = evalConst(*arg);
    if (!v)
      return false;
    if (!v->isNumber()) {
      error(arg->loc) << "initializer arguments must be numbers, found " << v->describe();
      return false;
    }
    out.initArgs.push_back(v->asDouble());
  }
  if (kind == "normal" && out.initArgs.size() == 1)
    out.initArgs.insert(out.initArgs.begin(), 0.0);
  if (kind == "normal" && out.initArgs[1] <= 0) {
    error(init.loc) << "normal() needs a positive standard deviation, found "
                    << formatNumber(out.initArgs[1]);
    return false;
  }
  if (kind == "uniform" && out.initArgs[0] >= out.initArgs[1]) {
    error(init.loc) << "uniform(lo, hi) needs lo < hi";
    return false;
  }
  if (!type)
    return false;
  out.type = *type;
  return true;
}

//===----------------------------------------------------------------------===//
// Functions and tensor expressions
//===----------------------------------------------------------------------===//

bool Analyzer::checkSignature(Function &fn, MaybeTypes &args, std::optional<TensorType> &result) {
  bool ok = true;
  llvm::StringMap<llvm::SMLoc> seen;
  for (Argument &arg : fn.args) {
    if (auto [it, inserted] = seen.try_emplace(arg.name, arg.loc); !inserted) {
      auto diag = error(arg.loc);
      diag << "duplicate argument '" << arg.name << "'";
      noteDefinedHere(diag, it->second);
      ok = false;
    }
    args.push_back(evalType(arg.type, /*allowInt=*/true));
    ok = ok && args.back().has_value();
  }
  result = evalType(fn.result, /*allowInt=*/true);
  return ok && result.has_value();
}

/// A local named like a visible parameter or a constant would make the name mean two things
/// in one function: it is an error.
bool Analyzer::checkHides(const std::string &name, llvm::SMLoc loc, const FunctionScope &scope) {
  for (const ParamInfo &p : *scope.params) {
    if (p.name != name)
      continue;
    auto diag = error(loc);
    diag << "'" << name << "' hides the parameter '" << name << "'";
    diag.attachNote(diags.location(p.loc)) << "the parameter is declared here";
    return false;
  }
  if (auto it = constLocs.find(name); it != constLocs.end()) {
    auto diag = error(loc);
    diag << "'" << name << "' hides the constant '" << name << "'";
    diag.attachNote(diags.location(it->second)) << "the constant is declared here";
    return false;
  }
  return true;
}

void Analyzer::bindArguments(const Function &fn, const MaybeTypes &args, FunctionScope &scope) {
  for (size_t i = 0; i < fn.args.size(); ++i) {
    const Argument &arg = fn.args[i];
    checkHides(arg.name, arg.loc, scope);
    const std::optional<TensorType> &type = i < args.size() ? args[i] : std::nullopt;
    scope.locals.try_emplace(arg.name, Local{type.value_or(TensorType{}), arg.loc, !type});
  }
}

void Analyzer::checkBody(Function &fn, FunctionScope &scope,
                         const std::optional<TensorType> &result) {
  bool returned = false;
  for (Stmt &s : fn.body) {
    if (returned) {
      error(s.loc) << "statement after 'return' is never reached";
      break;
    }
    auto type = checkExpr(*s.value, scope);
    switch (s.kind) {
    case Stmt::Kind::Let: {
      checkHides(s.name, s.nameLoc, scope);
      // A failed value binds a poisoned local: its uses report nothing more.
      auto [it, inserted] =
          scope.locals.try_emplace(s.name, Local{type.value_or(TensorType{}), s.nameLoc, !type});
      if (!inserted) {
        auto diag = error(s.nameLoc);
        diag << "'" << s.name << "' is already defined (to rebind it, write '" << s.name
             << " = ...' without 'let')";
        noteDefinedHere(diag, it->second.loc);
      }
      break;
    }
    case Stmt::Kind::Assign: {
      auto it = scope.locals.find(s.name);
      if (it == scope.locals.end()) {
        if (llvm::any_of(*scope.params, [&](const ParamInfo &p) { return p.name == s.name; }))
          error(s.nameLoc) << "cannot assign to the parameter '" << s.name
                           << "' (parameters change only by training)";
        else
          error(s.nameLoc) << "assignment to undefined name '" << s.name
                           << "' (use 'let' to define it)";
        break;
      }
      if (it->second.poisoned) {
        if (type) // the first known type of the name
          it->second = Local{*type, it->second.loc};
        break;
      }
      if (type && *type != it->second.type)
        error(s.loc) << "assignment changes the type of '" << s.name << "' from "
                     << it->second.type.str() << " to " << type->str()
                     << " (use 'let' for a new name)";
      break;
    }
    case Stmt::Kind::Return:
      returned = true;
      if (type && result && *type != *result)
        error(s.value->loc) << "returns " << type->str() << " but the declared result is "
                            << result->str();
      break;
    }
    if (diags.tooManyErrors())
      return;
  }
  if (!returned)
    error(fn.closeLoc) << "missing 'return' at the end of the body";
}

/// Every inferred type obeys the limit that declared types do.
bool Analyzer::checkElementCount(const Expr &e, const TensorType &type) {
  if (elementCount(type.shape))
    return true;
  error(e.loc) << "the result of '" << e.text << "', " << type.str()
               << ", has more than 2^48 elements";
  return false;
}

std::optional<TensorType> Analyzer::checkExpr(Expr &e, FunctionScope &scope) {
  switch (e.kind) {
  case Expr::Kind::Integer:
  case Expr::Kind::Float:
    // A bare number becomes an f32 scalar; inside arithmetic it takes its partner's dtype.
    e.folded = e.kind == Expr::Kind::Integer ? static_cast<double>(e.intValue) : e.floatValue;
    e.type = TensorType{DType::f32, {}};
    return e.type;
  case Expr::Kind::Bool:
  case Expr::Kind::String:
  case Expr::Kind::List:
    error(e.loc) << "expected a tensor expression";
    return std::nullopt;
  case Expr::Kind::Name: {
    if (auto it = scope.locals.find(e.text); it != scope.locals.end()) {
      if (it->second.poisoned)
        return std::nullopt; // its definition's error was reported
      return e.type = it->second.type;
    }
    for (const ParamInfo &p : *scope.params)
      if (p.name == e.text)
        return e.type = p.type;
    if (scope.failedParams.contains(e.text))
      return std::nullopt;
    if (auto it = info.consts.find(e.text); it != info.consts.end() && it->second.isNumber()) {
      e.folded = it->second.asDouble();
      return e.type = TensorType{DType::f32, {}};
    }
    if (scope.block && llvm::any_of(info.params, [&](const ParamInfo &p) { return p.name == e.text; })) {
      error(e.loc) << "model parameter '" << e.text << "' cannot be used inside block '"
                   << scope.block->name << "' (declare the block's parameters inside it)";
      return std::nullopt;
    }
    if (llvm::any_of(info.blocks, [&](const BlockInfo &b) { return b.name == e.text; })) {
      error(e.loc) << "block '" << e.text << "' must be called: " << e.text << "(...)";
      return std::nullopt;
    }
    if (constLocs.count(e.text)) {
      if (info.consts.count(e.text))
        error(e.loc) << "constant '" << e.text << "' is not a number and cannot be a tensor";
      return std::nullopt;
    }
    error(e.loc) << "use of undefined name '" << e.text << "'";
    return std::nullopt;
  }
  case Expr::Kind::Negate: {
    auto t = checkExpr(*e.operands[0], scope);
    if (!t)
      return std::nullopt;
    if (e.operands[0]->folded) {
      e.folded = -*e.operands[0]->folded;
    } else if (t->dtype == DType::i32) {
      error(e.loc) << "cannot negate an integer tensor";
      return std::nullopt;
    }
    return e.type = t;
  }
  case Expr::Kind::Binary: {
    Expr &lhs = *e.operands[0], &rhs = *e.operands[1];
    auto a = checkExpr(lhs, scope);
    auto b = checkExpr(rhs, scope);
    if (!a || !b)
      return std::nullopt;
    if (lhs.folded && rhs.folded) {
      // Fold number arithmetic at compile time (`1.0 / 8.0`).
      auto v = evalArithmetic(e, ConstValue::ofFloat(*lhs.folded), ConstValue::ofFloat(*rhs.folded));
      if (!v)
        return std::nullopt;
      e.folded = v->f;
      return e.type = TensorType{DType::f32, {}};
    }
    // A number next to a tensor takes the tensor's element type.
    if (lhs.folded)
      lhs.type->dtype = b->dtype, a = lhs.type;
    if (rhs.folded)
      rhs.type->dtype = a->dtype, b = rhs.type;
    if (a->dtype == DType::i32 || b->dtype == DType::i32) {
      error(e.loc) << "arithmetic '" << e.text << "' needs floating-point tensors, found "
                   << a->str() << " and " << b->str();
      return std::nullopt;
    }
    if (a->dtype != b->dtype) {
      error(e.loc) << "'" << e.text << "' mixes element types " << a->str() << " and " << b->str()
                   << " (use cast)";
      return std::nullopt;
    }
    auto shape = broadcastShapes(a->shape, b->shape);
    if (!shape) {
      error(e.loc) << "shapes " << a->str() << " and " << b->str() << " do not broadcast for '"
                   << e.text << "'";
      return std::nullopt;
    }
    TensorType result{a->dtype, *shape};
    if (!checkElementCount(e, result))
      return std::nullopt;
    return e.type = result;
  }
  case Expr::Kind::Call:
    return checkCall(e, scope);
  }
  return std::nullopt;
}

bool Analyzer::evalAttributes(const BuiltinSpec &spec, Expr &call, size_t firstAttr) {
  bool ok = true;
  llvm::StringMap<llvm::SMLoc> given;
  auto assign = [&](const std::string &name, llvm::SMLoc loc, const Expr &valueExpr) {
    const AttrSpec *attr = nullptr;
    for (const AttrSpec &a : spec.attrs)
      if (name == a.name)
        attr = &a;
    if (!attr) {
      std::string known;
      for (const AttrSpec &a : spec.attrs)
        known += (known.empty() ? "" : ", ") + std::string(a.name);
      error(loc) << "'" << spec.name << "' has no argument named '" << name << "'"
                 << (known.empty() ? std::string(" (it takes none)") : " (it takes: " + known + ")");
      ok = false;
      return;
    }
    if (auto [it, inserted] = given.try_emplace(name, loc); !inserted) {
      auto diag = error(loc);
      diag << "argument '" << name << "' given twice";
      noteDefinedHere(diag, it->second);
      ok = false;
      return;
    }
    auto v = evalConst(valueExpr);
    if (!v) {
      ok = false;
      return;
    }
    bool fits = false;
    switch (attr->kind) {
    case AttrKind::Int: fits = v->kind == ConstValue::Kind::Int; break;
    case AttrKind::Float:
      fits = v->isNumber();
      if (fits)
        *v = ConstValue::ofFloat(v->asDouble());
      break;
    case AttrKind::Bool: fits = v->kind == ConstValue::Kind::Bool; break;
    case AttrKind::String: fits = v->kind == ConstValue::Kind::String; break;
    case AttrKind::IntList: fits = v->kind == ConstValue::Kind::IntList; break;
    case AttrKind::DType:
      fits = v->kind == ConstValue::Kind::Symbol && parseDType(v->s).has_value();
      break;
    }
    if (!fits) {
      error(valueExpr.loc) << "argument '" << name << "' of '" << spec.name << "' must be "
                           << describe(attr->kind) << ", found " << v->describe();
      ok = false;
      return;
    }
    call.attrs[name] = *v;
  };

  for (size_t i = firstAttr; i < call.operands.size(); ++i)
    assign(spec.positionalAttrs[i - firstAttr], call.operands[i]->loc, *call.operands[i]);
  for (NamedArg &arg : call.namedArgs)
    assign(arg.name, arg.loc, *arg.value);
  for (const AttrSpec &a : spec.attrs) {
    if (call.attrs.count(a.name))
      continue;
    if (a.required) {
      if (ok)
        error(call.loc) << "'" << spec.name << "' needs argument '" << a.name << " = ...'";
      ok = false;
    } else {
      call.attrs[a.name] = a.defaultValue;
    }
  }
  return ok;
}

std::optional<TensorType> Analyzer::checkCall(Expr &e, FunctionScope &scope) {
  // A builtin's name always means the builtin (a block may not take it), as in MLIRGen.
  const BuiltinSpec *spec = lookupBuiltin(e.text);
  if (!spec) {
    for (const BlockInfo &b : info.blocks)
      if (b.name == e.text)
        return checkBlockCall(e, scope, b);
    error(e.loc) << "unknown function '" << e.text << "'";
    return std::nullopt;
  }
  size_t positional = e.operands.size();
  size_t maxPositional = spec->maxTensors < 0 ? SIZE_MAX : spec->maxTensors + spec->positionalAttrs.size();
  size_t tensors = spec->maxTensors < 0 ? positional : std::min<size_t>(positional, spec->maxTensors);
  if (tensors < static_cast<size_t>(spec->minTensors) || positional > maxPositional) {
    auto diag = error(e.loc);
    diag << "'" << spec->name << "' takes ";
    if (spec->maxTensors < 0)
      diag << "at least " << spec->minTensors;
    else
      diag << spec->minTensors;
    diag << " tensor argument" << (spec->minTensors == 1 ? "" : "s");
    if (!spec->positionalAttrs.empty())
      diag << " and '" << spec->positionalAttrs.front() << "'";
    diag << ", found " << positional << " argument" << (positional == 1 ? "" : "s");
    return std::nullopt;
  }
  // The positional tensor arguments, then the attributes (positional ones after the tensors).
  if (static_cast<int>(tensors) == spec->maxTensors && positional == tensors &&
      !spec->positionalAttrs.empty() && !llvm::any_of(e.namedArgs, [&](const NamedArg &a) {
        return a.name == spec->positionalAttrs.front();
      })) {
    error(e.loc) << "'" << spec->name << "' needs its '" << spec->positionalAttrs.front()
                 << "' argument";
    return std::nullopt;
  }
  llvm::SmallVector<TensorType, 4> args;
  bool ok = true;
  for (size_t i = 0; i < tensors; ++i) {
    auto t = checkExpr(*e.operands[i], scope);
    if (!t) {
      ok = false;
      continue;
    }
    if (e.operands[i]->folded) {
      error(e.operands[i]->loc) << "'" << spec->name << "' needs a tensor here, found a number";
      ok = false;
    }
    args.push_back(*t);
  }
  ok = evalAttributes(*spec, e, tensors) && ok;
  if (!ok)
    return std::nullopt;
  auto result = inferBuiltin(*spec, e, args, diags);
  if (result)
    e.type = result;
  return result;
}

std::optional<TensorType> Analyzer::checkBlockCall(Expr &e, FunctionScope &scope,
                                                   const BlockInfo &b) {
  if (scope.block) {
    if (scope.block->name == b.name)
      error(e.loc) << "block '" << b.name << "' cannot call itself";
    else
      error(e.loc) << "block '" << b.name << "' cannot be called from inside block '"
                   << scope.block->name << "'";
    return std::nullopt;
  }
  // Pipeline partitioning gives each block's repetitions to stages: one use per block.
  if (auto [it, inserted] = appliedBlocks.try_emplace(b.name, e.loc); !inserted) {
    error(e.loc) << "block '" << b.name << "' is already applied at " << lineAndColumn(it->second)
                 << "; each block runs once in forward";
    return std::nullopt;
  }
  if (!e.namedArgs.empty()) {
    error(e.namedArgs.front().loc) << "block '" << b.name << "' takes no named arguments";
    return std::nullopt;
  }
  if (e.operands.size() != b.argTypes.size()) {
    error(e.loc) << "block '" << b.name << "' takes " << b.argTypes.size() << " argument"
                 << (b.argTypes.size() == 1 ? "" : "s") << ", found " << e.operands.size();
    return std::nullopt;
  }
  bool ok = b.valid; // an invalid block's errors are reported at the block
  for (size_t i = 0; i < e.operands.size(); ++i) {
    auto t = checkExpr(*e.operands[i], scope);
    if (t && b.valid && *t != b.argTypes[i]) {
      error(e.operands[i]->loc) << "argument " << i + 1 << " of block '" << b.name << "' must be "
                                << b.argTypes[i].str() << ", found " << t->str();
      ok = false;
    }
    ok = ok && t.has_value();
  }
  if (!ok)
    return std::nullopt;
  return e.type = b.resultType;
}

//===----------------------------------------------------------------------===//
// Sections
//===----------------------------------------------------------------------===//

std::optional<ConstValue> Analyzer::evalSetting(const Setting &s) { return evalConst(*s.value); }

namespace {
/// Reads the named arguments of a call like `adamw(lr = 3e-4, beta2 = 0.95)` into doubles.
struct CallReader {
  Diagnostics &diags;
  const Expr &call;
  bool ok = true;

  void number(const char *name, double &out, std::function<std::optional<ConstValue>(const Expr &)> eval,
              double min, bool exclusiveMin) {
    for (const NamedArg &a : call.namedArgs) {
      if (a.name != name)
        continue;
      auto v = eval(*a.value);
      if (!v || !v->isNumber()) {
        if (v)
          diags.error(a.value->loc) << "'" << name << "' must be a number, found " << v->describe();
        ok = false;
        return;
      }
      double d = v->asDouble();
      if (d < min || (exclusiveMin && d == min)) {
        diags.error(a.value->loc) << "'" << name << "' must be " << (exclusiveMin ? "> " : ">= ")
                                  << formatNumber(min) << ", found " << formatNumber(d);
        ok = false;
        return;
      }
      out = d;
    }
  }
  void integer(const char *name, int64_t &out,
               std::function<std::optional<ConstValue>(const Expr &)> eval, int64_t min) {
    for (const NamedArg &a : call.namedArgs) {
      if (a.name != name)
        continue;
      auto v = eval(*a.value);
      if (!v || v->kind != ConstValue::Kind::Int || v->i < min) {
        if (v)
          diags.error(a.value->loc) << "'" << name << "' must be an integer >= " << min
                                    << ", found " << v->describe();
        ok = false;
        return;
      }
      out = v->i;
    }
  }
  void onlyKnown(std::initializer_list<const char *> names) {
    if (!call.operands.empty()) {
      diags.error(call.operands.front()->loc) << "'" << call.text << "' takes named arguments only";
      ok = false;
    }
    for (const NamedArg &a : call.namedArgs)
      if (!llvm::is_contained(names, a.name)) {
        diags.error(a.loc) << "'" << call.text << "' has no argument named '" << a.name << "'";
        ok = false;
      }
  }
};
} // namespace

void Analyzer::checkTrain() {
  TrainConfig &t = info.train;
  if (!module.train) {
    error(module.forward ? module.forward->loc : fileStart())
        << "missing 'train' section (micro_batch and seq_len at least)";
    return;
  }
  auto evalFn = [&](const Expr &x) { return evalConst(x); };
  bool haveBatch = false, haveSeq = false;
  llvm::StringMap<llvm::SMLoc> seen;
  for (const Setting &s : module.train->settings) {
    if (auto [it, inserted] = seen.try_emplace(s.key, s.loc); !inserted) {
      auto diag = error(s.loc);
      diag << "setting '" << s.key << "' given twice";
      noteDefinedHere(diag, it->second);
      continue;
    }
    if (s.key == "micro_batch" || s.key == "seq_len") {
      auto v = evalPositiveInt(*s.value, "'" + s.key + "'");
      if (v)
        (s.key == "micro_batch" ? t.microBatch : t.seqLen) = *v;
      (s.key == "micro_batch" ? haveBatch : haveSeq) = v.has_value();
      continue;
    }
    auto v = evalSetting(s);
    if (!v)
      continue;
    if (s.key == "precision") {
      if (v->kind == ConstValue::Kind::Symbol && (v->s == "bf16" || v->s == "f32"))
        t.precision = *parseDType(v->s);
      else
        error(s.value->loc) << "'precision' must be bf16 or f32, found " << v->describe();
    } else if (s.key == "clip") {
      if (v->isNumber() && v->asDouble() >= 0)
        t.clip = v->asDouble();
      else
        error(s.value->loc) << "'clip' must be a number >= 0 (0 turns clipping off), found "
                            << v->describe();
    } else if (s.key == "optimizer") {
      if (v->kind != ConstValue::Kind::Call || v->s != "adamw") {
        error(s.value->loc) << "'optimizer' must be adamw(...), found " << v->describe();
        continue;
      }
      CallReader r{diags, *v->call};
      r.onlyKnown({"lr", "beta1", "beta2", "eps", "weight_decay"});
      r.number("lr", t.optimizer.lr, evalFn, 0, true);
      r.number("beta1", t.optimizer.beta1, evalFn, 0, false);
      r.number("beta2", t.optimizer.beta2, evalFn, 0, false);
      r.number("eps", t.optimizer.eps, evalFn, 0, true);
      r.number("weight_decay", t.optimizer.weightDecay, evalFn, 0, false);
      if (r.ok && (t.optimizer.beta1 >= 1 || t.optimizer.beta2 >= 1))
        error(s.value->loc) << "adamw betas must be below 1";
    } else if (s.key == "lr_schedule") {
      if (v->kind == ConstValue::Kind::Symbol && v->s == "constant") {
        t.lrSchedule.kind = "constant";
        continue;
      }
      if (v->kind != ConstValue::Kind::Call || (v->s != "cosine" && v->s != "linear")) {
        error(s.value->loc) << "'lr_schedule' must be constant, cosine(...) or linear(...), found "
                            << v->describe();
        continue;
      }
      t.lrSchedule.kind = v->s;
      t.lrSchedule.finalFraction = 0.0;
      CallReader r{diags, *v->call};
      r.onlyKnown({"warmup", "final"});
      r.integer("warmup", t.lrSchedule.warmup, evalFn, 0);
      r.number("final", t.lrSchedule.finalFraction, evalFn, 0, false);
      if (r.ok && t.lrSchedule.finalFraction > 1)
        error(s.value->loc) << "'final' is a fraction of the peak learning rate, at most 1";
    } else if (s.key == "recompute") {
      if (v->kind == ConstValue::Kind::Symbol && (v->s == "none" || v->s == "block"))
        t.recompute = v->s;
      else
        error(s.value->loc) << "'recompute' must be none or block, found " << v->describe();
    } else {
      error(s.loc) << "unknown train setting '" << s.key
                   << "' (expected micro_batch, seq_len, precision, optimizer, clip, "
                      "lr_schedule or recompute)";
    }
  }
  if (!haveBatch && !seen.count("micro_batch"))
    error(module.train->loc) << "the train section needs 'micro_batch'";
  if (!haveSeq && !seen.count("seq_len"))
    error(module.train->loc) << "the train section needs 'seq_len'";
}

void Analyzer::checkParallel() {
  ParallelConfig &p = info.parallel;
  if (!module.parallel)
    return; // one GPU, one microbatch: the defaults
  llvm::StringMap<llvm::SMLoc> seen;
  for (const Setting &s : module.parallel->settings) {
    if (auto [it, inserted] = seen.try_emplace(s.key, s.loc); !inserted) {
      auto diag = error(s.loc);
      diag << "setting '" << s.key << "' given twice";
      noteDefinedHere(diag, it->second);
      continue;
    }
    int64_t *slot = llvm::StringSwitch<int64_t *>(s.key)
                        .Case("stages", &p.stages)
                        .Case("data", &p.data)
                        .Case("microbatches", &p.microbatches)
                        .Case("chunks", &p.chunks)
                        .Default(nullptr);
    if (slot) {
      if (auto v = evalPositiveInt(*s.value, "'" + s.key + "'"))
        *slot = *v;
      continue;
    }
    auto v = evalSetting(s);
    if (!v)
      continue;
    if (s.key == "schedule") {
      static const char *kSchedules[] = {"gpipe", "1f1b", "interleaved", "zb-h1"};
      if (v->kind == ConstValue::Kind::String && llvm::is_contained(kSchedules, v->s))
        p.schedule = v->s;
      else
        error(s.value->loc) << "'schedule' must be \"gpipe\", \"1f1b\", \"interleaved\" or "
                               "\"zb-h1\", found "
                            << v->describe();
    } else if (s.key == "zero1") {
      if (v->kind == ConstValue::Kind::Bool)
        p.zero1 = v->b;
      else
        error(s.value->loc) << "'zero1' must be true or false, found " << v->describe();
    } else {
      error(s.loc) << "unknown parallel setting '" << s.key
                   << "' (expected stages, data, microbatches, schedule, chunks or zero1)";
    }
  }
  if (p.chunks > 1 && p.schedule != "interleaved")
    error(module.parallel->loc) << "chunks = " << p.chunks
                                << " needs schedule = \"interleaved\"";
}

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
