//===- ParserTest.cpp -----------------------------------------------------===//
#include "FrontendHarness.h"

#include <gtest/gtest.h>

using namespace ingot;

TEST(Parser, PrecedenceAndCalls) {
  test::Harness h("model m; const a = 1 + 2 * 3 - -4 / 2; const b = f(x, y = [1, 2], z = 2.5);");
  lang::Module m = h.parse();
  ASSERT_TRUE(h.errors.empty());
  ASSERT_EQ(m.consts.size(), 2u);
  std::string text;
  llvm::raw_string_ostream os(text);
  lang::dumpAST(m, os);
  EXPECT_NE(text.find("(const a (- (+ 1 (* 2 3)) (/ (- 4) 2)))"), std::string::npos) << text;
  EXPECT_NE(text.find("(const b (f x :y [1 2] :z 2.5))"), std::string::npos) << text;
}

TEST(Parser, WholeModelStructure) {
  test::Harness h(R"(model tiny;
const L = 2;
param w: f32[4, 4] = normal(0.0, 0.02);
block layer[L](x: f32[2, 4]) -> f32[2, 4] {
  param g: f32[4] = ones;
  let h = layer_norm(x, g, g);
  x = x + h;
  return x;
}
forward(a: i32[2], b: i32[2]) -> f32 { return 1.0; }
train { micro_batch = 2; seq_len = 1; }
parallel { stages = 1; schedule = "1f1b"; }
)");
  lang::Module m = h.parse();
  ASSERT_TRUE(h.errors.empty());
  EXPECT_EQ(m.name, "tiny");
  ASSERT_EQ(m.blocks.size(), 1u);
  EXPECT_EQ(m.blocks[0].params.size(), 1u);
  EXPECT_EQ(m.blocks[0].fn.body.size(), 3u);
  EXPECT_EQ(m.blocks[0].fn.body[1].kind, lang::Stmt::Kind::Assign);
  ASSERT_TRUE(m.forward.has_value());
  EXPECT_EQ(m.forward->fn.args.size(), 2u);
  ASSERT_TRUE(m.train.has_value());
  EXPECT_EQ(m.train->settings.size(), 2u);
  ASSERT_TRUE(m.parallel.has_value());
}

TEST(Parser, RecoversAndReportsSeveralErrors) {
  test::Harness h("model m;\nconst a = ;\nconst b = 2\nconst c = 3;\nparam p f32[2] = zeros;\n");
  lang::Module m = h.parse();
  ASSERT_EQ(h.errors.size(), 3u);
  EXPECT_EQ(h.errors[0].line, 2u);
  EXPECT_EQ(h.errors[0].col, 11u);
  EXPECT_NE(h.errors[0].message.find("expected an expression"), std::string::npos);
  EXPECT_EQ(h.errors[1].line, 4u); // the missing ';' is noticed at the next token
  EXPECT_NE(h.errors[1].message.find("expected ';'"), std::string::npos);
  EXPECT_EQ(h.errors[2].line, 5u);
  EXPECT_NE(h.errors[2].message.find("expected ':'"), std::string::npos);
  // `const c` after the error in `const b` is still parsed.
  ASSERT_FALSE(m.consts.empty());
}

TEST(Parser, DeepNestingIsAnErrorNotAStackOverflow) {
  std::string deep = "model m; const a = " + std::string(100000, '(') + "1" +
                     std::string(100000, ')') + ";";
  test::Harness h(deep);
  h.parse();
  ASSERT_FALSE(h.errors.empty());
  EXPECT_NE(h.errors[0].message.find("nested more than"), std::string::npos);
  std::string negations = "model m; const a = " + std::string(100000, '-') + "1;";
  test::Harness h2(negations);
  h2.parse();
  ASSERT_FALSE(h2.errors.empty());
}

TEST(Parser, EmptyAndTruncatedFiles) {
  test::Harness empty("");
  lang::Module m = empty.parse();
  EXPECT_TRUE(empty.errors.empty()); // nothing to parse; Sema reports what is missing
  EXPECT_FALSE(m.hasModelDecl);
  test::Harness truncated("model m;\nblock b[2](x: f32[2]) -> f32[2] {\n  let y = x");
  truncated.parse();
  ASSERT_FALSE(truncated.errors.empty());
  EXPECT_NE(truncated.errors[0].message.find("end of file"), std::string::npos);
}
