//===- Parser.cpp - Recursive-descent parser for Ingot --------------------===//
#include "lang/Parser.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

using namespace ingot::lang;

void Parser::errorHere(llvm::StringRef message) {
  if (tok.is(TokenKind::error))
    return; // the lexer already reported this token
  diags.error(tok.loc()) << message << ", found "
                         << (tok.is(TokenKind::eof) ? spell(tok.kind)
                                                    : llvm::StringRef("'" + tok.text.str() + "'"));
}

bool Parser::expect(TokenKind kind, llvm::StringRef context) {
  if (consumeIf(kind))
    return true;
  errorHere(("expected " + spell(kind) + " " + context).str());
  return false;
}

bool Parser::expectIdentifier(std::string &name, llvm::SMLoc &loc, llvm::StringRef context) {
  if (!tok.is(TokenKind::identifier)) {
    errorHere(("expected identifier " + context).str());
    return false;
  }
  name = tok.text.str();
  loc = tok.loc();
  advance();
  return true;
}

static bool startsItem(TokenKind kind) {
  switch (kind) {
  case TokenKind::kw_model:
  case TokenKind::kw_const:
  case TokenKind::kw_param:
  case TokenKind::kw_block:
  case TokenKind::kw_forward:
  case TokenKind::kw_train:
  case TokenKind::kw_parallel:
  case TokenKind::kw_let:
  case TokenKind::kw_return:
    return true;
  default:
    return false;
  }
}

void Parser::recover() {
  int depth = 0;
  while (!tok.is(TokenKind::eof)) {
    if (depth == 0 && tok.is(TokenKind::semicolon)) {
      advance();
      return;
    }
    if (depth == 0 && (tok.is(TokenKind::r_brace) || startsItem(tok.kind)))
      return;
    if (tok.is(TokenKind::l_brace) || tok.is(TokenKind::l_paren) || tok.is(TokenKind::l_square))
      ++depth;
    if (tok.is(TokenKind::r_brace) || tok.is(TokenKind::r_paren) || tok.is(TokenKind::r_square))
      depth = depth > 0 ? depth - 1 : 0;
    advance();
  }
}

/// module := item*
Module Parser::parseModule() {
  Module m;
  while (!tok.is(TokenKind::eof) && !diags.tooManyErrors()) {
    if (!parseItem(m))
      recover();
    // A stray '}' at the top level would stop recovery forever: report it and step over it.
    if (tok.is(TokenKind::r_brace)) {
      diags.error(tok.loc()) << "unexpected '}' at top level";
      advance();
    }
  }
  return m;
}

/// item := model-decl | const-decl | param-decl | block-decl | forward-decl | train | parallel
bool Parser::parseItem(Module &m) {
  switch (tok.kind) {
  case TokenKind::kw_model: return parseModelDecl(m);
  case TokenKind::kw_const: return parseConst(m);
  case TokenKind::kw_param: {
    ParamDecl p;
    if (!parseParam(p))
      return false;
    m.params.push_back(std::move(p));
    return true;
  }
  case TokenKind::kw_block: return parseBlock(m);
  case TokenKind::kw_forward: return parseForward(m);
  case TokenKind::kw_train: return parseSection(m.train, "train");
  case TokenKind::kw_parallel: return parseSection(m.parallel, "parallel");
  default:
    errorHere("expected 'model', 'const', 'param', 'block', 'forward', 'train' or 'parallel'");
    if (!tok.is(TokenKind::eof) && !tok.is(TokenKind::r_brace))
      advance(); // guarantee progress
    return false;
  }
}

/// model-decl := 'model' identifier ';'
bool Parser::parseModelDecl(Module &m) {
  llvm::SMLoc kwLoc = tok.loc();
  advance();
  std::string name;
  llvm::SMLoc loc;
  if (!expectIdentifier(name, loc, "after 'model'"))
    return false;
  if (m.hasModelDecl) {
    diags.error(kwLoc) << "duplicate 'model' declaration (the first names '" << m.name << "')";
  } else {
    m.name = name;
    m.nameLoc = loc;
    m.hasModelDecl = true;
  }
  return expect(TokenKind::semicolon, "after the model name");
}

/// const-decl := 'const' identifier '=' expr ';'
bool Parser::parseConst(Module &m) {
  advance();
  ConstDecl c;
  if (!expectIdentifier(c.name, c.loc, "after 'const'") ||
      !expect(TokenKind::equal, "after the constant's name"))
    return false;
  c.value = parseExpr();
  if (!c.value || !expect(TokenKind::semicolon, "after the constant's value"))
    return false;
  m.consts.push_back(std::move(c));
  return true;
}

