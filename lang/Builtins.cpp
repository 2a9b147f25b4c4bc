//===- Builtins.cpp - The tensor operations a model can call --------------===//
#include "lang/Builtins.h"
#include "lang/Sema.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

#include <numeric>

using namespace ingot::lang;

static ConstValue boolValue(bool v) {
  ConstValue c;
  c.kind = ConstValue::Kind::Bool;
  c.b = v;
  return c;
}
static ConstValue stringValue(const char *v) {
  ConstValue c;
  c.kind = ConstValue::Kind::String;
  c.s = v;
  return c;
}
static const ConstValue kNone;

static AttrSpec required(const char *name, AttrKind kind) { return {name, kind, true, kNone}; }
static AttrSpec optional(const char *name, AttrKind kind, ConstValue def) {
  return {name, kind, false, std::move(def)};
}

static const std::vector<BuiltinSpec> &builtins() {
  static const std::vector<BuiltinSpec> table = {
      {"matmul", 2, 2, {}, {optional("transpose_a", AttrKind::Bool, boolValue(false)),
                            optional("transpose_b", AttrKind::Bool, boolValue(false))}},
      {"embedding", 2, 2, {}, {}},
      {"layer_norm", 3, 3, {}, {optional("eps", AttrKind::Float, ConstValue::ofFloat(1e-5))}},
      {"rms_norm", 2, 2, {}, {optional("eps", AttrKind::Float, ConstValue::ofFloat(1e-6))}},
      {"softmax", 1, 1, {}, {optional("axis", AttrKind::Int, ConstValue::ofInt(-1))}},
      {"attention", 3, 3, {},
       {required("heads", AttrKind::Int), optional("kv_heads", AttrKind::Int, ConstValue::ofInt(0)),
        optional("causal", AttrKind::Bool, boolValue(true)),
        optional("scale", AttrKind::Float, ConstValue::ofFloat(0.0))}},
      {"rope", 1, 1, {},
       {required("heads", AttrKind::Int),
        optional("theta", AttrKind::Float, ConstValue::ofFloat(10000.0))}},
      {"cross_entropy", 2, 2, {}, {}},
      {"gelu", 1, 1, {}, {optional("approximate", AttrKind::String, stringValue("tanh"))}},
      {"silu", 1, 1, {}, {}},
      {"relu", 1, 1, {}, {}},
      {"exp", 1, 1, {}, {}},
      {"log", 1, 1, {}, {}},
      {"sqrt", 1, 1, {}, {}},
      {"rsqrt", 1, 1, {}, {}},
      {"tanh", 1, 1, {}, {}},
      {"maximum", 2, 2, {}, {}},
      {"reshape", 1, 1, {"shape"}, {required("shape", AttrKind::IntList)}},
      {"transpose", 1, 1, {"perm"}, {required("perm", AttrKind::IntList)}},
      {"slice", 1, 1, {},
       {required("axis", AttrKind::Int), required("start", AttrKind::Int),
        required("size", AttrKind::Int)}},
      {"concat", 1, -1, {}, {required("axis", AttrKind::Int)}},
      {"sum", 1, 1, {}, {required("axes", AttrKind::IntList),
                         optional("keep_dims", AttrKind::Bool, boolValue(false))}},
      {"mean", 1, 1, {}, {required("axes", AttrKind::IntList),
                          optional("keep_dims", AttrKind::Bool, boolValue(false))}},
      {"max", 1, 1, {}, {required("axes", AttrKind::IntList),
                         optional("keep_dims", AttrKind::Bool, boolValue(false))}},
      {"cast", 1, 1, {"dtype"}, {required("dtype", AttrKind::DType)}},
  };
  return table;
}

const BuiltinSpec *ingot::lang::lookupBuiltin(llvm::StringRef name) {
  for (const BuiltinSpec &spec : builtins())
    if (name == spec.name)
      return &spec;
  return nullptr;
}

llvm::StringRef ingot::lang::describe(AttrKind kind) {
  switch (kind) {
  case AttrKind::Int: return "an integer";
  case AttrKind::Float: return "a number";
  case AttrKind::Bool: return "true or false";
  case AttrKind::String: return "a string";
  case AttrKind::IntList: return "a list of integers";
  case AttrKind::DType: return "an element type (f32, bf16, i32)";
  }
  return "a value";
}

