//===- IngotOps.td - Ops of the Ingot dialect ----------------*- tablegen -*-===//
//
// Every op: a one-line summary and a description with an example. Type rules
// that a constraint can say live here; rules across several operands are
// checked by the verifiers in IngotOps.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_OPS_TD
#define INGOT_OPS_TD

include "dialects/Ingot/IngotDialect.td"
include "dialects/Ingot/IngotInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Binary elementwise ops whose result shape is the numpy broadcast of the
// operand shapes, all element types equal (ingot::OpTrait::BroadcastingElementwise).
def Ingot_BroadcastingElementwise : NativeOpTrait<"BroadcastingElementwise"> {
  let cppNamespace = "::ingot::OpTrait";
}

// An i64 attribute read and built as int64_t (upstream's I64Attr uses
// uint64_t), so that axes may be negative.
def Ingot_I64Attr : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                                 "64-bit signless integer attribute">;
def Ingot_PositiveI64Attr : ConfinedAttr<Ingot_I64Attr, [IntMinValue<1>]>;
def Ingot_NonNegativeI64Attr : ConfinedAttr<Ingot_I64Attr, [IntNonNegative]>;

//===----------------------------------------------------------------------===//
// Structure: parameters, blocks, repetition, constants
//===----------------------------------------------------------------------===//

def Ingot_ParamOp : Ingot_Op<"param", [Symbol]> {
  let summary = "A trainable parameter and its initializer";
  let description = [{
    Declares a trainable tensor named by `sym_name`, of static float type
    `type`, initialized by `init` with `init_args`:

    | `init`     | `init_args`   |
    |------------|---------------|
    | `zeros`    | none          |
    | `ones`     | none          |
    | `normal`   | mean, std > 0 |
    | `uniform`  | lo < hi       |
    | `constant` | value         |

    A param at module level exists once; a param inside an `ingot.block`
    exists once per repetition of that block. It is read with
    `ingot.param_ref`.

    ```mlir
    ingot.param @wte : tensor<50304x768xf32> init normal(0.000000e+00, 2.000000e-02)
    ingot.param @ln_f_bias : tensor<768xf32> init zeros
    ```
  }];

  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<Ingot_FloatTensor>:$type,
                       StrAttr:$init,
                       DenseF64ArrayAttr:$init_args);
  let assemblyFormat = [{
    $sym_name `:` $type `init` custom<ParamInit>($init, $init_args) attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The parameter's tensor type.
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
  }];
}

def Ingot_BlockOp : Ingot_Op<"block", [
    Symbol, SymbolTable, SingleBlock, NoTerminator, NoRegionArguments,
    IsolatedFromAbove]> {
  let summary = "A layer applied several times, with its own parameters";
  let description = [{
    Holds the parameters of one layer (`ingot.param`) and exactly one
    `func.func @body` computing the layer; nothing else. `ingot.repeat`
    applies the body `count` times in sequence, each repetition with its own
    copy of the block's parameters. A `ingot.param_ref` inside the body
    resolves to the block's parameters.

    ```mlir
    ingot.block @layer count 12 {
      ingot.param @w : tensor<768x768xf32> init normal(0.000000e+00, 2.000000e-02)
      func.func @body(%x: tensor<8x1024x768xf32>) -> tensor<8x1024x768xf32> {
        %w = ingot.param_ref @w : tensor<768x768xf32>
        %y = ingot.matmul %x, %w : tensor<8x1024x768xf32>, tensor<768x768xf32> -> tensor<8x1024x768xf32>
        return %y : tensor<8x1024x768xf32>
      }
    }
    ```
  }];

  let arguments = (ins SymbolNameAttr:$sym_name, Ingot_PositiveI64Attr:$count);
  let regions = (region SizedRegion<1>:$bodyRegion);
  let assemblyFormat = "$sym_name `count` $count attr-dict-with-keyword $bodyRegion";
  let hasVerifier = 1;

  // The builders create the region's single block, ready to be filled.
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "::mlir::StringAttr":$sym_name, "::mlir::IntegerAttr":$count)>,
    OpBuilder<(ins "::llvm::StringRef":$sym_name, "int64_t":$count)>,
  ];
  let extraClassDeclaration = [{
    /// The block's `func.func @body`, or null if there is none.
    ::mlir::func::FuncOp getBodyFunc();
  }];
}

