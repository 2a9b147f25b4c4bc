//===- IngotDialect.td - The tensor-level Ingot dialect ------*- tablegen -*-===//
//
// The `ingot` dialect: value-semantic, statically shaped tensors and the ops a
// transformer training step is made of, forward and backward.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_DIALECT_TD
#define INGOT_DIALECT_TD

include "mlir/IR/OpBase.td"

def Ingot_Dialect : Dialect {
  let name = "ingot";
  let cppNamespace = "::ingot";
  let summary = "Tensor-level ops of an Ingot training program";
  let description = [{
    The `ingot` dialect is the first form an Ingot model takes after the front
    end: value-semantic tensors with static shapes, and one op per idea a
    transformer is built from (embedding, matmul, normalization, attention,
    rope, cross entropy, elementwise arithmetic with numpy broadcasting,
    reshapes and reductions), plus the backward ops that deserve kernels of
    their own (`layer_norm_grad`, `attention_grad`, `cross_entropy_grad`, ...).

    Every value is a `RankedTensorType` with a static shape. Float tensors hold
    `f32` or `bf16` (`f64` is accepted for tests); index tensors hold `i32`;
    a scalar is a rank-0 tensor such as `tensor<f32>`.

    Parameters are symbols (`ingot.param`) read with `ingot.param_ref`. A
    stack of identical layers is an `ingot.block` holding the per-layer
    parameters and a `func.func @body`, applied `count` times by
    `ingot.repeat`; each repetition has its own copy of the block's
    parameters.

    Axis attributes accept negative values counted from the last dimension
    (`-1` is the last axis); ops with axes offer `getNormalizedAxis()` /
    `getNormalizedAxes()`.

    Two op interfaces are declared for the passes that follow
    (`IngotInterfaces.td`): `IngotVjpOpInterface` builds the ops computing an
    op's input cotangents from its output cotangents, and
    `IngotCostOpInterface` reports an op's FLOPs and bytes moved.
  }];

  let dependentDialects = ["::mlir::func::FuncDialect"];
  let hasConstantMaterializer = 1;
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Ingot_FloatTensor : StaticShapeTensorOf<[F32, BF16, F64]> {
  let summary = "statically shaped tensor of f32, bf16 or f64";
}

def Ingot_IndexTensor : StaticShapeTensorOf<[I32]> {
  let summary = "statically shaped tensor of i32";
}

def Ingot_Tensor : StaticShapeTensorOf<[F32, BF16, F64, I32]> {
  let summary = "statically shaped tensor of f32, bf16, f64 or i32";
}

def Ingot_F32Scalar : 0DTensorOf<[F32]> {
  let summary = "rank-0 tensor of f32";
}

//===----------------------------------------------------------------------===//
// Base op class
//===----------------------------------------------------------------------===//

class Ingot_Op<string mnemonic, list<Trait> traits = []>
    : Op<Ingot_Dialect, mnemonic, traits>;

#endif // INGOT_DIALECT_TD
