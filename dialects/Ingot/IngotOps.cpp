//===- IngotOps.cpp - Ops of the Ingot dialect ----------------------------===//
//
// Verifiers for the rules that span several operands or attributes, and the
// custom assembly of ingot.param's initializer. Messages name what was expected
// and what was found.
//
//===----------------------------------------------------------------------===//

#include "dialects/Ingot/IngotOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <string>

using namespace mlir;
using namespace ingot;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

std::optional<llvm::SmallVector<int64_t>>
ingot::broadcastShapes(llvm::ArrayRef<int64_t> lhs,
                       llvm::ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  llvm::SmallVector<int64_t> result(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Walk both shapes from their last dimension; a missing dimension is 1.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    int64_t &out = result[rank - 1 - i];
    if (l == r || r == 1)
      out = l;
    else if (l == 1)
      out = r;
    else
      return std::nullopt;
  }
  return result;
}

namespace {

/// "[8, 1024, 768]"; "[]" for a scalar.
std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << '[';
  llvm::interleaveComma(shape, os);
  os << ']';
  return text;
}

RankedTensorType tensorType(Value value) {
  return llvm::cast<RankedTensorType>(value.getType());
}

llvm::ArrayRef<int64_t> shapeOf(Value value) {
  return tensorType(value).getShape();
}

Type elementTypeOf(Value value) { return tensorType(value).getElementType(); }

/// A double as people write it: "1", "0.02", "1e-05".
std::string doubleString(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

/// `axis` in [0, rank), or an error naming the valid range.
FailureOr<int64_t> normalizeAxis(Operation *op, llvm::StringRef name,
                                 int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return op->emitOpError()
           << name << " " << axis << " is out of range for rank " << rank
           << " (expected " << -rank << " <= " << name << " < " << rank << ")";
  return axis < 0 ? axis + rank : axis;
}

/// All `values` have the element type of the first one.
LogicalResult verifySameElementTypes(
    Operation *op, llvm::ArrayRef<std::pair<llvm::StringRef, Value>> values) {
  Type expected = elementTypeOf(values.front().second);
  for (auto [name, value] : values.drop_front()) {
    Type found = elementTypeOf(value);
    if (found != expected)
      return op->emitOpError()
             << "element types differ: " << values.front().first << " has "
             << expected << ", " << name << " has " << found;
  }
  return success();
}

/// `value` has exactly `expected` as its type.
LogicalResult verifyTypeIs(Operation *op, llvm::StringRef name, Value value,
                           Type expected, llvm::StringRef because) {
  if (value.getType() == expected)
    return success();
  return op->emitOpError() << name << " must be " << expected << " (" << because
                           << "), found " << value.getType();
}

/// `value` has shape `expected`.
LogicalResult verifyShapeIs(Operation *op, llvm::StringRef name, Value value,
                            llvm::ArrayRef<int64_t> expected,
                            llvm::StringRef because) {
  if (shapeOf(value) == expected)
    return success();
  return op->emitOpError() << name << " must have shape "
                           << shapeString(expected) << " (" << because
                           << "), found " << shapeString(shapeOf(value));
}

LogicalResult verifyPositive(Operation *op, llvm::StringRef name,
                             double value) {
  if (value > 0.0)
    return success();
  return op->emitOpError() << name << " must be > 0, found "
                           << doubleString(value);
}

/// The rules shared by layer_norm, rms_norm and their gradients: x is
/// [..., D], gamma is [D], all element types equal, epsilon > 0.
LogicalResult verifyNormOperands(Operation *op, Value x, Value gamma,
                                 double epsilon) {
  auto xShape = shapeOf(x);
  if (xShape.empty())
    return op->emitOpError() << "x must have rank >= 1, found " << x.getType();
  if (failed(verifyShapeIs(op, "gamma", gamma, {xShape.back()},
                           "the last dimension of x")))
    return failure();
  if (failed(verifySameElementTypes(op, {{"x", x}, {"gamma", gamma}})))
    return failure();
  return verifyPositive(op, "epsilon", epsilon);
}

/// The rules shared by attention and attention_grad; see AttentionOp's
/// description.
LogicalResult verifyAttentionOperands(Operation *op, Value query, Value key,
                                      Value value, int64_t numHeads,
                                      int64_t numKvHeads, bool causal,
                                      double scale) {
  for (auto [name, operand] :
       {std::pair<llvm::StringRef, Value>{"query", query},
        {"key", key},
        {"value", value}}) {
    if (shapeOf(operand).size() != 3)
      return op->emitOpError()
             << name << " must be [B, T, heads*hd] (rank 3), found "
             << operand.getType();
  }
  if (failed(verifySameElementTypes(
          op, {{"query", query}, {"key", key}, {"value", value}})))
    return failure();
  auto q = shapeOf(query), k = shapeOf(key), v = shapeOf(value);
  if (k != v)
    return op->emitOpError()
           << "key and value shapes differ: key is " << shapeString(k)
           << ", value is " << shapeString(v);
  if (q[0] != k[0])
    return op->emitOpError() << "batch dimensions differ: query has B=" << q[0]
                             << ", key has B=" << k[0];
  if (numHeads % numKvHeads != 0)
    return op->emitOpError()
           << "num_heads " << numHeads << " is not a multiple of num_kv_heads "
           << numKvHeads;
  if (q[2] % numHeads != 0)
    return op->emitOpError() << "query channels " << q[2]
                             << " are not divisible by num_heads " << numHeads;
  if (k[2] % numKvHeads != 0)
    return op->emitOpError()
           << "key channels " << k[2] << " are not divisible by num_kv_heads "
           << numKvHeads;
  int64_t queryHeadDim = q[2] / numHeads, keyHeadDim = k[2] / numKvHeads;
  if (queryHeadDim != keyHeadDim)
    return op->emitOpError()
           << "head dimensions differ: query has hd=" << queryHeadDim << " ("
           << q[2] << "/" << numHeads << "), key has hd=" << keyHeadDim << " ("
           << k[2] << "/" << numKvHeads << ")";
  if (causal && q[1] != k[1])
    return op->emitOpError()
           << "causal attention needs equal query and key lengths, found T="
           << q[1] << ", S=" << k[1];
  if (scale < 0.0)
    return op->emitOpError()
           << "scale must be >= 0 (0 means 1/sqrt(hd)), found "
           << doubleString(scale);
  return success();
}

/// The rules shared by cross_entropy and its gradient.
LogicalResult verifyCrossEntropyOperands(Operation *op, Value logits,
                                         Value targets) {
  auto logitsShape = shapeOf(logits);
  if (logitsShape.empty())
    return op->emitOpError()
           << "logits must have rank >= 1, found " << logits.getType();
  return verifyShapeIs(op, "targets", targets, logitsShape.drop_back(),
                       "the shape of logits without its last dimension");
}

LogicalResult verifyGeluApproximation(Operation *op, llvm::StringRef value) {
  if (value == "tanh" || value == "none")
    return success();
  return op->emitOpError()
         << "approximate must be \"tanh\" or \"none\", found \"" << value
         << "\"";
}

} // namespace