def Ingot_ParamRefOp : Ingot_Op<"param_ref", [
    Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Reads the current value of a parameter";
  let description = [{
    Yields the value of the `ingot.param` named `name`, looked up in the
    nearest enclosing symbol table (the module, or the `ingot.block` whose
    body uses it). The result type must equal the parameter's type.

    ```mlir
    %wte = ingot.param_ref @wte : tensor<50304x768xf32>
    ```
  }];

  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

def Ingot_RepeatOp : Ingot_Op<"repeat", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Applies a block's body `count` times in sequence";
  let description = [{
    Feeds `inputs` through the body of the `ingot.block` named `block`,
    `count` times, each output becoming the next input; the results are the
    outputs of the last repetition. The body's type must be
    `(inputs) -> (results)` and the inputs' types must equal the results'.

    ```mlir
    %h = ingot.repeat @layer(%x) : (tensor<8x1024x768xf32>) -> tensor<8x1024x768xf32>
    ```
  }];

  let arguments = (ins FlatSymbolRefAttr:$block, Variadic<Ingot_Tensor>:$inputs);
  let results = (outs Variadic<Ingot_Tensor>:$results);
  let assemblyFormat = [{
    $block `(` $inputs `)` attr-dict `:` functional-type($inputs, $results)
  }];
  let hasVerifier = 1;
}

def Ingot_ConstantOp : Ingot_Op<"constant", [
    ConstantLike, Pure, AllTypesMatch<["value", "result"]>]> {
  let summary = "A constant tensor";
  let description = [{
    A tensor whose elements are given by `value` (float or `i32` elements);
    the result type is the type of `value`.

    ```mlir
    %half = ingot.constant dense<5.000000e-01> : tensor<f32>
    %pos = ingot.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
    ```
  }];

  let arguments = (ins ElementsAttr:$value);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class Ingot_BinaryOp<string mnemonic, string what, list<Trait> traits = []>
    : Ingot_Op<mnemonic, !listconcat(traits, [Pure, Ingot_BroadcastingElementwise])> {
  let summary = "Elementwise " # what # " with numpy broadcasting";
  let description = [{
    Elementwise }] # what # [{ of `lhs` and `rhs`. The operand shapes
    broadcast by numpy rules (aligned from the last dimension, a dimension of
    1 stretches) to the result shape; all element types are equal.

    ```mlir
    %y = ingot.}] # mnemonic # [{ %a, %b : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$lhs, Ingot_FloatTensor:$rhs);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
}

def Ingot_AddOp : Ingot_BinaryOp<"add", "sum", [Commutative]>;
def Ingot_SubOp : Ingot_BinaryOp<"sub", "difference">;
def Ingot_MulOp : Ingot_BinaryOp<"mul", "product", [Commutative]>;
def Ingot_DivOp : Ingot_BinaryOp<"div", "quotient">;
def Ingot_MaximumOp : Ingot_BinaryOp<"maximum", "maximum", [Commutative]>;

class Ingot_UnaryOp<string mnemonic, string what, list<Trait> traits = []>
    : Ingot_Op<mnemonic, !listconcat(traits, [Pure, SameOperandsAndResultType])> {
  let summary = "Elementwise " # what;
  let description = [{
    Elementwise }] # what # [{ of `x`; the result has the type of `x`.

    ```mlir
    %y = ingot.}] # mnemonic # [{ %x : tensor<4x8xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
}

