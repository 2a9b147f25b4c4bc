//===- CollectiveOps.cpp - Ops of the collective dialect ------------------===//
//
// Verifiers: a communicator's group is well formed; each operation names a communicator, a
// reduction it knows and buffers whose sizes suit the group; each token is waited exactly once
// (so every transfer has a known end, which the memory plan and the schedule rely on).
//
//===----------------------------------------------------------------------===//
#include "dialects/Collective/CollectiveOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace ingot::collective;

#define GET_OP_CLASSES
#include "dialects/Collective/CollectiveOps.cpp.inc"

LogicalResult CommOp::verify() {
  StringRef axis = getAxis();
  if (!llvm::is_contained({"data", "pipeline", "stages", "world"}, axis))
    return emitOpError() << "axis must be \"data\", \"pipeline\", \"stages\" or \"world\", found \""
                         << axis << "\"";
  std::optional<ArrayRef<int64_t>> stages = getStages();
  if ((axis == "stages") != stages.has_value())
    return emitOpError() << (stages ? "takes `stages` only on axis \"stages\""
                                    : "on axis \"stages\" needs the list `stages`");
  if (stages) {
    if (static_cast<int64_t>(stages->size()) != getSize())
      return emitOpError() << "lists " << stages->size() << " stages but has size " << getSize();
    for (size_t i = 0; i < stages->size(); ++i) {
      if ((*stages)[i] < 0)
        return emitOpError() << "stage " << (*stages)[i] << " is negative";
      if (i > 0 && (*stages)[i] <= (*stages)[i - 1])
        return emitOpError() << "stages must be listed in increasing order, found "
                             << (*stages)[i - 1] << " before " << (*stages)[i];
    }
  }
  return success();
}

/// The communicator `comm` names, or an error on `op`.
static FailureOr<CommOp> lookupComm(Operation *op, FlatSymbolRefAttr comm,
                                    SymbolTableCollection &symbols) {
  auto found = symbols.lookupNearestSymbolFrom<CommOp>(op, comm.getAttr());
  if (!found)
    return op->emitOpError() << "names " << comm << ", which is not a collective.comm";
  return found;
}

/// Every start op: its token is waited exactly once, and a reduction it names is known.
static LogicalResult verifyStart(Operation *op) {
  Value token = op->getResult(0);
  int64_t waits = 0;
  for (OpOperand &use : token.getUses()) {
    if (!isa<WaitOp>(use.getOwner()))
      return op->emitOpError() << "token may only be used by collective.wait, found a use by '"
                               << use.getOwner()->getName() << "'";
    ++waits;
  }
  if (waits != 1)
    return op->emitOpError() << "token must be waited exactly once, found " << waits
                             << (waits == 1 ? " wait" : " waits");
  if (auto reduction = op->getAttrOfType<StringAttr>("reduction"))
    if (!llvm::is_contained({"sum", "max", "min"}, reduction.getValue()))
      return op->emitOpError() << "reduction must be sum, max or min, found \""
                               << reduction.getValue() << "\"";
  return success();
}

/// `big` has `factor` times the elements of `small`, of the same element type.
static LogicalResult verifyParts(Operation *op, MemRefType big, MemRefType small, int64_t factor,
                                 StringRef bigName, StringRef smallName) {
  if (big.getElementType() != small.getElementType())
    return op->emitOpError() << bigName << " and " << smallName
                             << " must have one element type, found " << big.getElementType()
                             << " and " << small.getElementType();
  if (big.getNumElements() != small.getNumElements() * factor)
    return op->emitOpError() << bigName << " must have " << factor << " x "
                             << small.getNumElements() << " = " << small.getNumElements() * factor
                             << " elements (the group size times " << smallName << "), found "
                             << big.getNumElements();
  return success();
}

LogicalResult AllReduceStartOp::verify() { return verifyStart(*this); }
LogicalResult ReduceScatterStartOp::verify() { return verifyStart(*this); }
LogicalResult AllGatherStartOp::verify() { return verifyStart(*this); }
LogicalResult SendStartOp::verify() { return verifyStart(*this); }
LogicalResult RecvStartOp::verify() { return verifyStart(*this); }

LogicalResult AllReduceStartOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return lookupComm(*this, getCommAttr(), symbols);
}

LogicalResult ReduceScatterStartOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<CommOp> comm = lookupComm(*this, getCommAttr(), symbols);
  if (failed(comm))
    return failure();
  return verifyParts(*this, getInput().getType(), getOutput().getType(), comm->getSize(),
                     "input", "output");
}

LogicalResult AllGatherStartOp::verifySymbolUses(SymbolTableCollection &symbols) {
  FailureOr<CommOp> comm = lookupComm(*this, getCommAttr(), symbols);
  if (failed(comm))
    return failure();
  return verifyParts(*this, getOutput().getType(), getInput().getType(), comm->getSize(),
                     "output", "input");
}

/// A peer is an index in the group.
static LogicalResult verifyPeer(Operation *op, FlatSymbolRefAttr commName, int64_t peer,
                                SymbolTableCollection &symbols) {
  FailureOr<CommOp> comm = lookupComm(op, commName, symbols);
  if (failed(comm))
    return failure();
  if (peer >= comm->getSize())
    return op->emitOpError() << "peer " << peer << " is outside " << commName << ", which has "
                             << comm->getSize() << (comm->getSize() == 1 ? " rank" : " ranks");
  return success();
}

LogicalResult SendStartOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyPeer(*this, getCommAttr(), getPeer(), symbols);
}

LogicalResult RecvStartOp::verifySymbolUses(SymbolTableCollection &symbols) {
  return verifyPeer(*this, getCommAttr(), getPeer(), symbols);
}

LogicalResult WaitOp::verify() {
  if (getTokens().empty())
    return emitOpError() << "needs at least one token";
  for (Value token : getTokens())
    if (Operation *def = token.getDefiningOp(); def && def->getBlock() == (*this)->getBlock() &&
                                                !def->isBeforeInBlock(*this))
      return emitOpError() << "waits for a collective that starts after it";
  return success();
}
