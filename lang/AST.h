//===- AST.h - The Ingot language's syntax tree -----------------*- C++ -*-===//
//
// The parser's output: a plain tree with a source location on every node. Meaning (constant
// values, tensor types) is added by Sema, which fills the `type` slot of each expression.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_LANG_AST_H
#define INGOT_LANG_AST_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ingot::lang {

/// Element types of the language.
enum class DType { f32, bf16, i32 };
llvm::StringRef toString(DType dtype);
std::optional<DType> parseDType(llvm::StringRef name);

/// `v` as a message shows it: %g style, "0.0003", "1e-05", "2".
std::string formatNumber(double v);

/// A tensor type with a static shape; rank 0 is a scalar.
struct TensorType {
  DType dtype = DType::f32;
  llvm::SmallVector<int64_t, 4> shape;
  bool operator==(const TensorType &o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const TensorType &o) const { return !(*this == o); }
  std::string str() const; // "f32[16, 1024]"
};

/// A compile-time value: a constant, a named argument of a builtin, or a section setting.
struct ConstValue {
  enum class Kind { Int, Float, Bool, String, Symbol, IntList, Call };
  Kind kind = Kind::Int;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;                 // String contents, Symbol name, Call callee
  std::vector<int64_t> list;     // IntList
  const struct Expr *call = nullptr; // Call (e.g. `adamw(lr = 3e-4)` in a section)

  static ConstValue ofInt(int64_t v) { ConstValue c; c.kind = Kind::Int; c.i = v; return c; }
  static ConstValue ofFloat(double v) { ConstValue c; c.kind = Kind::Float; c.f = v; return c; }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float; }
  double asDouble() const { return kind == Kind::Int ? static_cast<double>(i) : f; }
  std::string describe() const; // "integer 12", "string \"x\"", ...
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

/// `name = value` inside a call: `layer_norm(x, g, b, eps = 1e-5)`.
struct NamedArg {
  std::string name;
  llvm::SMLoc loc;
  ExprPtr value;
};

struct Expr {
  enum class Kind { Integer, Float, Bool, String, Name, Call, Binary, Negate, List };
  Kind kind;
  llvm::SMLoc loc;
  int64_t intValue = 0;   // Integer
  double floatValue = 0;  // Float
  bool boolValue = false; // Bool
  std::string text;       // Name, Call (callee), String (contents), Binary (operator)
  std::vector<ExprPtr> operands; // Binary (2), Negate (1), Call (positional), List (elements)
  std::vector<NamedArg> namedArgs; // Call
  std::optional<TensorType> type;  // filled by Sema for tensor-valued expressions
  std::optional<double> folded;    // filled by Sema: a number used as a scalar tensor
  std::map<std::string, ConstValue> attrs; // filled by Sema for calls: the op's attributes

  Expr(Kind kind, llvm::SMLoc loc) : kind(kind), loc(loc) {}
};

/// `f32[vocab, dim]`, or `f32` for a scalar.
struct TypeExpr {
  llvm::SMLoc loc;
  std::string dtype;
  std::vector<ExprPtr> dims;
};

struct ConstDecl {
  std::string name;
  llvm::SMLoc loc;
  ExprPtr value;
};

/// `param w: f32[d, d] = normal(0.02);`
struct ParamDecl {
  std::string name;
  llvm::SMLoc loc;
  TypeExpr type;
  ExprPtr init; // a Name (zeros, ones) or a Call (normal(...), uniform(...), constant(...))
};

struct Stmt {
  enum class Kind { Let, Assign, Return };
  Kind kind;
  llvm::SMLoc loc;
  std::string name; // Let, Assign
  llvm::SMLoc nameLoc;
  ExprPtr value;
};

struct Argument {
  std::string name;
  llvm::SMLoc loc;
  TypeExpr type;
};

/// The computational part shared by `forward` and `block`.
struct Function {
  std::vector<Argument> args;
  TypeExpr result;
  std::vector<Stmt> body;
  llvm::SMLoc closeLoc; // the closing '}', where a missing return is reported
};

/// `block layer[layers](x: ...) -> ... { params; statements }`: the body applied `count` times,
/// each repetition with its own copy of the block's parameters.
struct BlockDecl {
  std::string name;
  llvm::SMLoc loc;
  ExprPtr count;
  std::vector<ParamDecl> params;
  Function fn;
};

struct ForwardDecl {
  llvm::SMLoc loc;
  Function fn;
};

/// One `key = value;` of a train or parallel section.
struct Setting {
  std::string key;
  llvm::SMLoc loc;
  ExprPtr value;
};

struct Section {
  llvm::SMLoc loc;
  std::vector<Setting> settings;
};

struct Module {
  std::string name; // from `model NAME;`
  llvm::SMLoc nameLoc;
  bool hasModelDecl = false;
  std::vector<ConstDecl> consts;
  std::vector<ParamDecl> params;
  std::vector<BlockDecl> blocks;
  std::optional<ForwardDecl> forward;
  std::optional<Section> train;
  std::optional<Section> parallel;
};

/// Prints the tree as indented S-expressions (`ingotc --emit=ast`).
void dumpAST(const Module &module, llvm::raw_ostream &os);

} // namespace ingot::lang

#endif // INGOT_LANG_AST_H
