//===- CollectiveOps.td - Ops of the collective dialect ------*- tablegen -*-===//
//
// Every op: a one-line summary and a description with an example. Rules across operands
// (buffer sizes against the group size, peers within the group, one wait per token) are checked
// in CollectiveOps.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_COLLECTIVE_OPS_TD
#define INGOT_COLLECTIVE_OPS_TD

include "dialects/Collective/CollectiveDialect.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/IR/SymbolInterfaces.td"

def Collective_I64Attr : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                                      "64-bit signless integer attribute">;
def Collective_PositiveI64Attr : ConfinedAttr<Collective_I64Attr, [IntMinValue<1>]>;
def Collective_NonNegativeI64Attr : ConfinedAttr<Collective_I64Attr, [IntNonNegative]>;

def Collective_CommOp : Collective_Op<"comm", [Symbol]> {
  let summary = "A communicator: a group of ranks named by its place in the layout";
  let description = [{
    The group of ranks this rank talks to through `sym_name`:

    | `axis`     | the group of rank (stage s, replica r)              | `size`            |
    |------------|-----------------------------------------------------|-------------------|
    | `data`     | the `data` replicas of stage s                      | data              |
    | `pipeline` | the stages of replica r, in stage order             | stages            |
    | `stages`   | the listed stages of replica r, in the listed order | number of stages  |
    | `world`    | every rank                                          | stages x data     |

    A rank's index in the group (the peer of a send or receive) is its
    replica for `data`, its stage for `pipeline`, and its position in the
    list for `stages`. Only ranks that belong to the group may use it.

    ```mlir
    collective.comm @dp axis "data" size 8
    collective.comm @pp axis "pipeline" size 4
    collective.comm @tied_wte axis "stages" size 2 {stages = array<i64: 0, 3>}
    ```
  }];

  let arguments = (ins SymbolNameAttr:$sym_name,
                       StrAttr:$axis,
                       Collective_PositiveI64Attr:$size,
                       OptionalAttr<DenseI64ArrayAttr>:$stages);
  let assemblyFormat = "$sym_name `axis` $axis `size` $size attr-dict";
  let hasVerifier = 1;
}

class Collective_StartOp<string mnemonic, list<Trait> traits = []>
    : Collective_Op<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<SymbolUserOpInterface>])> {
  let results = (outs Collective_TokenType:$token);
  let hasVerifier = 1;
}

def Collective_AllReduceStartOp : Collective_StartOp<"all_reduce_start"> {
  let summary = "Starts an in-place all-reduce over a communicator";
  let description = [{
    Every rank of `comm` contributes `buffer`; when the token is waited,
    each rank's `buffer` holds the `reduction` (`sum`, `max` or `min`) of
    all of them, elementwise. Reductions of floats run in a fixed order of
    ranks, so the result does not depend on timing.

    ```mlir
    %t = collective.all_reduce_start "sum" @dp, %grads : memref<49920xf32>
    collective.wait %t
    ```
  }];
  let arguments = (ins StrAttr:$reduction, FlatSymbolRefAttr:$comm,
                       AnyStaticShapeMemRef:$buffer);
  let assemblyFormat = "$reduction $comm `,` $buffer attr-dict `:` type($buffer)";
}

def Collective_ReduceScatterStartOp : Collective_StartOp<"reduce_scatter_start"> {
  let summary = "Starts a reduce-scatter over a communicator";
  let description = [{
    Reduces `input` over the ranks of `comm` (`sum`, `max` or `min`) and
    leaves part i of the result (of `size` equal parts, in element order) in
    `output` of the rank with index i. `input` has `size` times the elements
    of `output`, of the same element type. ZeRO-1 reduces gradients this way
    before the sharded optimizer update.

    ```mlir
    %t = collective.reduce_scatter_start "sum" @dp, %grads, %shard : memref<64xf32>, memref<16xf32>
    ```
  }];
  let arguments = (ins StrAttr:$reduction, FlatSymbolRefAttr:$comm,
                       AnyStaticShapeMemRef:$input, AnyStaticShapeMemRef:$output);
  let assemblyFormat = [{
    $reduction $comm `,` $input `,` $output attr-dict `:` type($input) `,` type($output)
  }];
}

def Collective_AllGatherStartOp : Collective_StartOp<"all_gather_start"> {
  let summary = "Starts an all-gather over a communicator";
  let description = [{
    Concatenates the `input` of every rank of `comm`, in rank-index order,
    into each rank's `output`, which has `size` times the elements of
    `input`, of the same element type.

    ```mlir
    %t = collective.all_gather_start @dp, %shard, %params : memref<16xf32>, memref<64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$comm, AnyStaticShapeMemRef:$input,
                       AnyStaticShapeMemRef:$output);
  let assemblyFormat = [{
    $comm `,` $input `,` $output attr-dict `:` type($input) `,` type($output)
  }];
}

def Collective_SendStartOp : Collective_StartOp<"send_start"> {
  let summary = "Starts sending a buffer to one rank of a communicator";
  let description = [{
    Sends `buffer` to the rank with index `peer` in `comm`, which must post
    the matching `collective.recv_start` of a buffer of the same type. The
    buffer must not be written until the token is waited.

    ```mlir
    %t = collective.send_start @pp, %act to 1 : memref<8x64x64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$comm, AnyStaticShapeMemRef:$buffer,
                       Collective_NonNegativeI64Attr:$peer);
  let assemblyFormat = "$comm `,` $buffer `to` $peer attr-dict `:` type($buffer)";
}

def Collective_RecvStartOp : Collective_StartOp<"recv_start"> {
  let summary = "Starts receiving a buffer from one rank of a communicator";
  let description = [{
    Receives into `buffer` what the rank with index `peer` in `comm` sends
    with `collective.send_start`. The buffer may be read once the token is
    waited.

    ```mlir
    %t = collective.recv_start @pp, %act from 0 : memref<8x64x64xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$comm, AnyStaticShapeMemRef:$buffer,
                       Collective_NonNegativeI64Attr:$peer);
  let assemblyFormat = "$comm `,` $buffer `from` $peer attr-dict `:` type($buffer)";
}

def Collective_WaitOp : Collective_Op<"wait"> {
  let summary = "Blocks until the given collectives are complete";
  let description = [{
    Returns once every operation whose token is listed is complete on this
    rank: a receive's buffer holds the data, a send's buffer may be reused,
    a reduction's result is in place.

    ```mlir
    collective.wait %t0, %t1
    ```
  }];
  let arguments = (ins Variadic<Collective_TokenType>:$tokens);
  let assemblyFormat = "$tokens attr-dict";
  let hasVerifier = 1;
}

#endif // INGOT_COLLECTIVE_OPS_TD