LogicalResult ingot::OpTrait::verifyBroadcastingElementwise(Operation *op) {
  Value lhs = op->getOperand(0), rhs = op->getOperand(1),
        result = op->getResult(0);
  if (failed(verifySameElementTypes(
          op, {{"lhs", lhs}, {"rhs", rhs}, {"result", result}})))
    return failure();
  auto expected = broadcastShapes(shapeOf(lhs), shapeOf(rhs));
  if (!expected)
    return op->emitOpError() << "operand shapes do not broadcast: lhs is "
                             << shapeString(shapeOf(lhs)) << ", rhs is "
                             << shapeString(shapeOf(rhs));
  return verifyShapeIs(op, "result", result, *expected,
                       "the broadcast of the operand shapes");
}

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

/// `normal(0.0, 0.02)`, `zeros`: the initializer's name, then its arguments in
/// parentheses if it has any.
static ParseResult parseParamInit(OpAsmParser &parser, StringAttr &init,
                                  DenseF64ArrayAttr &initArgs) {
  std::string name;
  if (parser.parseKeywordOrString(&name))
    return failure();
  init = parser.getBuilder().getStringAttr(name);
  llvm::SmallVector<double> args;
  if (succeeded(parser.parseOptionalLParen())) {
    auto parseArg = [&]() -> ParseResult {
      llvm::APFloat value(0.0);
      if (parser.parseFloat(llvm::APFloat::IEEEdouble(), value))
        return failure();
      args.push_back(value.convertToDouble());
      return success();
    };
    if (parser.parseCommaSeparatedList(parseArg) || parser.parseRParen())
      return failure();
  }
  initArgs = parser.getBuilder().getDenseF64ArrayAttr(args);
  return success();
}