def Ingot_NegOp : Ingot_UnaryOp<"neg", "negation">;
def Ingot_ExpOp : Ingot_UnaryOp<"exp", "exponential">;
def Ingot_LogOp : Ingot_UnaryOp<"log", "natural logarithm">;
def Ingot_SqrtOp : Ingot_UnaryOp<"sqrt", "square root">;
def Ingot_RsqrtOp : Ingot_UnaryOp<"rsqrt", "reciprocal square root">;
def Ingot_TanhOp : Ingot_UnaryOp<"tanh", "hyperbolic tangent">;
def Ingot_ReluOp : Ingot_UnaryOp<"relu", "rectified linear unit, max(x, 0)">;
def Ingot_SiluOp : Ingot_UnaryOp<"silu", "SiLU (swish), x * sigmoid(x)">;

// `approximate`: "tanh" (GPT-2's tanh approximation) or "none" (exact, erf).
def Ingot_GeluApproximationAttr : DefaultValuedAttr<StrAttr, "\"tanh\"">;

def Ingot_GeluOp : Ingot_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "Elementwise GELU";
  let description = [{
    Gaussian error linear unit of `x`: `x * Phi(x)`, computed exactly with erf
    when `approximate` is `"none"`, or with GPT-2's tanh approximation when
    it is `"tanh"` (the default).

    ```mlir
    %y = ingot.gelu %x : tensor<8x1024x3072xf32>
    %z = ingot.gelu %x {approximate = "none"} : tensor<8x1024x3072xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_GeluApproximationAttr:$approximate);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
  let hasVerifier = 1;
}

def Ingot_CastOp : Ingot_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "Converts a float tensor to another float element type";
  let description = [{
    Rounds each element of `x` to the result's element type (round to nearest
    even); the shape is unchanged.

    ```mlir
    %y = ingot.cast %x : tensor<4xf32> to tensor<4xbf16>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `to` type($result)";
}

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

def Ingot_MatmulOp : Ingot_Op<"matmul", [Pure]> {
  let summary = "Batched matrix product";
  let description = [{
    Multiplies the last two dimensions of `lhs` ([..., M, K], or [..., K, M]
    with `transpose_lhs`) by those of `rhs` ([..., K, N], or [..., N, K] with
    `transpose_rhs`). The leading batch dimensions broadcast by numpy rules,
    so a rank-2 `rhs` (a weight) applies to every batch of `lhs`. The result
    is [...batch, M, N]; element types are all equal.

    ```mlir
    %y = ingot.matmul %x, %w : tensor<8x1024x768xf32>, tensor<768x3072xf32> -> tensor<8x1024x3072xf32>
    %logits = ingot.matmul %h, %wte {transpose_rhs = true} : tensor<8x1024x768xf32>, tensor<50304x768xf32> -> tensor<8x1024x50304xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$lhs, Ingot_FloatTensor:$rhs,
                       DefaultValuedAttr<BoolAttr, "false">:$transpose_lhs,
                       DefaultValuedAttr<BoolAttr, "false">:$transpose_rhs);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Ingot_EmbeddingOp : Ingot_Op<"embedding", [Pure]> {
  let summary = "Gathers rows of a table";
  let description = [{
    For every index in `indices` (any shape), the row of `table` ([V, D]) it
    names; the result is [...indices.shape, D] of the table's element type.
    Indices outside [0, V) have undefined results.

    ```mlir
    %tok = ingot.embedding %wte, %idx : tensor<50304x768xf32>, tensor<8x1024xi32> -> tensor<8x1024x768xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$table, Ingot_IndexTensor:$indices);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = [{
    $table `,` $indices attr-dict `:` type($table) `,` type($indices) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Ingot_LayerNormOp : Ingot_Op<"layer_norm", [Pure]> {
  let summary = "Layer normalization over the last dimension";
  let description = [{
    Normalizes `x` ([..., D]) over its last dimension to zero mean and unit
    variance (biased variance, `epsilon` > 0 added to it), then scales by
    `gamma` ([D]) and shifts by `beta` ([D]). The result has the type of `x`;
    element types are all equal.

    ```mlir
    %y = ingot.layer_norm %x, %g, %b {epsilon = 1.000000e-05 : f64} : tensor<8x1024x768xf32>, tensor<768xf32>, tensor<768xf32> -> tensor<8x1024x768xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$gamma,
                       Ingot_FloatTensor:$beta, F64Attr:$epsilon);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = [{
    $x `,` $gamma `,` $beta attr-dict `:` type($x) `,` type($gamma) `,` type($beta) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Ingot_RmsNormOp : Ingot_Op<"rms_norm", [Pure]> {
  let summary = "Root-mean-square normalization over the last dimension";
  let description = [{
    Divides `x` ([..., D]) by the root mean square of its last dimension
    (`epsilon` > 0 added to the mean square), then scales by `gamma` ([D]).
    The result has the type of `x`; element types are all equal.

    ```mlir
    %y = ingot.rms_norm %x, %g {epsilon = 1.000000e-06 : f64} : tensor<8x1024x4096xbf16>, tensor<4096xbf16> -> tensor<8x1024x4096xbf16>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$gamma, F64Attr:$epsilon);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = [{
    $x `,` $gamma attr-dict `:` type($x) `,` type($gamma) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Ingot_SoftmaxOp : Ingot_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "Softmax along one axis";
  let description = [{
    `exp(x - max) / sum(exp(x - max))` along `axis` (default -1, the last;
    negative axes count from the end). The result has the type of `x`.

    ```mlir
    %p = ingot.softmax %x : tensor<8x12x64x64xf32>
    %q = ingot.softmax %x {axis = 1 : i64} : tensor<8x12x64x64xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, DefaultValuedAttr<Ingot_I64Attr, "-1">:$axis);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` in [0, rank).
    int64_t getNormalizedAxis();
  }];
}

def Ingot_AttentionOp : Ingot_Op<"attention", [Pure]> {
  let summary = "Multi-head scaled dot-product attention (grouped-query)";
  let description = [{
    `query` is [B, T, H*hd] with H = `num_heads`; `key` and `value` are
    [B, S, Hkv*hd] with Hkv = `num_kv_heads`, which divides H (each group of
    H/Hkv query heads shares one key/value head; Hkv = H is ordinary
    multi-head attention). Per head, `softmax(scale * q k^T) v`, with
    `scale` = 1/sqrt(hd) when it is 0. With `causal`, position t attends only
    to positions <= t, and T must equal S. The result is [B, T, H*hd], the
    type of `query`; element types are all equal.

    ```mlir
    %y = ingot.attention %q, %k, %v {num_heads = 12 : i64, num_kv_heads = 12 : i64, causal = true, scale = 0.000000e+00 : f64} : (tensor<8x1024x768xf32>, tensor<8x1024x768xf32>, tensor<8x1024x768xf32>) -> tensor<8x1024x768xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$query, Ingot_FloatTensor:$key,
                       Ingot_FloatTensor:$value,
                       Ingot_PositiveI64Attr:$num_heads,
                       Ingot_PositiveI64Attr:$num_kv_heads,
                       BoolAttr:$causal, F64Attr:$scale);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The per-head channel count hd.
    int64_t getHeadDim();
  }];
}

def Ingot_RopeOp : Ingot_Op<"rope", [Pure, SameOperandsAndResultType]> {
  let summary = "Rotary position embedding";
  let description = [{
    Rotates each pair of channels of each head of `x` ([B, T, H*hd],
    H = `num_heads`, hd even) by the angle `t * theta^(-2i/hd)` for position
    t and pair i. With `inverse`, rotates by the negated angle: the
    transpose of the rotation, and so rope's own VJP.

    ```mlir
    %qr = ingot.rope %q {num_heads = 32 : i64, theta = 1.000000e+04 : f64} : tensor<8x1024x4096xbf16>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_PositiveI64Attr:$num_heads,
                       F64Attr:$theta,
                       DefaultValuedAttr<BoolAttr, "false">:$inverse);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x)";
  let hasVerifier = 1;
}

def Ingot_CrossEntropyOp : Ingot_Op<"cross_entropy", [Pure]> {
  let summary = "Mean softmax cross-entropy of logits against targets";
  let description = [{
    `logits` is [..., V]; `targets` (i32) has the shape of `logits` without
    its last dimension. The result is the mean over all positions of
    `-log softmax(logits)[target]`, a `tensor<f32>` whatever the logits'
    element type.

    ```mlir
    %loss = ingot.cross_entropy %logits, %tgt : tensor<8x1024x50304xf32>, tensor<8x1024xi32> -> tensor<f32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$logits, Ingot_IndexTensor:$targets);
  let results = (outs Ingot_F32Scalar:$result);
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` type($logits) `,` type($targets) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Ingot_ReshapeOp : Ingot_Op<"reshape", [Pure]> {
  let summary = "Reinterprets a tensor's elements with another shape";
  let description = [{
    The elements of `x` in row-major order, with the result's shape; element
    count and element type are unchanged.

    ```mlir
    %y = ingot.reshape %x : tensor<2x6xf32> to tensor<12xf32>
    ```
  }];

  let arguments = (ins Ingot_Tensor:$x);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `to` type($result)";
  let hasVerifier = 1;
}

def Ingot_TransposeOp : Ingot_Op<"transpose", [Pure]> {
  let summary = "Permutes a tensor's dimensions";
  let description = [{
    Result dimension i is dimension `permutation[i]` of `x`; `permutation`
    is a permutation of 0..rank-1.

    ```mlir
    %y = ingot.transpose %x {permutation = array<i64: 0, 2, 1, 3>} : tensor<8x1024x12x64xf32> -> tensor<8x12x1024x64xf32>
    ```
  }];

  let arguments = (ins Ingot_Tensor:$x, DenseI64ArrayAttr:$permutation);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

def Ingot_SliceOp : Ingot_Op<"slice", [Pure]> {
  let summary = "A contiguous range along one axis";
  let description = [{
    Elements `start` .. `start + size - 1` of `x` along `axis`, every element
    along the other axes. 0 <= start, size >= 1, start + size <= the
    dimension.

    ```mlir
    %q = ingot.slice %qkv {axis = 2 : i64, start = 0 : i64, size = 768 : i64} : tensor<8x1024x2304xf32> -> tensor<8x1024x768xf32>
    ```
  }];

  let arguments = (ins Ingot_Tensor:$x, Ingot_I64Attr:$axis,
                       Ingot_NonNegativeI64Attr:$start,
                       Ingot_PositiveI64Attr:$size);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` in [0, rank).
    int64_t getNormalizedAxis();
  }];
}

def Ingot_PadOp : Ingot_Op<"pad", [Pure]> {
  let summary = "Zero padding along one axis";
  let description = [{
    `x` with `before` zeros in front of it and `after` zeros behind it along
    `axis` (the VJP of `ingot.slice`).

    ```mlir
    %d = ingot.pad %dq {axis = 2 : i64, before = 0 : i64, after = 1536 : i64} : tensor<8x1024x768xf32> -> tensor<8x1024x2304xf32>
    ```
  }];

  let arguments = (ins Ingot_Tensor:$x, Ingot_I64Attr:$axis,
                       Ingot_NonNegativeI64Attr:$before,
                       Ingot_NonNegativeI64Attr:$after);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` in [0, rank).
    int64_t getNormalizedAxis();
  }];
}

def Ingot_ConcatOp : Ingot_Op<"concat", [Pure]> {
  let summary = "Joins tensors along one axis";
  let description = [{
    The `inputs` (at least one) one after another along `axis`. They have
    equal element types and ranks, and equal dimensions except along `axis`,
    where the result's dimension is their sum.

    ```mlir
    %y = ingot.concat %a, %b {axis = 1 : i64} : tensor<4x3xf32>, tensor<4x5xf32> -> tensor<4x8xf32>
    ```
  }];

  let arguments = (ins Variadic<Ingot_Tensor>:$inputs, Ingot_I64Attr:$axis);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` in [0, rank).
    int64_t getNormalizedAxis();
  }];
}

def Ingot_BroadcastOp : Ingot_Op<"broadcast", [Pure]> {
  let summary = "Broadcasts a tensor to a larger shape (numpy rules)";
  let description = [{
    `x` repeated to the result's shape: aligned from the last dimension, each
    dimension of `x` is 1 or equal to the result's; missing leading
    dimensions are added. Element types are equal.

    ```mlir
    %y = ingot.broadcast %b : tensor<768xf32> -> tensor<8x1024x768xf32>
    ```
  }];

  let arguments = (ins Ingot_Tensor:$x);
  let results = (outs Ingot_Tensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

class Ingot_ReduceOp<string mnemonic, string what>
    : Ingot_Op<mnemonic, [Pure]> {
  let summary = "The " # what # " over some axes";
  let description = [{
    The }] # what # [{ of `x` over `axes` (distinct, each in [-rank, rank);
    empty means no reduction). Without `keep_dims` the reduced dimensions
    are removed; with it they stay, as 1.

    ```mlir
    %s = ingot.}] # mnemonic # [{ %x {axes = array<i64: 0, 1>} : tensor<8x1024x768xf32> -> tensor<768xf32>
    %t = ingot.}] # mnemonic # [{ %x {axes = array<i64: -1>, keep_dims = true} : tensor<8x1024x768xf32> -> tensor<8x1024x1xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, DenseI64ArrayAttr:$axes,
                       DefaultValuedAttr<BoolAttr, "false">:$keep_dims);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axes` in [0, rank), in the order given.
    ::llvm::SmallVector<int64_t> getNormalizedAxes();
  }];
}

def Ingot_ReduceSumOp : Ingot_ReduceOp<"reduce_sum", "sum">;
def Ingot_ReduceMeanOp : Ingot_ReduceOp<"reduce_mean", "mean">;
def Ingot_ReduceMaxOp : Ingot_ReduceOp<"reduce_max", "maximum">;

//===----------------------------------------------------------------------===//
// Backward ops: the VJPs that deserve kernels of their own
//===----------------------------------------------------------------------===//

def Ingot_LayerNormGradOp : Ingot_Op<"layer_norm_grad", [Pure]> {
  let summary = "Gradients of ingot.layer_norm";
  let description = [{
    Given the forward inputs `x` ([..., D]) and `gamma` ([D]) and the
    gradient of the output `grad_output` (the type of `x`), the gradients of
    `x`, `gamma` and `beta`. Mean and variance are recomputed from `x`.

    ```mlir
    %dx, %dg, %db = ingot.layer_norm_grad %x, %g, %dy {epsilon = 1.000000e-05 : f64} : (tensor<8x1024x768xf32>, tensor<768xf32>, tensor<8x1024x768xf32>) -> (tensor<8x1024x768xf32>, tensor<768xf32>, tensor<768xf32>)
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$gamma,
                       Ingot_FloatTensor:$grad_output, F64Attr:$epsilon);
  let results = (outs Ingot_FloatTensor:$grad_x, Ingot_FloatTensor:$grad_gamma,
                      Ingot_FloatTensor:$grad_beta);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ingot_RmsNormGradOp : Ingot_Op<"rms_norm_grad", [Pure]> {
  let summary = "Gradients of ingot.rms_norm";
  let description = [{
    Given the forward inputs `x` ([..., D]) and `gamma` ([D]) and the
    gradient of the output `grad_output` (the type of `x`), the gradients of
    `x` and `gamma`.

    ```mlir
    %dx, %dg = ingot.rms_norm_grad %x, %g, %dy {epsilon = 1.000000e-06 : f64} : (tensor<8x1024x4096xf32>, tensor<4096xf32>, tensor<8x1024x4096xf32>) -> (tensor<8x1024x4096xf32>, tensor<4096xf32>)
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$gamma,
                       Ingot_FloatTensor:$grad_output, F64Attr:$epsilon);
  let results = (outs Ingot_FloatTensor:$grad_x, Ingot_FloatTensor:$grad_gamma);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ingot_SoftmaxGradOp : Ingot_Op<"softmax_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "Gradient of ingot.softmax";
  let description = [{
    Given the forward result `output` (y) and `grad_output` (dy), the
    gradient of the input, `y * (dy - sum(dy * y))` with the sum along
    `axis`.

    ```mlir
    %dx = ingot.softmax_grad %y, %dy : tensor<8x12x64x64xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$output, Ingot_FloatTensor:$grad_output,
                       DefaultValuedAttr<Ingot_I64Attr, "-1">:$axis);
  let results = (outs Ingot_FloatTensor:$grad_x);
  let assemblyFormat = "$output `,` $grad_output attr-dict `:` type($output)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// `axis` in [0, rank).
    int64_t getNormalizedAxis();
  }];
}

def Ingot_AttentionGradOp : Ingot_Op<"attention_grad", [Pure]> {
  let summary = "Gradients of ingot.attention";
  let description = [{
    Given the forward inputs, the forward `output` and its gradient
    `grad_output` (both the type of `query`), the gradients of `query`,
    `key` and `value`. Attributes and shape rules are those of
    `ingot.attention`.

    ```mlir
    %dq, %dk, %dv = ingot.attention_grad %q, %k, %v, %y, %dy {num_heads = 12 : i64, num_kv_heads = 12 : i64, causal = true, scale = 0.000000e+00 : f64} : (tensor<8x1024x768xf32>, tensor<8x1024x768xf32>, tensor<8x1024x768xf32>, tensor<8x1024x768xf32>, tensor<8x1024x768xf32>) -> (tensor<8x1024x768xf32>, tensor<8x1024x768xf32>, tensor<8x1024x768xf32>)
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$query, Ingot_FloatTensor:$key,
                       Ingot_FloatTensor:$value, Ingot_FloatTensor:$output,
                       Ingot_FloatTensor:$grad_output,
                       Ingot_PositiveI64Attr:$num_heads,
                       Ingot_PositiveI64Attr:$num_kv_heads,
                       BoolAttr:$causal, F64Attr:$scale);
  let results = (outs Ingot_FloatTensor:$grad_query, Ingot_FloatTensor:$grad_key,
                      Ingot_FloatTensor:$grad_value);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ingot_CrossEntropyGradOp : Ingot_Op<"cross_entropy_grad", [Pure]> {
  let summary = "Gradient of ingot.cross_entropy, fused with the softmax";
  let description = [{
    The gradient of the logits, `grad_loss * (softmax(logits) - onehot(targets)) / N`
    with N the number of positions; it has the type of `logits`.

    ```mlir
    %dlogits = ingot.cross_entropy_grad %logits, %tgt, %dloss : (tensor<8x1024x50304xf32>, tensor<8x1024xi32>, tensor<f32>) -> tensor<8x1024x50304xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$logits, Ingot_IndexTensor:$targets,
                       Ingot_F32Scalar:$grad_loss);
  let results = (outs Ingot_FloatTensor:$grad_logits);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ingot_EmbeddingGradOp : Ingot_Op<"embedding_grad", [Pure]> {
  let summary = "Gradient of an ingot.embedding table (scatter-add)";
  let description = [{
    A [V, D] tensor, V = `vocab_size`, zero except that row `indices[i]`
    accumulates `grad_output[i]` ([...indices.shape, D]) for every position i.

    ```mlir
    %dwte = ingot.embedding_grad %idx, %dy {vocab_size = 50304 : i64} : (tensor<8x1024xi32>, tensor<8x1024x768xf32>) -> tensor<50304x768xf32>
    ```
  }];

  let arguments = (ins Ingot_IndexTensor:$indices, Ingot_FloatTensor:$grad_output,
                       Ingot_PositiveI64Attr:$vocab_size);
  let results = (outs Ingot_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Ingot_GeluGradOp : Ingot_Op<"gelu_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "Gradient of ingot.gelu";
  let description = [{
    `grad_output * gelu'(x)`, with the same `approximate` as the forward op.

    ```mlir
    %dx = ingot.gelu_grad %x, %dy : tensor<8x1024x3072xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$grad_output,
                       Ingot_GeluApproximationAttr:$approximate);
  let results = (outs Ingot_FloatTensor:$grad_x);
  let assemblyFormat = "$x `,` $grad_output attr-dict `:` type($x)";
  let hasVerifier = 1;
}

def Ingot_SiluGradOp : Ingot_Op<"silu_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "Gradient of ingot.silu";
  let description = [{
    `grad_output * silu'(x)`, where
    `silu'(x) = sigmoid(x) * (1 + x * (1 - sigmoid(x)))`.

    ```mlir
    %dx = ingot.silu_grad %x, %dy : tensor<8x1024x11008xbf16>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$grad_output);
  let results = (outs Ingot_FloatTensor:$grad_x);
  let assemblyFormat = "$x `,` $grad_output attr-dict `:` type($x)";
}


def Ingot_ReluGradOp : Ingot_Op<"relu_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "Gradient of ingot.relu";
  let description = [{
    `grad_output` where `x > 0`, zero elsewhere.

    ```mlir
    %dx = ingot.relu_grad %x, %dy : tensor<8x1024x3072xf32>
    ```
  }];

  let arguments = (ins Ingot_FloatTensor:$x, Ingot_FloatTensor:$grad_output);
  let results = (outs Ingot_FloatTensor:$grad_x);
  let assemblyFormat = "$x `,` $grad_output attr-dict `:` type($x)";
}

//===----------------------------------------------------------------------===//
// The training step: gradients of parameters and the optimizer
//===----------------------------------------------------------------------===//

def Ingot_ParamGradOp : Ingot_Op<"param_grad", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "Adds a contribution to a parameter's gradient";
  let description = [{
    Adds `grad` into the gradient accumulator of the parameter `name` (which
    has the same type). The accumulator is zeroed by the runtime before each
    optimizer step, so a parameter used twice (a tied embedding) and a step of
    several micro-batches both sum their contributions. `ingot-autodiff`
    emits one per use of a parameter, tagged `ingot.grad = "weight"`.

    ```mlir
    ingot.param_grad @wte, %dwte : tensor<50304x768xf32>
    ```
  }];

  let arguments = (ins FlatSymbolRefAttr:$name, Ingot_FloatTensor:$grad);
  let assemblyFormat = "$name `,` $grad attr-dict `:` type($grad)";
}

def Ingot_GlobalGradNormOp : Ingot_Op<"global_grad_norm", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead]>]> {
  let summary = "The L2 norm of the gradients of the listed parameters";
  let description = [{
    `sqrt(sum over params of sum(grad^2))`, accumulated in f64 in the order
    the parameters are listed (so it is reproducible). The optimizer step
    clips with it and skips the update when it is not finite.

    ```mlir
    %norm = ingot.global_grad_norm [@wte, @wpe] : tensor<f64>
    ```
  }];

  let arguments = (ins SymbolRefArrayAttr:$params);
  let results = (outs 0DTensorOf<[F64]>:$norm);
  let assemblyFormat = "$params attr-dict `:` type($norm)";
}

def Ingot_AdamWOp : Ingot_Op<"adamw", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "One AdamW update of a parameter, with global-norm clipping";
  let description = [{
    Updates the parameter `name` from its accumulated gradient, scaled by
    `min(1, clip / grad_norm)` when the run-time `clip` is positive, with the
    first and second moments kept in f32 beside it:

    ```
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p)
    ```

    The learning rate, betas, eps, weight decay, clip threshold and step t are
    run-time inputs of the executable (StepScalars); `weight_decay` says
    whether decay applies to this parameter at all (not to norms and biases).

    ```mlir
    ingot.adamw @wte, %norm {weight_decay = true} : tensor<f64>
    ```
  }];

  let arguments = (ins FlatSymbolRefAttr:$name, 0DTensorOf<[F64]>:$grad_norm,
                       BoolAttr:$weight_decay);
  let assemblyFormat = "$name `,` $grad_norm attr-dict `:` type($grad_norm)";
}

#endif // INGOT_OPS_TD
