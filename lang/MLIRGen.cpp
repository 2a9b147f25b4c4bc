//===- MLIRGen.cpp - From the checked AST to the ingot dialect ------------===//
#include "lang/MLIRGen.h"

#include "dialects/Ingot/IngotDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/ScopedHashTable.h"
#include "llvm/ADT/StringSwitch.h"

using namespace ingot::lang;

void ingot::lang::registerFrontendDialects(mlir::MLIRContext &context) {
  context.loadDialect<ingot::IngotDialect, mlir::func::FuncDialect>();
}

namespace {

/// How a builtin becomes an op: the op's name and how each language argument name maps to an
/// op attribute ("" drops it: it only shapes the result type).
struct OpMapping {
  const char *opName;
  std::vector<std::pair<const char *, const char *>> attrs;
};

const OpMapping *mappingFor(llvm::StringRef builtin) {
  static const llvm::StringMap<OpMapping> table = {
      {"matmul", {"ingot.matmul", {{"transpose_a", "transpose_lhs"}, {"transpose_b", "transpose_rhs"}}}},
      {"embedding", {"ingot.embedding", {}}},
      {"layer_norm", {"ingot.layer_norm", {{"eps", "epsilon"}}}},
      {"rms_norm", {"ingot.rms_norm", {{"eps", "epsilon"}}}},
      {"softmax", {"ingot.softmax", {{"axis", "axis"}}}},
      {"attention", {"ingot.attention", {{"heads", "num_heads"}, {"kv_heads", "num_kv_heads"},
                                         {"causal", "causal"}, {"scale", "scale"}}}},
      {"rope", {"ingot.rope", {{"heads", "num_heads"}, {"theta", "theta"}}}},
      {"cross_entropy", {"ingot.cross_entropy", {}}},
      {"gelu", {"ingot.gelu", {{"approximate", "approximate"}}}},
      {"silu", {"ingot.silu", {}}},
      {"relu", {"ingot.relu", {}}},
      {"exp", {"ingot.exp", {}}},
      {"log", {"ingot.log", {}}},
      {"sqrt", {"ingot.sqrt", {}}},
      {"rsqrt", {"ingot.rsqrt", {}}},
      {"tanh", {"ingot.tanh", {}}},
      {"maximum", {"ingot.maximum", {}}},
      {"reshape", {"ingot.reshape", {}}},
      {"transpose", {"ingot.transpose", {{"perm", "permutation"}}}},
      {"slice", {"ingot.slice", {{"axis", "axis"}, {"start", "start"}, {"size", "size"}}}},
      {"concat", {"ingot.concat", {{"axis", "axis"}}}},
      {"sum", {"ingot.reduce_sum", {{"axes", "axes"}, {"keep_dims", "keep_dims"}}}},
      {"mean", {"ingot.reduce_mean", {{"axes", "axes"}, {"keep_dims", "keep_dims"}}}},
      {"max", {"ingot.reduce_max", {{"axes", "axes"}, {"keep_dims", "keep_dims"}}}},
      {"cast", {"ingot.cast", {}}},
  };
  auto it = table.find(builtin);
  return it == table.end() ? nullptr : &it->second;
}

class Generator {
public:
  Generator(const ModelInfo &info, Diagnostics &diags)
      : info(info), diags(diags), context(diags.getContext()), builder(&context) {}

  mlir::OwningOpRef<mlir::ModuleOp> generate(const Module &module);

private:
  mlir::Location loc(llvm::SMLoc l) { return diags.location(l); }

  mlir::Type elementType(DType dtype) {
    switch (dtype) {
    case DType::f32: return builder.getF32Type();
    case DType::bf16: return builder.getBF16Type();
    case DType::i32: return builder.getI32Type();
    }
    return {};
  }
  mlir::RankedTensorType tensorType(const TensorType &t) {
    return mlir::RankedTensorType::get(t.shape, elementType(t.dtype));
  }

  void emitParam(const ParamInfo &p);
  void emitBlock(const BlockInfo &b);
  void emitFunction(llvm::StringRef name, const Function &fn,
                    llvm::ArrayRef<TensorType> argTypes, const TensorType &result,
                    llvm::SMLoc at);
  mlir::Value emitExpr(const Expr &e);
  mlir::Value emitCall(const Expr &e);
  mlir::Value emitOp(llvm::StringRef opName, mlir::Location at, mlir::Type result,
                     mlir::ValueRange operands,
                     llvm::ArrayRef<mlir::NamedAttribute> attrs = {});
  mlir::Attribute toAttribute(const ConstValue &v);
  mlir::DictionaryAttr trainAttr();
  mlir::DictionaryAttr parallelAttr();

  const ModelInfo &info;
  Diagnostics &diags;
  mlir::MLIRContext &context;
  mlir::OpBuilder builder;
  llvm::StringMap<mlir::Value> locals;
  llvm::StringMap<mlir::RankedTensorType> params; // parameters visible in the current function
};

} // namespace