static void printParamInit(OpAsmPrinter &printer, ParamOp, StringAttr init,
                           DenseF64ArrayAttr initArgs) {
  printer.printKeywordOrString(init.getValue());
  if (initArgs.empty())
    return;
  printer << '(';
  llvm::interleaveComma(initArgs.asArrayRef(), printer, [&](double value) {
    printer.printFloat(llvm::APFloat(value));
  });
  printer << ')';
}

LogicalResult ParamOp::verify() {
  llvm::StringRef init = getInit();
  auto expectedArgs = llvm::StringSwitch<std::optional<size_t>>(init)
                          .Cases({"zeros", "ones"}, 0)
                          .Cases({"normal", "uniform"}, 2)
                          .Case("constant", 1)
                          .Default(std::nullopt);
  if (!expectedArgs)
    return emitOpError() << "init must be one of zeros, ones, normal, uniform, "
                            "constant; found '"
                         << init << "'";
  llvm::ArrayRef<double> args = getInitArgs();
  if (args.size() != *expectedArgs) {
    llvm::StringRef meaning = llvm::StringSwitch<llvm::StringRef>(init)
                                  .Case("normal", " (mean, std)")
                                  .Case("uniform", " (lo, hi)")
                                  .Case("constant", " (value)")
                                  .Default("");
    return emitOpError() << "init '" << init << "' takes " << *expectedArgs
                         << " argument" << (*expectedArgs == 1 ? "" : "s")
                         << meaning << ", found " << args.size();
  }
  if (init == "normal" && !(args[1] > 0.0))
    return emitOpError() << "init 'normal' needs std > 0, found "
                         << doubleString(args[1]);
  if (init == "uniform" && !(args[0] < args[1]))
    return emitOpError() << "init 'uniform' needs lo < hi, found lo="
                         << doubleString(args[0])
                         << ", hi=" << doubleString(args[1]);
  return success();
}

//===----------------------------------------------------------------------===//
// BlockOp
//===----------------------------------------------------------------------===//

void BlockOp::build(OpBuilder &builder, OperationState &state,
                    StringAttr symName, IntegerAttr count) {
  Properties &props = state.getOrAddProperties<Properties>();
  props.sym_name = symName;
  props.count = count;
  state.addRegion()->emplaceBlock();
}

void BlockOp::build(OpBuilder &builder, OperationState &state,
                    llvm::StringRef symName, int64_t count) {
  build(builder, state, builder.getStringAttr(symName),
        builder.getI64IntegerAttr(count));
}

func::FuncOp BlockOp::getBodyFunc() {
  return llvm::dyn_cast_or_null<func::FuncOp>(
      mlir::SymbolTable::lookupSymbolIn(getOperation(), "body"));
}

LogicalResult BlockOp::verify() {
  func::FuncOp body;
  for (Operation &op : getBody()->getOperations()) {
    if (llvm::isa<ParamOp>(op))
      continue;
    auto func = llvm::dyn_cast<func::FuncOp>(op);
    if (!func)
      return emitOpError()
             << "may hold only ingot.param and func.func ops, found '"
             << op.getName() << "'";
    if (func.getSymName() != "body")
      return emitOpError() << "may hold only one function, @body; found @"
                           << func.getSymName();
    body = func;
  }
  if (!body)
    return emitOpError() << "has no func.func @body";
  if (body.isExternal())
    return emitOpError() << "func.func @body must have a body";
  return success();
}

//===----------------------------------------------------------------------===//
// ParamRefOp, RepeatOp, ConstantOp
//===----------------------------------------------------------------------===//

LogicalResult ParamRefOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto param =
      symbolTable.lookupNearestSymbolFrom<ParamOp>(*this, getNameAttr());
  if (!param)
    return emitOpError() << getNameAttr() << " does not name an ingot.param";
  if (param.getType() != getType())
    return emitOpError() << "result type " << getType()
                         << " differs from the type " << param.getType()
                         << " of param " << getNameAttr();
  return success();
}