/// param-decl := 'param' identifier ':' type '=' expr ';'
bool Parser::parseParam(ParamDecl &p) {
  advance();
  if (!expectIdentifier(p.name, p.loc, "after 'param'") ||
      !expect(TokenKind::colon, "after the parameter's name") || !parseType(p.type) ||
      !expect(TokenKind::equal, "before the parameter's initializer"))
    return false;
  p.init = parseExpr();
  return p.init && expect(TokenKind::semicolon, "after the parameter's initializer");
}

/// type := identifier ('[' expr (',' expr)* ']')?
bool Parser::parseType(TypeExpr &type) {
  type.loc = tok.loc();
  llvm::SMLoc loc;
  if (!expectIdentifier(type.dtype, loc, "naming an element type (f32, bf16, i32)"))
    return false;
  if (!consumeIf(TokenKind::l_square))
    return true;
  do {
    ExprPtr dim = parseExpr();
    if (!dim)
      return false;
    type.dims.push_back(std::move(dim));
  } while (consumeIf(TokenKind::comma));
  return expect(TokenKind::r_square, "to close the shape");
}

/// signature := '(' (identifier ':' type (',' identifier ':' type)*)? ')' '->' type
bool Parser::parseSignature(Function &fn, llvm::StringRef owner) {
  if (!expect(TokenKind::l_paren, ("to open the arguments of " + owner).str()))
    return false;
  if (!tok.is(TokenKind::r_paren)) {
    do {
      Argument arg;
      if (!expectIdentifier(arg.name, arg.loc, "naming an argument") ||
          !expect(TokenKind::colon, "after the argument's name") || !parseType(arg.type))
        return false;
      fn.args.push_back(std::move(arg));
    } while (consumeIf(TokenKind::comma));
  }
  return expect(TokenKind::r_paren, "to close the arguments") &&
         expect(TokenKind::arrow, "before the result type") && parseType(fn.result);
}

/// stmt := 'let' identifier '=' expr ';' | identifier '=' expr ';' | 'return' expr ';'
bool Parser::parseStmt(Function &fn) {
  Stmt s;
  s.loc = tok.loc();
  if (consumeIf(TokenKind::kw_let)) {
    s.kind = Stmt::Kind::Let;
    if (!expectIdentifier(s.name, s.nameLoc, "after 'let'") ||
        !expect(TokenKind::equal, "after the name"))
      return false;
  } else if (consumeIf(TokenKind::kw_return)) {
    s.kind = Stmt::Kind::Return;
  } else if (tok.is(TokenKind::identifier)) {
    s.kind = Stmt::Kind::Assign;
    s.name = tok.text.str();
    s.nameLoc = tok.loc();
    advance();
    if (!expect(TokenKind::equal, "in an assignment (use 'let' to bind a new name)"))
      return false;
  } else {
    errorHere("expected a statement ('let', an assignment or 'return')");
    return false;
  }
  s.value = parseExpr();
  if (!s.value || !expect(TokenKind::semicolon, "after the statement"))
    return false;
  fn.body.push_back(std::move(s));
  return true;
}

/// block-decl := 'block' identifier '[' expr ']' signature '{' (param-decl | stmt)* '}'
bool Parser::parseBlock(Module &m) {
  advance();
  BlockDecl b;
  if (!expectIdentifier(b.name, b.loc, "naming the block") ||
      !expect(TokenKind::l_square, "before the block's repeat count"))
    return false;
  b.count = parseExpr();
  if (!b.count || !expect(TokenKind::r_square, "after the block's repeat count") ||
      !parseSignature(b.fn, "the block") || !expect(TokenKind::l_brace, "to open the block"))
    return false;
  while (!tok.is(TokenKind::r_brace) && !tok.is(TokenKind::eof) && !diags.tooManyErrors()) {
    bool ok;
    if (tok.is(TokenKind::kw_param)) {
      ParamDecl p;
      ok = parseParam(p);
      if (ok)
        b.params.push_back(std::move(p));
    } else if (startsItem(tok.kind) && !tok.is(TokenKind::kw_let) &&
               !tok.is(TokenKind::kw_return)) {
      errorHere("expected a statement or 'param' inside the block (missing '}'?)");
      break;
    } else {
      ok = parseStmt(b.fn);
    }
    if (!ok)
      recover();
  }
  b.fn.closeLoc = tok.loc();
  bool closed = expect(TokenKind::r_brace, "to close the block");
  m.blocks.push_back(std::move(b));
  return closed;
}