mlir::Value Generator::emitOp(llvm::StringRef opName, mlir::Location at, mlir::Type result,
                              mlir::ValueRange operands,
                              llvm::ArrayRef<mlir::NamedAttribute> attrs) {
  mlir::OperationState state(at, opName);
  state.addOperands(operands);
  state.addTypes(result);
  state.addAttributes(attrs);
  return builder.create(state)->getResult(0);
}

mlir::Attribute Generator::toAttribute(const ConstValue &v) {
  switch (v.kind) {
  case ConstValue::Kind::Int: return builder.getI64IntegerAttr(v.i);
  case ConstValue::Kind::Float: return builder.getF64FloatAttr(v.f);
  case ConstValue::Kind::Bool: return builder.getBoolAttr(v.b);
  case ConstValue::Kind::String:
  case ConstValue::Kind::Symbol: return builder.getStringAttr(v.s);
  case ConstValue::Kind::IntList: return builder.getDenseI64ArrayAttr(v.list);
  case ConstValue::Kind::Call: return builder.getStringAttr(v.s);
  }
  return {};
}

void Generator::emitParam(const ParamInfo &p) {
  mlir::OperationState state(loc(p.loc), "ingot.param");
  state.addAttribute("sym_name", builder.getStringAttr(p.name));
  state.addAttribute("type", mlir::TypeAttr::get(tensorType(p.type)));
  state.addAttribute("init", builder.getStringAttr(p.init));
  state.addAttribute("init_args", builder.getDenseF64ArrayAttr(p.initArgs));
  builder.create(state);
}

void Generator::emitBlock(const BlockInfo &b) {
  mlir::OperationState state(loc(b.loc), "ingot.block");
  state.addAttribute("sym_name", builder.getStringAttr(b.name));
  state.addAttribute("count", builder.getI64IntegerAttr(b.count));
  mlir::Region *region = state.addRegion();
  mlir::Block *body = new mlir::Block();
  region->push_back(body);
  builder.create(state);

  mlir::OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(body);
  params.clear();
  for (const ParamInfo &p : b.params) {
    emitParam(p);
    params[p.name] = tensorType(p.type);
  }
  emitFunction("body", b.decl->fn, b.argTypes, b.resultType, b.loc);
}

void Generator::emitFunction(llvm::StringRef name, const Function &fn,
                             llvm::ArrayRef<TensorType> argTypes, const TensorType &result,
                             llvm::SMLoc at) {
  llvm::SmallVector<mlir::Type> inputs;
  for (const TensorType &t : argTypes)
    inputs.push_back(tensorType(t));
  auto type = builder.getFunctionType(inputs, {tensorType(result)});
  auto func = mlir::func::FuncOp::create(builder, loc(at), name, type);
  mlir::Block *entry = func.addEntryBlock();
  mlir::OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(entry);
  locals.clear();
  for (size_t i = 0; i < fn.args.size(); ++i) {
    entry->getArgument(i).setLoc(loc(fn.args[i].loc));
    locals[fn.args[i].name] = entry->getArgument(i);
  }
  for (const Stmt &s : fn.body) {
    mlir::Value v = emitExpr(*s.value);
    if (s.kind == Stmt::Kind::Return) {
      mlir::func::ReturnOp::create(builder, loc(s.loc), v);
      break;
    }
    locals[s.name] = v; // let and rebinding alike: SSA values, the newest binding wins
  }
}

mlir::Value Generator::emitExpr(const Expr &e) {
  mlir::Location at = loc(e.loc);
  if (e.folded) {
    auto type = tensorType(*e.type);
    mlir::Attribute element = builder.getFloatAttr(type.getElementType(), *e.folded);
    auto value = mlir::DenseElementsAttr::get(type, llvm::ArrayRef(element));
    return emitOp("ingot.constant", at, type, {}, {builder.getNamedAttr("value", value)});
  }
  switch (e.kind) {
  case Expr::Kind::Name: {
    if (auto it = locals.find(e.text); it != locals.end())
      return it->second;
    auto type = params.lookup(e.text);
    return emitOp("ingot.param_ref", at, type, {},
                  {builder.getNamedAttr("name", mlir::FlatSymbolRefAttr::get(&context, e.text))});
  }
  case Expr::Kind::Negate:
    return emitOp("ingot.neg", at, tensorType(*e.type), {emitExpr(*e.operands[0])});
  case Expr::Kind::Binary: {
    mlir::Value lhs = emitExpr(*e.operands[0]);
    mlir::Value rhs = emitExpr(*e.operands[1]);
    llvm::StringRef op = llvm::StringSwitch<llvm::StringRef>(e.text)
                             .Case("+", "ingot.add")
                             .Case("-", "ingot.sub")
                             .Case("*", "ingot.mul")
                             .Default("ingot.div");
    return emitOp(op, at, tensorType(*e.type), {lhs, rhs});
  }
  case Expr::Kind::Call:
    return emitCall(e);
  default:
    llvm_unreachable("Sema accepts no other tensor expression");
  }
}