LogicalResult RepeatOp::verify() {
  if (getInputs().size() != getResults().size())
    return emitOpError() << "has " << getInputs().size() << " inputs and "
                         << getResults().size()
                         << " results; they must match one to one";
  for (auto [index, input, result] :
       llvm::enumerate(getInputs().getTypes(), getResults().getTypes())) {
    if (input != result)
      return emitOpError() << "input #" << index << " has type " << input
                           << " but result #" << index << " has type " << result
                           << "; each repetition's output feeds the next";
  }
  return success();
}

LogicalResult RepeatOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto block =
      symbolTable.lookupNearestSymbolFrom<BlockOp>(*this, getBlockAttr());
  if (!block)
    return emitOpError() << getBlockAttr() << " does not name an ingot.block";
  func::FuncOp body = block.getBodyFunc();
  if (!body)
    return emitOpError() << "block " << getBlockAttr()
                         << " has no func.func @body";
  auto expected = FunctionType::get(getContext(), getInputs().getTypes(),
                                    getResults().getTypes());
  if (body.getFunctionType() != expected)
    return emitOpError() << "type " << expected << " differs from the type "
                         << body.getFunctionType() << " of " << getBlockAttr()
                         << "'s body";
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult GeluOp::verify() {
  return verifyGeluApproximation(*this, getApproximate());
}

LogicalResult GeluGradOp::verify() {
  return verifyGeluApproximation(*this, getApproximate());
}

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  auto lhs = shapeOf(getLhs()), rhs = shapeOf(getRhs());
  if (lhs.size() < 2)
    return emitOpError() << "lhs must have rank >= 2, found "
                         << getLhs().getType();
  if (rhs.size() < 2)
    return emitOpError() << "rhs must have rank >= 2, found "
                         << getRhs().getType();
  if (failed(verifySameElementTypes(
          *this,
          {{"lhs", getLhs()}, {"rhs", getRhs()}, {"result", getResult()}})))
    return failure();

  size_t l = lhs.size(), r = rhs.size();
  int64_t m = getTransposeLhs() ? lhs[l - 1] : lhs[l - 2];
  int64_t lhsK = getTransposeLhs() ? lhs[l - 2] : lhs[l - 1];
  int64_t rhsK = getTransposeRhs() ? rhs[r - 1] : rhs[r - 2];
  int64_t n = getTransposeRhs() ? rhs[r - 2] : rhs[r - 1];
  if (lhsK != rhsK)
    return emitOpError() << "contraction dimensions differ: lhs has K=" << lhsK
                         << ", rhs has K=" << rhsK;

  auto batch = broadcastShapes(lhs.drop_back(2), rhs.drop_back(2));
  if (!batch)
    return emitOpError() << "batch dimensions do not broadcast: lhs has "
                         << shapeString(lhs.drop_back(2)) << ", rhs has "
                         << shapeString(rhs.drop_back(2));
  llvm::SmallVector<int64_t> expected = *batch;
  expected.append({m, n});
  return verifyShapeIs(*this, "result", getResult(), expected,
                       "[...batch, M, N]");
}

LogicalResult EmbeddingOp::verify() {
  auto table = shapeOf(getTable());
  if (table.size() != 2)
    return emitOpError() << "table must be [V, D] (rank 2), found "
                         << getTable().getType();
  if (failed(verifySameElementTypes(
          *this, {{"table", getTable()}, {"result", getResult()}})))
    return failure();
  llvm::SmallVector<int64_t> expected(shapeOf(getIndices()));
  expected.push_back(table[1]);
  return verifyShapeIs(*this, "result", getResult(), expected,
                       "[...indices.shape, D]");
}

LogicalResult LayerNormOp::verify() {
  if (failed(verifyNormOperands(*this, getX(), getGamma(),
                                getEpsilon().convertToDouble())) ||
      failed(verifyTypeIs(*this, "beta", getBeta(), getGamma().getType(),
                          "the type of gamma")))
    return failure();
  return verifyTypeIs(*this, "result", getResult(), getX().getType(),
                      "the type of x");
}

LogicalResult RmsNormOp::verify() {
  if (failed(verifyNormOperands(*this, getX(), getGamma(),
                                getEpsilon().convertToDouble())))
    return failure();
  return verifyTypeIs(*this, "result", getResult(), getX().getType(),
                      "the type of x");
}