/// forward-decl := 'forward' signature '{' stmt* '}'
bool Parser::parseForward(Module &m) {
  llvm::SMLoc loc = tok.loc();
  advance();
  ForwardDecl f;
  f.loc = loc;
  if (!parseSignature(f.fn, "forward") || !expect(TokenKind::l_brace, "to open forward"))
    return false;
  while (!tok.is(TokenKind::r_brace) && !tok.is(TokenKind::eof) && !diags.tooManyErrors()) {
    if (tok.is(TokenKind::kw_param)) {
      diags.error(tok.loc())
          << "parameters are declared at the top level or inside a block, not in forward";
      advance();
      recover();
      continue;
    }
    if (startsItem(tok.kind) && !tok.is(TokenKind::kw_let) && !tok.is(TokenKind::kw_return)) {
      errorHere("expected a statement inside forward (missing '}'?)");
      break;
      advance();
      recover();
      continue;
    }
    if (!parseStmt(f.fn))
      recover();
  }
  f.fn.closeLoc = tok.loc();
  bool closed = expect(TokenKind::r_brace, "to close forward");
  if (m.forward) {
    diags.error(loc) << "duplicate 'forward' (a model has one)";
    return closed;
  }
  m.forward = std::move(f);
  return closed;
}

/// section := ('train' | 'parallel') '{' (identifier '=' expr ';')* '}'
bool Parser::parseSection(std::optional<Section> &slot, llvm::StringRef name) {
  llvm::SMLoc loc = tok.loc();
  advance();
  Section s;
  s.loc = loc;
  if (!expect(TokenKind::l_brace, ("to open the " + name + " section").str()))
    return false;
  while (!tok.is(TokenKind::r_brace) && !tok.is(TokenKind::eof) && !diags.tooManyErrors()) {
    if (startsItem(tok.kind)) {
      errorHere(("expected a setting inside the " + name + " section (missing '}'?)").str());
      break;
    }
    Setting setting;
    if (!expectIdentifier(setting.key, setting.loc, "naming a setting") ||
        !expect(TokenKind::equal, "after the setting's name") ||
        !(setting.value = parseSettingValue()) ||
        !expect(TokenKind::semicolon, "after the setting's value")) {
      recover();
      continue;
    }
    s.settings.push_back(std::move(setting));
  }
  bool closed = expect(TokenKind::r_brace, ("to close the " + name + " section").str());
  if (slot) {
    diags.error(loc) << "duplicate '" << name << "' section";
    return closed;
  }
  slot = std::move(s);
  return closed;
}

/// setting-value := 'block' | expr
/// The keyword `block` is a value of its own in a section (`recompute = block`): a symbol.
ExprPtr Parser::parseSettingValue() {
  if (!tok.is(TokenKind::kw_block))
    return parseExpr();
  auto e = std::make_unique<Expr>(Expr::Kind::Name, tok.loc());
  e->text = tok.text.str();
  advance();
  return e;
}

/// expr := additive
ExprPtr Parser::parseExpr() {
  if (nesting >= kMaxNesting) {
    diags.error(tok.loc()) << "expression nested more than " << kMaxNesting << " levels deep";
    return nullptr;
  }
  ++nesting;
  ExprPtr e = parseAdditive();
  --nesting;
  return e;
}

static ExprPtr makeBinary(llvm::StringRef op, llvm::SMLoc loc, ExprPtr lhs, ExprPtr rhs) {
  auto e = std::make_unique<Expr>(Expr::Kind::Binary, loc);
  e->text = op.str();
  e->operands.push_back(std::move(lhs));
  e->operands.push_back(std::move(rhs));
  return e;
}

/// additive := multiplicative (('+' | '-') multiplicative)*
ExprPtr Parser::parseAdditive() {
  ExprPtr lhs = parseMultiplicative();
  while (lhs && (tok.is(TokenKind::plus) || tok.is(TokenKind::minus))) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseMultiplicative();
    if (!rhs)
      return nullptr;
    lhs = makeBinary(op.text, op.loc(), std::move(lhs), std::move(rhs));
  }
  return lhs;
}

/// multiplicative := unary (('*' | '/') unary)*
ExprPtr Parser::parseMultiplicative() {
  ExprPtr lhs = parseUnary();
  while (lhs && (tok.is(TokenKind::star) || tok.is(TokenKind::slash))) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseUnary();
    if (!rhs)
      return nullptr;
    lhs = makeBinary(op.text, op.loc(), std::move(lhs), std::move(rhs));
  }
  return lhs;
}

