//===- SemaTest.cpp - Constants, shapes and dtypes ------------------------===//
#include "FrontendHarness.h"

#include <gtest/gtest.h>

using namespace ingot;

TEST(Sema, BroadcastShapes) {
  using V = llvm::SmallVector<int64_t, 4>;
  EXPECT_EQ(*lang::broadcastShapes({2, 3, 4}, {4}), (V{2, 3, 4}));
  EXPECT_EQ(*lang::broadcastShapes({2, 1, 4}, {3, 1}), (V{2, 3, 4}));
  EXPECT_EQ(*lang::broadcastShapes({}, {5, 6}), (V{5, 6}));
  EXPECT_FALSE(lang::broadcastShapes({2, 3}, {4}).has_value());
  EXPECT_FALSE(lang::broadcastShapes({2, 3}, {3, 3}).has_value());
}

TEST(Sema, ConstantsEvaluateInOrder) {
  test::Harness h(test::modelWith("const H = 2;\nconst HD = D / H;\nconst S = 0.02 / sqrt(2 * 4);",
                                  ""));
  lang::Module m;
  ASSERT_TRUE(h.check(m)) << (h.errors.empty() ? "" : h.errors[0].message);
  EXPECT_EQ(h.info.consts["HD"].kind, lang::ConstValue::Kind::Int);
  EXPECT_EQ(h.info.consts["HD"].i, 4);
  EXPECT_NEAR(h.info.consts["S"].f, 0.02 / std::sqrt(8.0), 1e-15);
}

TEST(Sema, OverridesReplaceConstants) {
  test::Harness h(test::modelWith("", ""));
  lang::Module m;
  ASSERT_TRUE(h.check(m, {{"D", "12"}}));
  EXPECT_EQ(h.info.params[0].type.shape[1], 12);
  test::Harness bad(test::modelWith("", ""));
  // A --set error is about the command line: printed without a location, but counted.
  EXPECT_FALSE(bad.check(m, {{"nope", "1"}}));
  EXPECT_TRUE(bad.errors.empty());
  EXPECT_EQ(bad.diags.errorCount(), 1u);
}

TEST(Sema, OverrideValuesReadLikeSource) {
  auto valueOf = [](const char *text) {
    test::Harness h(test::modelWith("const P = 1;", ""));
    lang::Module m;
    h.check(m, {{"P", text}});
    return h.info.consts["P"];
  };
  using Kind = lang::ConstValue::Kind;
  EXPECT_EQ(valueOf("f32").kind, Kind::Symbol); // an identifier is a symbol, as in the source
  EXPECT_EQ(valueOf("f32").s, "f32");
  EXPECT_EQ(valueOf("+3").kind, Kind::Int);
  EXPECT_EQ(valueOf("+3").i, 3);
  EXPECT_EQ(valueOf("-3").i, -3);
  EXPECT_EQ(valueOf("2.5").kind, Kind::Float);
  EXPECT_EQ(valueOf("true").kind, Kind::Bool);
  EXPECT_EQ(valueOf("0x20").kind, Kind::String);
  EXPECT_EQ(valueOf("\"1f1b\"").s, "1f1b");
  EXPECT_EQ(valueOf("inf").kind, Kind::Symbol);
  EXPECT_EQ(valueOf("1e999").kind, Kind::String);
}

TEST(Sema, SymbolOverrideSetsPrecision) {
  std::string src = test::modelWith("const prec = bf16;", "");
  src.replace(src.find("seq_len = 4;"), 12, "seq_len = 4; precision = prec;");
  test::Harness p(src);
  lang::Module m;
  ASSERT_TRUE(p.check(m, {{"prec", "f32"}})) << (p.errors.empty() ? "" : p.errors[0].message);
  EXPECT_EQ(p.info.train.precision, lang::DType::f32);
}

TEST(Sema, ShapesFlowThroughOps) {
  test::Harness h(test::modelWith(
      "param g: f32[D] = ones;\nparam w: f32[D, 3 * D] = normal(0.02);",
      "  let n = layer_norm(x, g, g, eps = 1e-5);\n"
      "  let qkv = matmul(n, w);\n"
      "  let q = slice(qkv, axis = -1, start = 0, size = D);\n"
      "  let a = attention(q, q, q, heads = 2);\n"
      "  x = x + a * 0.5;"));
  lang::Module m;
  ASSERT_TRUE(h.check(m)) << (h.errors.empty() ? "" : h.errors[0].message);
  const lang::Stmt &qkv = m.forward->fn.body[2];
  ASSERT_TRUE(qkv.value->type.has_value());
  EXPECT_EQ(qkv.value->type->str(), "f32[2, 4, 24]");
  const lang::Stmt &q = m.forward->fn.body[3];
  EXPECT_EQ(q.value->type->str(), "f32[2, 4, 8]");
  EXPECT_EQ(q.value->attrs.at("axis").i, 2); // normalized
}

