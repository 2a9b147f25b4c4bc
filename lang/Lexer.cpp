//===- Lexer.cpp - Tokens of the Ingot language ---------------------------===//
#include "lang/Lexer.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace ingot::lang;

llvm::StringRef ingot::lang::spell(TokenKind kind) {
  switch (kind) {
  case TokenKind::eof: return "end of file";
  case TokenKind::error: return "invalid token";
  case TokenKind::identifier: return "identifier";
  case TokenKind::integer: return "integer";
  case TokenKind::floating: return "number";
  case TokenKind::string: return "string";
  case TokenKind::kw_model: return "'model'";
  case TokenKind::kw_const: return "'const'";
  case TokenKind::kw_param: return "'param'";
  case TokenKind::kw_block: return "'block'";
  case TokenKind::kw_forward: return "'forward'";
  case TokenKind::kw_train: return "'train'";
  case TokenKind::kw_parallel: return "'parallel'";
  case TokenKind::kw_let: return "'let'";
  case TokenKind::kw_return: return "'return'";
  case TokenKind::kw_true: return "'true'";
  case TokenKind::kw_false: return "'false'";
  case TokenKind::l_paren: return "'('";
  case TokenKind::r_paren: return "')'";
  case TokenKind::l_square: return "'['";
  case TokenKind::r_square: return "']'";
  case TokenKind::l_brace: return "'{'";
  case TokenKind::r_brace: return "'}'";
  case TokenKind::comma: return "','";
  case TokenKind::colon: return "':'";
  case TokenKind::semicolon: return "';'";
  case TokenKind::equal: return "'='";
  case TokenKind::arrow: return "'->'";
  case TokenKind::plus: return "'+'";
  case TokenKind::minus: return "'-'";
  case TokenKind::star: return "'*'";
  case TokenKind::slash: return "'/'";
  }
  return "token";
}

/// "ff" for 0xff: for messages about bytes that are not text.
static std::string hexByte(unsigned char byte) {
  const char *digits = "0123456789abcdef";
  return {digits[byte >> 4], digits[byte & 15]};
}

Lexer::Lexer(Diagnostics &diags, unsigned bufferId) : diags(diags) {
  const llvm::MemoryBuffer *buffer = diags.getSourceMgr().getMemoryBuffer(bufferId);
  cur = buffer->getBufferStart();
  end = buffer->getBufferEnd();
}

bool Lexer::consumeUtf8() {
  auto byte = static_cast<unsigned char>(*cur);
  unsigned length = llvm::getNumBytesForUTF8(byte);
  if (length == 0 || end - cur < static_cast<ptrdiff_t>(length) ||
      !llvm::isLegalUTF8Sequence(reinterpret_cast<const llvm::UTF8 *>(cur),
                                 reinterpret_cast<const llvm::UTF8 *>(cur + length))) {
    ++cur;
    return false;
  }
  cur += length;
  return true;
}

void Lexer::skipSpaceAndComments() {
  while (cur < end) {
    char c = *cur;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++cur;
    } else if (c == '/' && cur + 1 < end && cur[1] == '/') {
      // A line comment. Its bytes must still be valid UTF-8: a file is text or it is rejected.
      while (cur < end && *cur != '\n') {
        const char *at = cur;
        if (!consumeUtf8())
          diags.error(llvm::SMLoc::getFromPointer(at)) << "invalid UTF-8 in comment";
      }
    } else {
      return;
    }
  }
}

