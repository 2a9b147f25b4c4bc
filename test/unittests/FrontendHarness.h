//===- FrontendHarness.h - Run the front end on a string in tests ---------===//
#ifndef INGOT_TEST_UNITTESTS_FRONTENDHARNESS_H
#define INGOT_TEST_UNITTESTS_FRONTENDHARNESS_H

#include "lang/Lexer.h"
#include "lang/MLIRGen.h"
#include "lang/Parser.h"
#include "lang/Sema.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <string>
#include <vector>

namespace ingot::test {

/// One reported error: where and what.
struct Reported {
  unsigned line = 0, col = 0;
  std::string message;
};

/// Holds a source buffer, an MLIR context and every diagnostic the front end reports.
class Harness {
public:
  explicit Harness(llvm::StringRef source) {
    lang::registerFrontendDialects(context);
    sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(source, "test.ingot"),
                                 llvm::SMLoc());
    handler = std::make_unique<mlir::ScopedDiagnosticHandler>(&context, [this](mlir::Diagnostic &d) {
      Reported r;
      if (auto loc = llvm::dyn_cast<mlir::FileLineColLoc>(d.getLocation())) {
        r.line = loc.getLine();
        r.col = loc.getColumn();
      }
      r.message = d.str();
      errors.push_back(r);
      return mlir::success();
    });
  }

  std::vector<lang::Token> lex() {
    lang::Lexer lexer(diags, sourceMgr.getMainFileID());
    std::vector<lang::Token> tokens;
    for (lang::Token t = lexer.next(); !t.is(lang::TokenKind::eof); t = lexer.next())
      tokens.push_back(t);
    return tokens;
  }

  lang::Module parse() {
    lang::Parser parser(diags, sourceMgr.getMainFileID());
    return parser.parseModule();
  }

  /// Parses and analyzes; true when both succeed.
  bool check(lang::Module &module, std::vector<lang::ConstOverride> overrides = {}) {
    module = parse();
    if (!errors.empty())
      return false;
    return lang::analyze(module, diags, overrides, info);
  }

  llvm::SourceMgr sourceMgr;
  mlir::MLIRContext context;
  lang::Diagnostics diags{sourceMgr, context};
  lang::ModelInfo info;
  std::vector<Reported> errors;

private:
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
};

/// The smallest complete model, with `body` placed inside forward before the return.
inline std::string modelWith(llvm::StringRef decls, llvm::StringRef body,
                             llvm::StringRef ret = "cross_entropy(logits, targets)") {
  return ("model m;\nconst V = 16;\nconst D = 8;\n" + decls +
          "\nparam emb: f32[V, D] = normal(0.02);\n"
          "train { micro_batch = 2; seq_len = 4; }\n"
          "forward(tokens: i32[2, 4], targets: i32[2, 4]) -> f32 {\n"
          "  let x = embedding(emb, tokens);\n" +
          body + "\n  let logits = matmul(x, emb, transpose_b = true);\n  return " + ret +
          ";\n}\n")
      .str();
}

} // namespace ingot::test

#endif
