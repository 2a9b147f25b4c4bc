//===- LexerTest.cpp ------------------------------------------------------===//
#include "FrontendHarness.h"

#include <gtest/gtest.h>

using namespace ingot;
using lang::TokenKind;

static std::vector<TokenKind> kinds(const std::vector<lang::Token> &tokens) {
  std::vector<TokenKind> out;
  for (const lang::Token &t : tokens)
    out.push_back(t.kind);
  return out;
}

TEST(Lexer, KeywordsIdentifiersAndPunctuation) {
  test::Harness h("model gpt2; param w: f32[V, 4 * D] = normal(0.02); x -> y");
  auto tokens = h.lex();
  std::vector<TokenKind> expected = {
      TokenKind::kw_model, TokenKind::identifier, TokenKind::semicolon, TokenKind::kw_param,
      TokenKind::identifier, TokenKind::colon, TokenKind::identifier, TokenKind::l_square,
      TokenKind::identifier, TokenKind::comma, TokenKind::integer, TokenKind::star,
      TokenKind::identifier, TokenKind::r_square, TokenKind::equal, TokenKind::identifier,
      TokenKind::l_paren, TokenKind::floating, TokenKind::r_paren, TokenKind::semicolon,
      TokenKind::identifier, TokenKind::arrow, TokenKind::identifier};
  EXPECT_EQ(kinds(tokens), expected);
  EXPECT_TRUE(h.errors.empty());
  EXPECT_EQ(tokens[1].text, "gpt2");
}

TEST(Lexer, Numbers) {
  test::Harness h("12 1.5 .5 1e-5 3E+2 2.");
  auto tokens = h.lex();
  ASSERT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens[0].kind, TokenKind::integer);
  for (size_t i = 1; i < tokens.size(); ++i)
    EXPECT_EQ(tokens[i].kind, TokenKind::floating) << tokens[i].text.str();
  EXPECT_TRUE(h.errors.empty());
}

TEST(Lexer, MalformedNumbersAreOneError) {
  test::Harness h("1f1b 2e+ x");
  auto tokens = h.lex();
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].kind, TokenKind::error);
  EXPECT_EQ(tokens[1].kind, TokenKind::error);
  EXPECT_EQ(tokens[2].kind, TokenKind::identifier);
  ASSERT_EQ(h.errors.size(), 2u);
  EXPECT_EQ(h.errors[0].col, 1u);
  EXPECT_NE(h.errors[0].message.find("malformed number '1f1b'"), std::string::npos);
  EXPECT_EQ(h.errors[1].col, 6u);
}

TEST(Lexer, NumberWithTwoDotsIsOneError) {
  test::Harness h(".5.3 1.2.3 x");
  auto tokens = h.lex();
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].kind, TokenKind::error);
  EXPECT_EQ(tokens[1].kind, TokenKind::error);
  EXPECT_EQ(tokens[2].kind, TokenKind::identifier);
  ASSERT_EQ(h.errors.size(), 2u);
  EXPECT_NE(h.errors[0].message.find("malformed number '.5.3'"), std::string::npos);
  EXPECT_EQ(h.errors[1].col, 6u);
}

TEST(Lexer, CommentsAndStrings) {
  test::Harness h("a // comment with ünïcode\n\"1f1b\" b");
  auto tokens = h.lex();
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[1].kind, TokenKind::string);
  EXPECT_EQ(tokens[1].text, "\"1f1b\"");
  EXPECT_TRUE(h.errors.empty());
}

TEST(Lexer, InvalidBytesAreReportedWithLocations) {
  static const char kSource[] = "a\n  $ b \xff c\n// bad \xc3\x28\n\"x";
  test::Harness h(llvm::StringRef(kSource, sizeof(kSource) - 1));
  auto tokens = h.lex();
  ASSERT_EQ(h.errors.size(), 4u);
  EXPECT_EQ(h.errors[0].line, 2u);
  EXPECT_EQ(h.errors[0].col, 3u);
  EXPECT_NE(h.errors[0].message.find("unexpected character '$'"), std::string::npos);
  EXPECT_NE(h.errors[1].message.find("invalid UTF-8 byte 0xff"), std::string::npos);
  EXPECT_EQ(h.errors[2].line, 3u);
  EXPECT_NE(h.errors[2].message.find("invalid UTF-8 in comment"), std::string::npos);
  EXPECT_NE(h.errors[3].message.find("unterminated string"), std::string::npos);
  // The good tokens around the bad bytes still come through.
  EXPECT_EQ(tokens.front().text, "a");
}

TEST(Lexer, EmbeddedNulIsAnErrorNotTheEnd) {
  test::Harness h(llvm::StringRef("a\0b", 3));
  auto tokens = h.lex();
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[2].text, "b");
  ASSERT_EQ(h.errors.size(), 1u);
  EXPECT_NE(h.errors[0].message.find("control byte 0x00"), std::string::npos);
}