namespace {
/// Shape checks for one call, with helpers that report at the call's location.
class Rules {
public:
  Rules(Expr &call, llvm::ArrayRef<TensorType> args, Diagnostics &diags)
      : call(call), args(args), diags(diags) {}

  std::optional<TensorType> infer(llvm::StringRef name);

private:
  mlir::InFlightDiagnostic error() { return diags.error(call.loc); }
  mlir::InFlightDiagnostic errorAt(size_t arg) { return diags.error(call.operands[arg]->loc); }
  int64_t attrInt(const char *name) { return call.attrs[name].i; }

  bool isFloat(size_t arg) { return args[arg].dtype != DType::i32; }
  bool requireFloat(size_t arg) {
    if (isFloat(arg))
      return true;
    errorAt(arg) << "'" << call.text << "' needs a floating-point tensor, found "
                 << args[arg].str();
    return false;
  }
  bool requireRankAtLeast(size_t arg, size_t rank) {
    if (args[arg].shape.size() >= rank)
      return true;
    errorAt(arg) << "'" << call.text << "' needs a tensor of rank " << rank
                 << " or more, found " << args[arg].str();
    return false;
  }
  bool requireSameDType(size_t a, size_t b) {
    if (args[a].dtype == args[b].dtype)
      return true;
    error() << "'" << call.text << "' mixes element types " << toString(args[a].dtype) << " and "
            << toString(args[b].dtype) << " (use cast)";
    return false;
  }
  /// Normalizes attribute `name` (an axis) against `rank`; false after an error.
  bool normalizeAxis(const char *name, int64_t rank) {
    int64_t &axis = call.attrs[name].i;
    if (axis < -rank || axis >= rank) {
      error() << "axis " << axis << " is out of range for a tensor of rank " << rank;
      return false;
    }
    if (axis < 0)
      axis += rank;
    return true;
  }
  /// `name` must be a positive divisor of `width` (heads of a channel dimension).
  bool requireHeads(const char *name, int64_t heads, int64_t width, size_t arg) {
    if (heads <= 0) {
      error() << "'" << name << "' must be positive, found " << heads;
      return false;
    }
    if (width % heads != 0) {
      errorAt(arg) << "channel dimension " << width << " of " << args[arg].str()
                   << " is not divisible by " << name << " = " << heads;
      return false;
    }
    return true;
  }

  std::optional<TensorType> elementwiseBinary();
  std::optional<TensorType> matmul();
  std::optional<TensorType> embedding();
  std::optional<TensorType> norm(bool hasBias);
  std::optional<TensorType> attention();
  std::optional<TensorType> rope();
  std::optional<TensorType> crossEntropy();
  std::optional<TensorType> reshape();
  std::optional<TensorType> transpose();
  std::optional<TensorType> slice();
  std::optional<TensorType> concat();
  std::optional<TensorType> reduce();
  std::optional<TensorType> cast();

  Expr &call;
  llvm::ArrayRef<TensorType> args;
  Diagnostics &diags;
};
} // namespace

std::optional<TensorType> Rules::infer(llvm::StringRef name) {
  if (name == "matmul") return matmul();
  if (name == "embedding") return embedding();
  if (name == "layer_norm") return norm(/*hasBias=*/true);
  if (name == "rms_norm") return norm(/*hasBias=*/false);
  if (name == "attention") return attention();
  if (name == "rope") return rope();
  if (name == "cross_entropy") return crossEntropy();
  if (name == "maximum") return elementwiseBinary();
  if (name == "reshape") return reshape();
  if (name == "transpose") return transpose();
  if (name == "slice") return slice();
  if (name == "concat") return concat();
  if (name == "sum" || name == "mean" || name == "max") return reduce();
  if (name == "cast") return cast();
  if (name == "softmax") {
    if (!requireFloat(0) || !requireRankAtLeast(0, 1) ||
        !normalizeAxis("axis", args[0].shape.size()))
      return std::nullopt;
    return args[0];
  }
  if (name == "gelu") {
    llvm::StringRef approx = call.attrs["approximate"].s;
    if (approx != "tanh" && approx != "none") {
      error() << "'approximate' of 'gelu' must be \"tanh\" or \"none\", found \"" << approx
              << "\"";
      return std::nullopt;
    }
  }
  // Unary elementwise: gelu, silu, relu, exp, log, sqrt, rsqrt, tanh.
  if (!requireFloat(0))
    return std::nullopt;
  return args[0];
}