TEST(Sema, RecomputeBlockIsAValue) {
  std::string src = test::modelWith("", "");
  src.replace(src.find("seq_len = 4;"), 12, "seq_len = 4; recompute = block;");
  test::Harness h(src);
  lang::Module m;
  ASSERT_TRUE(h.check(m)) << (h.errors.empty() ? "" : h.errors[0].message);
  EXPECT_EQ(h.info.train.recompute, "block");
}

TEST(Sema, DroppedDeclarationsFailTheAnalysis) {
  // The parameter cannot be checked (its dimension has no value): analyze() must fail, and
  // the self reference is the one error.
  test::Harness h(test::modelWith("const a = a + 1;\nparam w: f32[a] = zeros;", "  let y = x * a;"));
  lang::Module m;
  EXPECT_FALSE(h.check(m));
  ASSERT_EQ(h.errors.size(), 1u);
  EXPECT_NE(h.errors[0].message.find("constant 'a' is used in its own definition"),
            std::string::npos);
  EXPECT_TRUE(h.info.params.size() == 1u); // emb only
}

TEST(Sema, AtMostFiftyErrorsAreShown) {
  std::string decls;
  for (int i = 0; i < 60; ++i)
    decls += "const c" + std::to_string(i) + " = 1 / 0;\n";
  test::Harness h(test::modelWith(decls, ""));
  lang::Module m;
  EXPECT_FALSE(h.check(m));
  EXPECT_EQ(h.errors.size(), static_cast<size_t>(lang::Diagnostics::kMaxErrors));
  EXPECT_EQ(h.diags.errorCount(), 60u);
}

struct BadCase {
  const char *decls;
  const char *body;
  const char *message;
};

class SemaErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(SemaErrors, IsReportedAtItsLocation) {
  const BadCase &c = GetParam();
  test::Harness h(test::modelWith(c.decls, c.body));
  lang::Module m;
  EXPECT_FALSE(h.check(m));
  ASSERT_FALSE(h.errors.empty());
  EXPECT_NE(h.errors[0].message.find(c.message), std::string::npos) << h.errors[0].message;
  EXPECT_GT(h.errors[0].line, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SemaErrors,
    ::testing::Values(
        BadCase{"param w: f32[D, 5] = zeros;", "  let y = matmul(x, w);\n  let z = matmul(y, w);",
                "contraction dimensions differ"},
        BadCase{"param b: f32[3] = zeros;", "  x = x + b;", "do not broadcast"},
        BadCase{"", "  let y = undefined_thing + x;", "undefined name 'undefined_thing'"},
        BadCase{"", "  let y = frobnicate(x);", "unknown function 'frobnicate'"},
        BadCase{"", "  let y = gelu(x, x);", "takes 1 tensor argument, found 2"},
        BadCase{"", "  let x = x;", "already defined"},
        BadCase{"", "  y = x;", "assignment to undefined name 'y'"},
        BadCase{"", "  let y = layer_norm(x, x, x);", "needs a scale of shape [8]"},
        BadCase{"", "  let y = attention(x, x, x, heads = 3);", "not divisible by heads = 3"},
        BadCase{"", "  let y = softmax(x, axis = 5);", "out of range"},
        BadCase{"", "  let y = cast(x, i32);", "between floating-point types only"},
        BadCase{"", "  let y = x + tokens;", "needs floating-point tensors"},
        BadCase{"", "  let y = layer_norm(x, x, x, epsilon = 1);", "no argument named 'epsilon'"},
        BadCase{"param q: f32[0] = zeros;", "", "must be positive"},
        BadCase{"param q: f32[D] = gaussian(1);", "", "unknown initializer"},
        BadCase{"const D = 9;", "", "redefinition of 'D'"},
        BadCase{"", "  let y = reshape(x, [3, 5]);", "cannot reshape"},
        BadCase{"const big = 9223372036854775807 * 2;", "", "integer overflow"},
        BadCase{"const m = -9223372036854775807 - 1;\nconst q = m / -1;", "", "integer overflow"},
        BadCase{"const a = b;\nconst b = 2;", "", "constant 'b' is used before its definition"},
        BadCase{"block gelu[2](h: f32[2, 4, 8]) -> f32[2, 4, 8] { return h; }", "",
                "block 'gelu' has the name of a builtin function"},
        BadCase{"", "  let emb = x;", "'emb' hides the parameter 'emb'"},
        BadCase{"", "  emb = x;", "cannot assign to the parameter 'emb'"},
        BadCase{"param q: f32[D] = zeros();", "", "takes no arguments (write 'zeros')"},
        BadCase{"", "  let y = concat(axis = 0);", "takes at least 1 tensor argument,"}));