int64_t SoftmaxOp::getNormalizedAxis() {
  int64_t axis = getAxis();
  return axis < 0 ? axis + tensorType(getX()).getRank() : axis;
}

LogicalResult SoftmaxOp::verify() {
  return normalizeAxis(*this, "axis", getAxis(), tensorType(getX()).getRank());
}

int64_t AttentionOp::getHeadDim() {
  return shapeOf(getQuery())[2] / getNumHeads();
}

LogicalResult AttentionOp::verify() {
  if (failed(verifyAttentionOperands(
          *this, getQuery(), getKey(), getValue(), getNumHeads(),
          getNumKvHeads(), getCausal(), getScale().convertToDouble())))
    return failure();
  return verifyTypeIs(*this, "result", getResult(), getQuery().getType(),
                      "the type of query");
}

LogicalResult RopeOp::verify() {
  auto x = shapeOf(getX());
  if (x.size() != 3)
    return emitOpError() << "x must be [B, T, heads*hd] (rank 3), found "
                         << getX().getType();
  int64_t heads = getNumHeads();
  if (x[2] % heads != 0)
    return emitOpError() << "channels " << x[2]
                         << " are not divisible by num_heads " << heads;
  if ((x[2] / heads) % 2 != 0)
    return emitOpError() << "head dimension " << x[2] / heads << " (" << x[2]
                         << "/" << heads << ") must be even";
  return verifyPositive(*this, "theta", getTheta().convertToDouble());
}

LogicalResult CrossEntropyOp::verify() {
  return verifyCrossEntropyOperands(*this, getLogits(), getTargets());
}

LogicalResult ReshapeOp::verify() {
  if (failed(verifySameElementTypes(*this,
                                    {{"x", getX()}, {"result", getResult()}})))
    return failure();
  int64_t from = tensorType(getX()).getNumElements();
  int64_t to = tensorType(getResult()).getNumElements();
  if (from != to)
    return emitOpError() << "element counts differ: x has " << from
                         << ", result has " << to;
  return success();
}

LogicalResult TransposeOp::verify() {
  if (failed(verifySameElementTypes(*this,
                                    {{"x", getX()}, {"result", getResult()}})))
    return failure();
  auto x = shapeOf(getX());
  llvm::ArrayRef<int64_t> permutation = getPermutation();
  if (permutation.size() != x.size())
    return emitOpError() << "permutation has " << permutation.size()
                         << " entries, x has rank " << x.size();
  llvm::SmallBitVector seen(x.size());
  llvm::SmallVector<int64_t> expected;
  for (int64_t dim : permutation) {
    if (dim < 0 || dim >= static_cast<int64_t>(x.size()) || seen.test(dim))
      return emitOpError() << "permutation " << shapeString(permutation)
                           << " is not a permutation of 0.." << x.size() - 1;
    seen.set(dim);
    expected.push_back(x[dim]);
  }
  return verifyShapeIs(*this, "result", getResult(), expected,
                       "x's shape permuted");
}

int64_t SliceOp::getNormalizedAxis() {
  int64_t axis = getAxis();
  return axis < 0 ? axis + tensorType(getX()).getRank() : axis;
}

LogicalResult SliceOp::verify() {
  if (failed(verifySameElementTypes(*this,
                                    {{"x", getX()}, {"result", getResult()}})))
    return failure();
  auto x = shapeOf(getX());
  FailureOr<int64_t> axis = normalizeAxis(*this, "axis", getAxis(), x.size());
  if (failed(axis))
    return failure();
  int64_t start = getStart(), size = getSize(), dim = x[*axis];
  if (start + size > dim)
    return emitOpError() << "slice [" << start << ", " << start + size
                         << ") exceeds dimension " << *axis << " of size "
                         << dim;
  llvm::SmallVector<int64_t> expected(x);
  expected[*axis] = size;
  return verifyShapeIs(*this, "result", getResult(), expected,
                       "x's shape with the sliced dimension set to size");
}

int64_t PadOp::getNormalizedAxis() {
  int64_t axis = getAxis();
  return axis < 0 ? axis + tensorType(getX()).getRank() : axis;
}