std::optional<TensorType> Rules::elementwiseBinary() {
  if (!requireFloat(0) || !requireFloat(1) || !requireSameDType(0, 1))
    return std::nullopt;
  auto shape = broadcastShapes(args[0].shape, args[1].shape);
  if (!shape) {
    error() << "shapes " << args[0].str() << " and " << args[1].str() << " do not broadcast";
    return std::nullopt;
  }
  return TensorType{args[0].dtype, *shape};
}

std::optional<TensorType> Rules::matmul() {
  if (!requireFloat(0) || !requireFloat(1) || !requireSameDType(0, 1) ||
      !requireRankAtLeast(0, 2) || !requireRankAtLeast(1, 2))
    return std::nullopt;
  llvm::ArrayRef<int64_t> a = args[0].shape, b = args[1].shape;
  bool ta = call.attrs["transpose_a"].b, tb = call.attrs["transpose_b"].b;
  int64_t m = a[a.size() - (ta ? 1 : 2)], ka = a[a.size() - (ta ? 2 : 1)];
  int64_t kb = b[b.size() - (tb ? 1 : 2)], n = b[b.size() - (tb ? 2 : 1)];
  if (ka != kb) {
    error() << "matmul contraction dimensions differ: " << args[0].str()
            << (ta ? " (transposed)" : "") << " has K = " << ka << ", " << args[1].str()
            << (tb ? " (transposed)" : "") << " has K = " << kb;
    return std::nullopt;
  }
  auto batch = broadcastShapes(a.drop_back(2), b.drop_back(2));
  if (!batch) {
    error() << "matmul batch dimensions of " << args[0].str() << " and " << args[1].str()
            << " do not broadcast";
    return std::nullopt;
  }
  TensorType result{args[0].dtype, *batch};
  result.shape.push_back(m);
  result.shape.push_back(n);
  return result;
}

std::optional<TensorType> Rules::embedding() {
  if (!requireFloat(0))
    return std::nullopt;
  if (args[0].shape.size() != 2) {
    errorAt(0) << "the embedding table must be a matrix [vocab, dim], found " << args[0].str();
    return std::nullopt;
  }
  if (args[1].dtype != DType::i32) {
    errorAt(1) << "embedding indices must be i32, found " << args[1].str();
    return std::nullopt;
  }
  TensorType result{args[0].dtype, args[1].shape};
  result.shape.push_back(args[0].shape[1]);
  return result;
}

std::optional<TensorType> Rules::norm(bool hasBias) {
  if (!requireFloat(0) || !requireRankAtLeast(0, 1))
    return std::nullopt;
  int64_t width = args[0].shape.back();
  for (size_t i = 1; i < args.size(); ++i) {
    if (!requireFloat(i) || !requireSameDType(0, i))
      return std::nullopt;
    if (args[i].shape.size() != 1 || args[i].shape[0] != width) {
      errorAt(i) << "'" << call.text << "' needs a " << (i == 1 ? "scale" : "bias") << " of shape ["
                 << width << "] to match " << args[0].str() << ", found " << args[i].str();
      return std::nullopt;
    }
  }
  (void)hasBias;
  if (call.attrs["eps"].f <= 0) {
    error() << "'eps' must be positive, found " << formatNumber(call.attrs["eps"].f);
    return std::nullopt;
  }
  return args[0];
}

