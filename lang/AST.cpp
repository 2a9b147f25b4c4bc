//===- AST.cpp - Printing the syntax tree ---------------------------------===//
#include "lang/AST.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Format.h"

using namespace ingot::lang;

llvm::StringRef ingot::lang::toString(DType dtype) {
  switch (dtype) {
  case DType::f32: return "f32";
  case DType::bf16: return "bf16";
  case DType::i32: return "i32";
  }
  return "?";
}

std::optional<DType> ingot::lang::parseDType(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Case("f32", DType::f32)
      .Case("bf16", DType::bf16)
      .Case("i32", DType::i32)
      .Default(std::nullopt);
}

std::string ingot::lang::formatNumber(double v) {
  std::string s;
  llvm::raw_string_ostream(s) << llvm::format("%g", v);
  return s;
}

std::string TensorType::str() const {
  std::string s = toString(dtype).str();
  if (shape.empty())
    return s;
  s += "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {
class Printer {
public:
  explicit Printer(llvm::raw_ostream &os) : os(os) {}

  void module(const Module &m) {
    os << "(model " << (m.hasModelDecl ? m.name : "<unnamed>") << "\n";
    for (const ConstDecl &c : m.consts) {
      line() << "(const " << c.name << " ";
      expr(*c.value);
      os << ")\n";
    }
    for (const ParamDecl &p : m.params)
      param(p);
    for (const BlockDecl &b : m.blocks) {
      line() << "(block " << b.name << " ";
      expr(*b.count);
      os << "\n";
      ++depth;
      for (const ParamDecl &p : b.params)
        param(p);
      function(b.fn);
      --depth;
      line() << ")\n";
    }
    if (m.forward) {
      line() << "(forward\n";
      ++depth;
      function(m.forward->fn);
      --depth;
      line() << ")\n";
    }
    if (m.train)
      section("train", *m.train);
    if (m.parallel)
      section("parallel", *m.parallel);
    os << ")\n";
  }

private:
  llvm::raw_ostream &line() {
    os.indent(2 * depth + 2);
    return os;
  }

  void type(const TypeExpr &t) {
    os << t.dtype;
    if (t.dims.empty())
      return;
    os << "[";
    for (size_t i = 0; i < t.dims.size(); ++i) {
      if (i)
        os << " ";
      expr(*t.dims[i]);
    }
    os << "]";
  }

  void param(const ParamDecl &p) {
    line() << "(param " << p.name << " ";
    type(p.type);
    os << " ";
    expr(*p.init);
    os << ")\n";
  }

  void function(const Function &f) {
    line() << "(args";
    for (const Argument &a : f.args) {
      os << " (" << a.name << " ";
      type(a.type);
      os << ")";
    }
    os << ") (result ";
    type(f.result);
    os << ")\n";
    for (const Stmt &s : f.body) {
      switch (s.kind) {
      case Stmt::Kind::Let: line() << "(let " << s.name << " "; break;
      case Stmt::Kind::Assign: line() << "(set " << s.name << " "; break;
      case Stmt::Kind::Return: line() << "(return "; break;
      }
      expr(*s.value);
      os << ")\n";
    }
  }

  void section(llvm::StringRef name, const Section &s) {
    line() << "(" << name << "\n";
    ++depth;
    for (const Setting &setting : s.settings) {
      line() << "(" << setting.key << " ";
      expr(*setting.value);
      os << ")\n";
    }
    --depth;
    line() << ")\n";
  }

  void expr(const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Integer: os << e.intValue; break;
    case Expr::Kind::Float: os << llvm::format("%g", e.floatValue); break;
    case Expr::Kind::Bool: os << (e.boolValue ? "true" : "false"); break;
    case Expr::Kind::String: os << '"' << e.text << '"'; break;
    case Expr::Kind::Name: os << e.text; break;
    case Expr::Kind::Negate:
      os << "(- ";
      expr(*e.operands[0]);
      os << ")";
      break;
    case Expr::Kind::Binary:
      os << "(" << e.text << " ";
      expr(*e.operands[0]);
      os << " ";
      expr(*e.operands[1]);
      os << ")";
      break;
    case Expr::Kind::List:
      os << "[";
      for (size_t i = 0; i < e.operands.size(); ++i) {
        if (i)
          os << " ";
        expr(*e.operands[i]);
      }
      os << "]";
      break;
    case Expr::Kind::Call:
      os << "(" << e.text;
      for (const ExprPtr &a : e.operands) {
        os << " ";
        expr(*a);
      }
      for (const NamedArg &a : e.namedArgs) {
        os << " :" << a.name << " ";
        expr(*a.value);
      }
      os << ")";
      break;
    }
  }

  llvm::raw_ostream &os;
  unsigned depth = 0;
};
} // namespace

void ingot::lang::dumpAST(const Module &module, llvm::raw_ostream &os) {
  Printer(os).module(module);
}