/// unary := '-' unary | primary
ExprPtr Parser::parseUnary() {
  if (!tok.is(TokenKind::minus))
    return parsePrimary();
  llvm::SMLoc loc = tok.loc();
  advance();
  if (nesting >= kMaxNesting) {
    diags.error(loc) << "expression nested more than " << kMaxNesting << " levels deep";
    return nullptr;
  }
  ++nesting;
  ExprPtr operand = parseUnary();
  --nesting;
  if (!operand)
    return nullptr;
  auto e = std::make_unique<Expr>(Expr::Kind::Negate, loc);
  e->operands.push_back(std::move(operand));
  return e;
}

/// primary := number | string | 'true' | 'false' | identifier | call | list | '(' expr ')'
ExprPtr Parser::parsePrimary() {
  switch (tok.kind) {
  case TokenKind::integer:
  case TokenKind::floating:
    return parseNumber();
  case TokenKind::string: {
    auto e = std::make_unique<Expr>(Expr::Kind::String, tok.loc());
    e->text = tok.text.drop_front().drop_back().str();
    advance();
    return e;
  }
  case TokenKind::kw_true:
  case TokenKind::kw_false: {
    auto e = std::make_unique<Expr>(Expr::Kind::Bool, tok.loc());
    e->boolValue = tok.is(TokenKind::kw_true);
    advance();
    return e;
  }
  case TokenKind::identifier: {
    auto e = std::make_unique<Expr>(Expr::Kind::Name, tok.loc());
    e->text = tok.text.str();
    advance();
    if (tok.is(TokenKind::l_paren)) {
      e->kind = Expr::Kind::Call;
      return parseCallArgs(std::move(e));
    }
    return e;
  }
  case TokenKind::l_square:
    return parseList();
  case TokenKind::l_paren: {
    advance();
    ExprPtr inner = parseExpr();
    if (!inner || !expect(TokenKind::r_paren, "to close the parenthesis"))
      return nullptr;
    return inner;
  }
  default:
    errorHere("expected an expression");
    return nullptr;
  }
}

/// number := integer | floating
ExprPtr Parser::parseNumber() {
  std::string text = tok.text.str();
  llvm::SMLoc loc = tok.loc();
  bool isInteger = tok.is(TokenKind::integer);
  advance();
  if (isInteger) {
    errno = 0;
    char *endPtr = nullptr;
    long long v = std::strtoll(text.c_str(), &endPtr, 10);
    if (errno == ERANGE) {
      diags.error(loc) << "integer '" << text << "' does not fit in 64 bits";
      return nullptr;
    }
    auto e = std::make_unique<Expr>(Expr::Kind::Integer, loc);
    e->intValue = v;
    return e;
  }
  errno = 0;
  double v = std::strtod(text.c_str(), nullptr);
  if (errno == ERANGE && std::isinf(v)) {
    diags.error(loc) << "number '" << text << "' is out of range";
    return nullptr;
  }
  auto e = std::make_unique<Expr>(Expr::Kind::Float, loc);
  e->floatValue = v;
  return e;
}

/// call := identifier '(' (arg (',' arg)*)? ')' ; arg := (identifier '=')? expr
/// Positional arguments come first; named ones after.
ExprPtr Parser::parseCallArgs(ExprPtr call) {
  advance(); // '('
  if (consumeIf(TokenKind::r_paren))
    return call;
  do {
    if (tok.is(TokenKind::identifier) && peek().is(TokenKind::equal)) {
      NamedArg arg;
      arg.name = tok.text.str();
      arg.loc = tok.loc();
      advance(); // name
      advance(); // '='
      arg.value = parseExpr();
      if (!arg.value)
        return nullptr;
      call->namedArgs.push_back(std::move(arg));
      continue;
    }
    ExprPtr arg = parseExpr();
    if (!arg)
      return nullptr;
    if (!call->namedArgs.empty()) {
      diags.error(arg->loc) << "positional argument after a named argument";
      return nullptr;
    }
    call->operands.push_back(std::move(arg));
  } while (consumeIf(TokenKind::comma));
  if (!expect(TokenKind::r_paren, "to close the call's arguments"))
    return nullptr;
  return call;
}

/// list := '[' (expr (',' expr)*)? ']'
ExprPtr Parser::parseList() {
  auto list = std::make_unique<Expr>(Expr::Kind::List, tok.loc());
  advance();
  if (consumeIf(TokenKind::r_square))
    return list;
  do {
    ExprPtr e = parseExpr();
    if (!e)
      return nullptr;
    list->operands.push_back(std::move(e));
  } while (consumeIf(TokenKind::comma));
  if (!expect(TokenKind::r_square, "to close the list"))
    return nullptr;
  return list;
}