LogicalResult PadOp::verify() {
  if (failed(verifySameElementTypes(*this,
                                    {{"x", getX()}, {"result", getResult()}})))
    return failure();
  auto x = shapeOf(getX());
  FailureOr<int64_t> axis = normalizeAxis(*this, "axis", getAxis(), x.size());
  if (failed(axis))
    return failure();
  llvm::SmallVector<int64_t> expected(x);
  expected[*axis] += getBefore() + getAfter();
  return verifyShapeIs(*this, "result", getResult(), expected,
                       "x's shape with before + after added along axis");
}

int64_t ConcatOp::getNormalizedAxis() {
  int64_t axis = getAxis();
  return axis < 0 ? axis + tensorType(getResult()).getRank() : axis;
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one input";
  Value first = getInputs().front();
  auto firstShape = shapeOf(first);
  FailureOr<int64_t> axis =
      normalizeAxis(*this, "axis", getAxis(), firstShape.size());
  if (failed(axis))
    return failure();
  llvm::SmallVector<int64_t> expected(firstShape);
  expected[*axis] = 0;
  for (auto [index, input] : llvm::enumerate(getInputs())) {
    if (failed(verifySameElementTypes(
            *this,
            {{"input #0", first}, {"input #" + std::to_string(index), input}})))
      return failure();
    auto shape = shapeOf(input);
    if (shape.size() != firstShape.size())
      return emitOpError() << "input #" << index << " has rank " << shape.size()
                           << ", input #0 has rank " << firstShape.size();
    for (auto [dim, size] : llvm::enumerate(shape)) {
      if (static_cast<int64_t>(dim) != *axis && size != firstShape[dim])
        return emitOpError()
               << "input #" << index << " has shape " << shapeString(shape)
               << ", input #0 has shape " << shapeString(firstShape)
               << "; they may differ only along axis " << *axis;
    }
    expected[*axis] += shape[*axis];
  }
  if (failed(verifySameElementTypes(
          *this, {{"input #0", first}, {"result", getResult()}})))
    return failure();
  return verifyShapeIs(*this, "result", getResult(), expected,
                       "the inputs' shape with their sizes along axis summed");
}

LogicalResult BroadcastOp::verify() {
  if (failed(verifySameElementTypes(*this,
                                    {{"x", getX()}, {"result", getResult()}})))
    return failure();
  auto x = shapeOf(getX()), result = shapeOf(getResult());
  auto broadcast = broadcastShapes(x, result);
  if (!broadcast || *broadcast != result)
    return emitOpError() << "x of shape " << shapeString(x)
                         << " does not broadcast to the result shape "
                         << shapeString(result);
  return success();
}

/// The reduce ops' shared rules: distinct axes in range, and the reduced shape.
template <typename ReduceOp> static LogicalResult verifyReduceOp(ReduceOp op) {
  if (failed(verifySameElementTypes(
          op, {{"x", op.getX()}, {"result", op.getResult()}})))
    return failure();
  auto x = shapeOf(op.getX());
  llvm::SmallBitVector reduced(x.size());
  for (int64_t axis : op.getAxes()) {
    FailureOr<int64_t> normalized = normalizeAxis(op, "axis", axis, x.size());
    if (failed(normalized))
      return failure();
    if (reduced.test(*normalized))
      return op.emitOpError() << "axes " << shapeString(op.getAxes())
                              << " name dimension " << *normalized << " twice";
    reduced.set(*normalized);
  }
  llvm::SmallVector<int64_t> expected;
  for (auto [dim, size] : llvm::enumerate(x)) {
    if (!reduced.test(dim))
      expected.push_back(size);
    else if (op.getKeepDims())
      expected.push_back(1);
  }
  return verifyShapeIs(op, "result", op.getResult(), expected,
                       op.getKeepDims()
                           ? "x's shape with the reduced axes set to 1"
                           : "x's shape without the reduced axes");
}

template <typename ReduceOp>
static llvm::SmallVector<int64_t> normalizedAxes(ReduceOp op) {
  int64_t rank = tensorType(op.getX()).getRank();
  return llvm::map_to_vector(op.getAxes(), [&](int64_t axis) {
    return axis < 0 ? axis + rank : axis;
  });
}