Token Lexer::next() {
  skipSpaceAndComments();
  if (cur >= end)
    return Token{TokenKind::eof, llvm::StringRef(end, 0)};
  const char *start = cur;
  char c = *cur++;
  switch (c) {
  case '(': return make(TokenKind::l_paren, start);
  case ')': return make(TokenKind::r_paren, start);
  case '[': return make(TokenKind::l_square, start);
  case ']': return make(TokenKind::r_square, start);
  case '{': return make(TokenKind::l_brace, start);
  case '}': return make(TokenKind::r_brace, start);
  case ',': return make(TokenKind::comma, start);
  case ':': return make(TokenKind::colon, start);
  case ';': return make(TokenKind::semicolon, start);
  case '=': return make(TokenKind::equal, start);
  case '+': return make(TokenKind::plus, start);
  case '*': return make(TokenKind::star, start);
  case '/': return make(TokenKind::slash, start);
  case '-':
    if (cur < end && *cur == '>') {
      ++cur;
      return make(TokenKind::arrow, start);
    }
    return make(TokenKind::minus, start);
  case '"': return lexString(start);
  default: break;
  }
  if (c >= '0' && c <= '9')
    return lexNumber(start);
  if (c == '.' && cur < end && *cur >= '0' && *cur <= '9')
    return lexNumber(start);
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
    return lexIdentifier(start);

  // Anything else is an error: say which byte (or that the UTF-8 is broken) and move on.
  cur = start;
  auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x80) {
    if (consumeUtf8())
      diags.error(llvm::SMLoc::getFromPointer(start))
          << "unexpected character '" << llvm::StringRef(start, cur - start)
          << "' (identifiers are ASCII)";
    else
      diags.error(llvm::SMLoc::getFromPointer(start))
          << "invalid UTF-8 byte 0x" << hexByte(byte);
  } else {
    ++cur;
    if (byte >= 0x20 && byte < 0x7f)
      diags.error(llvm::SMLoc::getFromPointer(start)) << "unexpected character '" << c << "'";
    else
      diags.error(llvm::SMLoc::getFromPointer(start))
          << "unexpected control byte 0x" << hexByte(byte);
  }
  return make(TokenKind::error, start);
}

static bool isDigit(char c) { return c >= '0' && c <= '9'; }
static bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || isDigit(c);
}

Token Lexer::lexNumber(const char *start) {
  // digits [. digits] [e [+-] digits]; a leading '.' was already seen by next() if present.
  bool isFloat = *start == '.';
  while (cur < end && isDigit(*cur))
    ++cur;
  if (!isFloat && cur < end && *cur == '.') {
    isFloat = true;
    ++cur;
    while (cur < end && isDigit(*cur))
      ++cur;
  }
  if (cur < end && (*cur == 'e' || *cur == 'E')) {
    isFloat = true;
    ++cur;
    if (cur < end && (*cur == '+' || *cur == '-'))
      ++cur;
    if (cur >= end || !isDigit(*cur)) {
      diags.error(llvm::SMLoc::getFromPointer(start))
          << "malformed number '" << llvm::StringRef(start, cur - start)
          << "': exponent has no digits";
      return make(TokenKind::error, start);
    }
    while (cur < end && isDigit(*cur))
      ++cur;
  }
  // A number glued to letters or to a second '.' ("12abc", "1f1b", ".5.3", "1.2.3") is one bad
  // token, not two good ones.
  if (cur < end && (isIdentChar(*cur) || *cur == '.')) {
    while (cur < end && (isIdentChar(*cur) || *cur == '.'))
      ++cur;
    diags.error(llvm::SMLoc::getFromPointer(start))
        << "malformed number '" << llvm::StringRef(start, cur - start) << "'";
    return make(TokenKind::error, start);
  }
  return make(isFloat ? TokenKind::floating : TokenKind::integer, start);
}

Token Lexer::lexIdentifier(const char *start) {
  while (cur < end && isIdentChar(*cur))
    ++cur;
  llvm::StringRef text(start, cur - start);
  TokenKind kind = llvm::StringSwitch<TokenKind>(text)
                       .Case("model", TokenKind::kw_model)
                       .Case("const", TokenKind::kw_const)
                       .Case("param", TokenKind::kw_param)
                       .Case("block", TokenKind::kw_block)
                       .Case("forward", TokenKind::kw_forward)
                       .Case("train", TokenKind::kw_train)
                       .Case("parallel", TokenKind::kw_parallel)
                       .Case("let", TokenKind::kw_let)
                       .Case("return", TokenKind::kw_return)
                       .Case("true", TokenKind::kw_true)
                       .Case("false", TokenKind::kw_false)
                       .Default(TokenKind::identifier);
  return make(kind, start);
}

Token Lexer::lexString(const char *start) {
  // "..." on one line, no escapes: strings name things (schedules, approximations).
  bool ok = true;
  while (true) {
    if (cur >= end || *cur == '\n') {
      diags.error(llvm::SMLoc::getFromPointer(start)) << "unterminated string";
      return make(TokenKind::error, start);
    }
    if (*cur == '"') {
      ++cur;
      break;
    }
    const char *at = cur;
    if (static_cast<unsigned char>(*cur) < 0x20) {
      ++cur;
      diags.error(llvm::SMLoc::getFromPointer(at)) << "control character in string";
      ok = false;
    } else if (!consumeUtf8()) {
      diags.error(llvm::SMLoc::getFromPointer(at)) << "invalid UTF-8 in string";
      ok = false;
    }
  }
  return make(ok ? TokenKind::string : TokenKind::error, start);
}
