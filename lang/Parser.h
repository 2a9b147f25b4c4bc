//===- Parser.h - Recursive-descent parser for Ingot ------------*- C++ -*-===//
//
// Each parse function's comment gives the grammar rule it implements; docs/language.md has the
// whole grammar. On an error the parser reports it, skips to the end of the statement or item,
// and goes on, so one run reports every syntax error it can.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_PARSER_H
#define INGOT_LANG_PARSER_H

#include "lang/AST.h"
#include "lang/Lexer.h"

#include <optional>

namespace ingot::lang {

class Parser {
public:
  Parser(Diagnostics &diags, unsigned bufferId) : diags(diags), lexer(diags, bufferId) {
    advance();
  }

  /// Parses the whole file. The module is returned even when errors were reported, so that
  /// callers (tests, --emit=ast) can look at what was understood; check diags.errorCount().
  Module parseModule();

  /// Deepest nesting of parentheses and brackets accepted in one expression.
  static constexpr unsigned kMaxNesting = 200;

private:
  void advance() {
    if (peeked) {
      tok = *peeked;
      peeked.reset();
    } else {
      tok = lexer.next();
    }
  }
  /// The token after `tok`, without consuming anything.
  const Token &peek() {
    if (!peeked)
      peeked = lexer.next();
    return *peeked;
  }
  bool consumeIf(TokenKind kind) {
    if (!tok.is(kind))
      return false;
    advance();
    return true;
  }
  /// Consumes a token of `kind` or reports "expected <kind> <context>".
  bool expect(TokenKind kind, llvm::StringRef context);
  bool expectIdentifier(std::string &name, llvm::SMLoc &loc, llvm::StringRef context);
  void errorHere(llvm::StringRef message);
  /// Skips to just after the next ';' or to the next '}' or item keyword at the current depth.
  void recover();

  bool parseItem(Module &m);
  bool parseModelDecl(Module &m);
  bool parseConst(Module &m);
  bool parseParam(ParamDecl &p);
  bool parseBlock(Module &m);
  bool parseForward(Module &m);
  bool parseSection(std::optional<Section> &slot, llvm::StringRef name);
  bool parseSignature(Function &fn, llvm::StringRef owner);
  bool parseType(TypeExpr &type);
  bool parseStmt(Function &fn);

  ExprPtr parseSettingValue();
  ExprPtr parseExpr();
  ExprPtr parseAdditive();
  ExprPtr parseMultiplicative();
  ExprPtr parseUnary();
  ExprPtr parsePrimary();
  ExprPtr parseCallArgs(ExprPtr call);
  ExprPtr parseList();
  ExprPtr parseNumber();

  Diagnostics &diags;
  Lexer lexer;
  Token tok;
  std::optional<Token> peeked;
  unsigned nesting = 0;
};

} // namespace ingot::lang

#endif // INGOT_LANG_PARSER_H
