//===- SemaExpressions.cpp - Functions, statements and tensor expressions ---===//
#include "lang/Analyzer.h"

using namespace ingot::lang;
using namespace ingot::lang::detail;

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
