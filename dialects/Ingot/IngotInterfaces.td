//===- IngotInterfaces.td - Op interfaces of the Ingot dialect -*- tablegen -*-===//
//
// Declared here, implemented by the ops once autodiff and the cost model land.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_INTERFACES_TD
#define INGOT_INTERFACES_TD

include "mlir/IR/OpBase.td"

def IngotVjpOpInterface : OpInterface<"IngotVjpOpInterface"> {
  let cppNamespace = "::ingot";
  let description = [{
    Reverse-mode differentiation of one op: given the cotangents of the op's
    results, build (at the builder's insertion point) the ops that compute the
    cotangents of its operands.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the vector-Jacobian product of this op. `outputCotangents` has
        one value per result, each of that result's type. Returns one value per
        operand, of that operand's type; a null `mlir::Value` marks an operand
        that has no gradient (an `i32` index tensor, for instance).
      }],
      "::llvm::SmallVector<::mlir::Value>", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ValueRange":$outputCotangents)>,
  ];
}

def IngotCostOpInterface : OpInterface<"IngotCostOpInterface"> {
  let cppNamespace = "::ingot";
  let description = [{
    A first-order cost model of one op, used by partitioning and scheduling:
    how much arithmetic it does and how much memory it touches.
  }];
  let methods = [
    InterfaceMethod<[{
        Floating-point operations this op performs (a fused multiply-add
        counts as two).
      }],
      "uint64_t", "getFlops">,
    InterfaceMethod<[{
        Bytes this op reads and writes in device memory, assuming each operand
        is read once and each result written once.
      }],
      "uint64_t", "getBytesMoved">,
  ];
}

#endif // INGOT_INTERFACES_TD