mlir::Value Generator::emitCall(const Expr &e) {
  mlir::Location at = loc(e.loc);
  mlir::Type result = tensorType(*e.type);
  llvm::SmallVector<mlir::Value> operands;
  const OpMapping *mapping = mappingFor(e.text);
  // Blocks: only the tensor operands. Builtins: positional attributes are not operands.
  size_t tensors = e.operands.size();
  if (mapping && (e.text == "reshape" || e.text == "transpose" || e.text == "cast"))
    tensors = 1;
  for (size_t i = 0; i < tensors; ++i)
    operands.push_back(emitExpr(*e.operands[i]));

  if (!mapping) { // a block: apply it `count` times
    mlir::OperationState state(at, "ingot.repeat");
    state.addOperands(operands);
    state.addTypes(result);
    state.addAttribute("block", mlir::FlatSymbolRefAttr::get(&context, e.text));
    return builder.create(state)->getResult(0);
  }
  llvm::SmallVector<mlir::NamedAttribute> attrs;
  for (auto [from, to] : mapping->attrs)
    attrs.push_back(builder.getNamedAttr(to, toAttribute(e.attrs.at(from))));
  if (e.text == "rope")
    attrs.push_back(builder.getNamedAttr("inverse", builder.getBoolAttr(false)));
  return emitOp(mapping->opName, at, result, operands, attrs);
}

mlir::DictionaryAttr Generator::trainAttr() {
  const TrainConfig &t = info.train;
  auto f = [&](double v) { return builder.getF64FloatAttr(v); };
  auto i = [&](int64_t v) { return builder.getI64IntegerAttr(v); };
  auto s = [&](llvm::StringRef v) { return builder.getStringAttr(v); };
  return builder.getDictionaryAttr({
      builder.getNamedAttr("micro_batch", i(t.microBatch)),
      builder.getNamedAttr("seq_len", i(t.seqLen)),
      builder.getNamedAttr("precision", s(toString(t.precision))),
      builder.getNamedAttr("optimizer", s(t.optimizer.kind)),
      builder.getNamedAttr("lr", f(t.optimizer.lr)),
      builder.getNamedAttr("beta1", f(t.optimizer.beta1)),
      builder.getNamedAttr("beta2", f(t.optimizer.beta2)),
      builder.getNamedAttr("eps", f(t.optimizer.eps)),
      builder.getNamedAttr("weight_decay", f(t.optimizer.weightDecay)),
      builder.getNamedAttr("clip", f(t.clip)),
      builder.getNamedAttr("lr_schedule", s(t.lrSchedule.kind)),
      builder.getNamedAttr("warmup", i(t.lrSchedule.warmup)),
      builder.getNamedAttr("lr_final", f(t.lrSchedule.finalFraction)),
      builder.getNamedAttr("recompute", s(t.recompute)),
  });
}

mlir::DictionaryAttr Generator::parallelAttr() {
  const ParallelConfig &p = info.parallel;
  auto i = [&](int64_t v) { return builder.getI64IntegerAttr(v); };
  return builder.getDictionaryAttr({
      builder.getNamedAttr("stages", i(p.stages)),
      builder.getNamedAttr("data", i(p.data)),
      builder.getNamedAttr("microbatches", i(p.microbatches)),
      builder.getNamedAttr("chunks", i(p.chunks)),
      builder.getNamedAttr("schedule", builder.getStringAttr(p.schedule)),
      builder.getNamedAttr("zero1", builder.getBoolAttr(p.zero1)),
  });
}

mlir::OwningOpRef<mlir::ModuleOp> Generator::generate(const Module &module) {
  mlir::OwningOpRef<mlir::ModuleOp> result =
      mlir::ModuleOp::create(loc(module.nameLoc), llvm::StringRef(info.name));
  mlir::ModuleOp m = *result;
  m->setAttr("ingot.train", trainAttr());
  m->setAttr("ingot.parallel", parallelAttr());
  builder.setInsertionPointToEnd(m.getBody());
  for (const ParamInfo &p : info.params)
    emitParam(p);
  for (const BlockInfo &b : info.blocks)
    emitBlock(b);
  params.clear();
  for (const ParamInfo &p : info.params)
    params[p.name] = tensorType(p.type);
  emitFunction("forward", module.forward->fn, info.forwardArgTypes, info.forwardResult,
               module.forward->loc);
  if (mlir::failed(mlir::verify(m)))
    return nullptr;
  return result;
}

mlir::OwningOpRef<mlir::ModuleOp> ingot::lang::mlirGen(const Module &module, const ModelInfo &info,
                                                       Diagnostics &diags) {
  return Generator(info, diags).generate(module);
}
