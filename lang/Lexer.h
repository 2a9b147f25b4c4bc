//===- Lexer.h - Tokens of the Ingot language -------------------*- C++ -*-===//
//
// The lexer turns one source buffer into tokens. It never stops at a bad byte: it reports it
// (through Diagnostics) and skips ahead, so one run shows every lexical error.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_LEXER_H
#define INGOT_LANG_LEXER_H

#include "lang/Diagnostics.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"

namespace ingot::lang {

enum class TokenKind {
  eof,
  error, // a lexical error already reported; the parser skips it
  identifier,
  integer,
  floating,
  string,
  // keywords
  kw_model,
  kw_const,
  kw_param,
  kw_block,
  kw_forward,
  kw_train,
  kw_parallel,
  kw_let,
  kw_return,
  kw_true,
  kw_false,
  // punctuation
  l_paren,
  r_paren,
  l_square,
  r_square,
  l_brace,
  r_brace,
  comma,
  colon,
  semicolon,
  equal,
  arrow,
  plus,
  minus,
  star,
  slash,
};

/// Spelling of a token kind for messages ("';'", "identifier", ...).
llvm::StringRef spell(TokenKind kind);

struct Token {
  TokenKind kind = TokenKind::eof;
  llvm::StringRef text; // points into the source buffer
  llvm::SMLoc loc() const { return llvm::SMLoc::getFromPointer(text.data()); }
  bool is(TokenKind k) const { return kind == k; }
};

class Lexer {
public:
  /// Lexes the buffer `bufferId` of the diagnostics' source manager.
  Lexer(Diagnostics &diags, unsigned bufferId);

  /// Returns the next token; after the end, eof forever.
  Token next();

private:
  Token make(TokenKind kind, const char *start) {
    return Token{kind, llvm::StringRef(start, cur - start)};
  }
  void skipSpaceAndComments();
  Token lexNumber(const char *start);
  Token lexIdentifier(const char *start);
  Token lexString(const char *start);
  /// Consumes one UTF-8 sequence at `cur` (inside a comment or string); false if it is invalid.
  bool consumeUtf8();

  Diagnostics &diags;
  const char *cur;
  const char *end;
};

} // namespace ingot::lang

#endif // INGOT_LANG_LEXER_H