std::optional<TensorType> Rules::attention() {
  for (size_t i = 0; i < 3; ++i) {
    if (!requireFloat(i) || !requireSameDType(0, i))
      return std::nullopt;
    if (args[i].shape.size() != 3) {
      errorAt(i) << "attention takes [batch, seq, heads * head_dim] tensors, found "
                 << args[i].str();
      return std::nullopt;
    }
  }
  int64_t heads = attrInt("heads");
  int64_t &kvHeads = call.attrs["kv_heads"].i;
  if (kvHeads == 0)
    kvHeads = heads;
  if (!requireHeads("heads", heads, args[0].shape[2], 0) ||
      !requireHeads("kv_heads", kvHeads, args[1].shape[2], 1))
    return std::nullopt;
  if (heads % kvHeads != 0) {
    error() << "heads = " << heads << " is not a multiple of kv_heads = " << kvHeads;
    return std::nullopt;
  }
  if (args[0].shape[2] / heads != args[1].shape[2] / kvHeads) {
    error() << "query head dim " << args[0].shape[2] / heads << " differs from key head dim "
            << args[1].shape[2] / kvHeads;
    return std::nullopt;
  }
  if (args[1].shape != args[2].shape) {
    errorAt(2) << "keys " << args[1].str() << " and values " << args[2].str()
               << " must have the same shape";
    return std::nullopt;
  }
  if (args[0].shape[0] != args[1].shape[0] ||
      (call.attrs["causal"].b && args[0].shape[1] != args[1].shape[1])) {
    error() << "queries " << args[0].str() << " and keys " << args[1].str()
            << " differ in batch or (causal) sequence length";
    return std::nullopt;
  }
  if (call.attrs["scale"].f < 0) {
    error() << "'scale' must not be negative (0 means 1/sqrt(head_dim))";
    return std::nullopt;
  }
  return args[0];
}

std::optional<TensorType> Rules::rope() {
  if (!requireFloat(0))
    return std::nullopt;
  if (args[0].shape.size() != 3) {
    errorAt(0) << "rope takes a [batch, seq, heads * head_dim] tensor, found " << args[0].str();
    return std::nullopt;
  }
  int64_t heads = attrInt("heads");
  if (!requireHeads("heads", heads, args[0].shape[2], 0))
    return std::nullopt;
  if ((args[0].shape[2] / heads) % 2 != 0) {
    errorAt(0) << "rope needs an even head dim, found " << args[0].shape[2] / heads;
    return std::nullopt;
  }
  if (call.attrs["theta"].f <= 0) {
    error() << "'theta' must be positive";
    return std::nullopt;
  }
  return args[0];
}

std::optional<TensorType> Rules::crossEntropy() {
  if (!requireFloat(0) || !requireRankAtLeast(0, 1))
    return std::nullopt;
  if (args[1].dtype != DType::i32) {
    errorAt(1) << "cross_entropy targets must be i32, found " << args[1].str();
    return std::nullopt;
  }
  if (llvm::ArrayRef<int64_t>(args[0].shape).drop_back() != llvm::ArrayRef(args[1].shape)) {
    error() << "cross_entropy targets " << args[1].str() << " must have the shape of the logits "
            << args[0].str() << " without the last (class) dimension";
    return std::nullopt;
  }
  return TensorType{DType::f32, {}};
}

std::optional<TensorType> Rules::reshape() {
  const std::vector<int64_t> &shape = call.attrs["shape"].list;
  for (int64_t d : shape)
    if (d <= 0) {
      error() << "reshape dimensions must be positive, found " << d;
      return std::nullopt;
    }
  TensorType result{args[0].dtype, llvm::SmallVector<int64_t, 4>(shape.begin(), shape.end())};
  // Both counts are checked products: a wrapped product could match the input's by accident.
  std::optional<int64_t> from = elementCount(args[0].shape), to = elementCount(shape);
  if (!to) {
    error() << "cannot reshape " << args[0].str() << " to " << result.str()
            << ": it has more than 2^48 elements";
    return std::nullopt;
  }
  if (from != to) {
    error() << "cannot reshape " << args[0].str() << " (" << from.value_or(0) << " elements) to "
            << result.str() << " (" << *to << " elements)";
    return std::nullopt;
  }
  return result;
}

