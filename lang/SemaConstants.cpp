//===- SemaConstants.cpp - Compile-time constants, types and parameters ---===//
#include "lang/Analyzer.h"

using namespace ingot::lang;
using namespace ingot::lang::detail;

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