LogicalResult ReduceSumOp::verify() { return verifyReduceOp(*this); }
LogicalResult ReduceMeanOp::verify() { return verifyReduceOp(*this); }
LogicalResult ReduceMaxOp::verify() { return verifyReduceOp(*this); }
llvm::SmallVector<int64_t> ReduceSumOp::getNormalizedAxes() {
  return normalizedAxes(*this);
}
llvm::SmallVector<int64_t> ReduceMeanOp::getNormalizedAxes() {
  return normalizedAxes(*this);
}
llvm::SmallVector<int64_t> ReduceMaxOp::getNormalizedAxes() {
  return normalizedAxes(*this);
}

//===----------------------------------------------------------------------===//
// Backward ops
//===----------------------------------------------------------------------===//

LogicalResult LayerNormGradOp::verify() {
  Type x = getX().getType(), gamma = getGamma().getType();
  if (failed(verifyNormOperands(*this, getX(), getGamma(),
                                getEpsilon().convertToDouble())) ||
      failed(verifyTypeIs(*this, "grad_output", getGradOutput(), x,
                          "the type of x")) ||
      failed(verifyTypeIs(*this, "grad_x", getGradX(), x, "the type of x")) ||
      failed(verifyTypeIs(*this, "grad_gamma", getGradGamma(), gamma,
                          "the type of gamma")))
    return failure();
  return verifyTypeIs(*this, "grad_beta", getGradBeta(), gamma,
                      "the type of gamma");
}

LogicalResult RmsNormGradOp::verify() {
  Type x = getX().getType(), gamma = getGamma().getType();
  if (failed(verifyNormOperands(*this, getX(), getGamma(),
                                getEpsilon().convertToDouble())) ||
      failed(verifyTypeIs(*this, "grad_output", getGradOutput(), x,
                          "the type of x")) ||
      failed(verifyTypeIs(*this, "grad_x", getGradX(), x, "the type of x")))
    return failure();
  return verifyTypeIs(*this, "grad_gamma", getGradGamma(), gamma,
                      "the type of gamma");
}

int64_t SoftmaxGradOp::getNormalizedAxis() {
  int64_t axis = getAxis();
  return axis < 0 ? axis + tensorType(getOutput()).getRank() : axis;
}

LogicalResult SoftmaxGradOp::verify() {
  return normalizeAxis(*this, "axis", getAxis(),
                       tensorType(getOutput()).getRank());
}

LogicalResult AttentionGradOp::verify() {
  Type query = getQuery().getType();
  if (failed(verifyAttentionOperands(
          *this, getQuery(), getKey(), getValue(), getNumHeads(),
          getNumKvHeads(), getCausal(), getScale().convertToDouble())) ||
      failed(verifyTypeIs(*this, "output", getOutput(), query,
                          "the type of query")) ||
      failed(verifyTypeIs(*this, "grad_output", getGradOutput(), query,
                          "the type of query")) ||
      failed(verifyTypeIs(*this, "grad_query", getGradQuery(), query,
                          "the type of query")) ||
      failed(verifyTypeIs(*this, "grad_key", getGradKey(), getKey().getType(),
                          "the type of key")))
    return failure();
  return verifyTypeIs(*this, "grad_value", getGradValue(), getValue().getType(),
                      "the type of value");
}

LogicalResult CrossEntropyGradOp::verify() {
  if (failed(verifyCrossEntropyOperands(*this, getLogits(), getTargets())))
    return failure();
  return verifyTypeIs(*this, "grad_logits", getGradLogits(),
                      getLogits().getType(), "the type of logits");
}

LogicalResult EmbeddingGradOp::verify() {
  auto indices = shapeOf(getIndices()), gradOutput = shapeOf(getGradOutput());
  if (gradOutput.size() != indices.size() + 1 ||
      gradOutput.drop_back() != indices)
    return emitOpError() << "grad_output must be [...indices.shape, D] with "
                            "indices.shape = "
                         << shapeString(indices) << ", found "
                         << shapeString(gradOutput);
  if (failed(verifySameElementTypes(
          *this, {{"grad_output", getGradOutput()}, {"result", getResult()}})))
    return failure();
  int64_t vocab = getVocabSize();
  return verifyShapeIs(*this, "result", getResult(), {vocab, gradOutput.back()},
                       "[vocab_size, D]");
}

#define GET_OP_CLASSES
#include "dialects/Ingot/IngotOps.cpp.inc"