std::optional<TensorType> Rules::transpose() {
  std::vector<int64_t> &perm = call.attrs["perm"].list;
  size_t rank = args[0].shape.size();
  llvm::SmallSet<int64_t, 8> seen;
  bool ok = perm.size() == rank;
  for (int64_t &p : perm) {
    if (p < 0)
      p += rank;
    ok = ok && p >= 0 && p < static_cast<int64_t>(rank) && seen.insert(p).second;
  }
  if (!ok) {
    error() << "transpose needs a permutation of the " << rank << " axes of " << args[0].str();
    return std::nullopt;
  }
  TensorType result{args[0].dtype, {}};
  for (int64_t p : perm)
    result.shape.push_back(args[0].shape[p]);
  return result;
}

std::optional<TensorType> Rules::slice() {
  if (!requireRankAtLeast(0, 1) || !normalizeAxis("axis", args[0].shape.size()))
    return std::nullopt;
  int64_t axis = attrInt("axis"), start = attrInt("start"), size = attrInt("size");
  int64_t dim = args[0].shape[axis];
  if (start < 0 || size <= 0 || start > dim || size > dim - start) {
    error() << "slice [" << start << ", " << start << " + " << size << ") is outside axis "
            << axis << " of " << args[0].str();
    return std::nullopt;
  }
  TensorType result = args[0];
  result.shape[axis] = size;
  return result;
}

std::optional<TensorType> Rules::concat() {
  if (!requireRankAtLeast(0, 1) || !normalizeAxis("axis", args[0].shape.size()))
    return std::nullopt;
  int64_t axis = attrInt("axis");
  TensorType result = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    bool same = args[i].dtype == args[0].dtype && args[i].shape.size() == args[0].shape.size();
    for (size_t d = 0; same && d < args[0].shape.size(); ++d)
      same = static_cast<int64_t>(d) == axis || args[i].shape[d] == args[0].shape[d];
    if (!same) {
      errorAt(i) << "concat along axis " << axis << " needs tensors that agree elsewhere: "
                 << args[0].str() << " and " << args[i].str();
      return std::nullopt;
    }
    if (__builtin_add_overflow(result.shape[axis], args[i].shape[axis], &result.shape[axis])) {
      error() << "concat along axis " << axis << " has more than 2^48 elements";
      return std::nullopt;
    }
  }
  return result;
}

std::optional<TensorType> Rules::reduce() {
  if (!requireFloat(0))
    return std::nullopt;
  std::vector<int64_t> &axes = call.attrs["axes"].list;
  int64_t rank = args[0].shape.size();
  llvm::SmallSet<int64_t, 8> seen;
  for (int64_t &a : axes) {
    if (a < -rank || a >= rank) {
      error() << "axis " << a << " is out of range for " << args[0].str();
      return std::nullopt;
    }
    if (a < 0)
      a += rank;
    if (!seen.insert(a).second) {
      error() << "axis " << a << " is listed twice";
      return std::nullopt;
    }
  }
  llvm::sort(axes);
  bool keep = call.attrs["keep_dims"].b;
  TensorType result{args[0].dtype, {}};
  for (int64_t d = 0; d < rank; ++d) {
    if (!seen.count(d))
      result.shape.push_back(args[0].shape[d]);
    else if (keep)
      result.shape.push_back(1);
  }
  return result;
}

std::optional<TensorType> Rules::cast() {
  auto dtype = parseDType(call.attrs["dtype"].s);
  TensorType result = args[0];
  result.dtype = *dtype; // the attribute kind check guarantees a valid name
  if ((result.dtype == DType::i32) != (args[0].dtype == DType::i32)) {
    error() << "cast converts between floating-point types only, found " << args[0].str()
            << " to " << toString(result.dtype);
    return std::nullopt;
  }
  return result;
}

std::optional<TensorType> ingot::lang::inferBuiltin(const BuiltinSpec &spec, Expr &call,
                                                    llvm::ArrayRef<TensorType> args,
                                                    Diagnostics &diags) {
  std::optional<TensorType> result = Rules(call, args, diags).infer(spec.name);
  // Every inferred type obeys the limit that declared types do (matmul, concat, embedding, ...).
  if (result && !elementCount(result->shape)) {
    diags.error(call.loc) << "the result of '" << spec.name << "', " << result->str()
                          << ", has more than 2^48 elements";
    return std::nullopt;
  }
  return result;
}
