//===- PipelineOps.td - Ops of the pipeline dialect ----------*- tablegen -*-===//
//
// Every op: a one-line summary and a description with an example. The rules across ops (chunks
// cover the layers, each micro-batch runs F before B before W once on each chunk, every send
// has its receive) are checked by pipeline.plan's verifier in PipelineOps.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_PIPELINE_OPS_TD
#define INGOT_PIPELINE_OPS_TD

include "dialects/Pipeline/PipelineDialect.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Pipeline_I64Attr : TypedSignlessIntegerAttrBase<I64, "int64_t",
                                                    "64-bit signless integer attribute">;
def Pipeline_PositiveI64Attr : ConfinedAttr<Pipeline_I64Attr, [IntMinValue<1>]>;
def Pipeline_NonNegativeI64Attr : ConfinedAttr<Pipeline_I64Attr, [IntNonNegative]>;

//===----------------------------------------------------------------------===//
// The plan and its partition
//===----------------------------------------------------------------------===//

def Pipeline_PlanOp : Pipeline_Op<"plan", [SingleBlock, NoTerminator, NoRegionArguments]> {
  let summary = "The pipeline layout of a training step: its chunks and stage programs";
  let description = [{
    `stages` pipeline stages, `chunks` chunks per stage (`chunks > 1` only for
    the interleaved schedule), `microbatches` micro-batches per optimizer step,
    and, once scheduled, the `schedule` the programs follow (`gpipe`, `1f1b`,
    `interleaved` or `zb-h1`).

    The region holds `stages * chunks` `pipeline.chunk` ops in chunk order,
    then either nothing (partitioned, not scheduled) or exactly one
    `pipeline.program` per stage in stage order.

    The verifier checks the whole plan: chunk `c` on stage `c mod stages`;
    the chunks' layer ranges contiguous, the embedding on the first chunk and
    the head on the last; in each program, every micro-batch runs exactly one
    forward and one backward (whole, or split into input and weight parts)
    on each of the stage's chunks, forward before backward and input before
    weight; and every `send_*` step has the matching `recv_*` step on the
    peer stage, placed before the step that needs the data.

    ```mlir
    pipeline.plan stages 2 chunks 1 microbatches 2 schedule "gpipe" {
      pipeline.chunk 0 stage 0 layers 0 to 1 embedding
      pipeline.chunk 1 stage 1 layers 1 to 2 head
      pipeline.program stage 0 {
        pipeline.forward microbatch 0 chunk 0
        pipeline.send_activation microbatch 0 chunk 0 to 1
        pipeline.forward microbatch 1 chunk 0
        pipeline.send_activation microbatch 1 chunk 0 to 1
        pipeline.recv_grad microbatch 0 chunk 1 from 1
        pipeline.backward microbatch 0 chunk 0
        pipeline.recv_grad microbatch 1 chunk 1 from 1
        pipeline.backward microbatch 1 chunk 0
      }
      pipeline.program stage 1 {
        pipeline.recv_activation microbatch 0 chunk 0 from 0
        pipeline.forward microbatch 0 chunk 1
        pipeline.recv_activation microbatch 1 chunk 0 from 0
        pipeline.forward microbatch 1 chunk 1
        pipeline.backward microbatch 0 chunk 1
        pipeline.send_grad microbatch 0 chunk 1 to 0
        pipeline.backward microbatch 1 chunk 1
        pipeline.send_grad microbatch 1 chunk 1 to 0
      }
    }
    ```
  }];

  let arguments = (ins Pipeline_PositiveI64Attr:$stages,
                       Pipeline_PositiveI64Attr:$chunks,
                       Pipeline_PositiveI64Attr:$microbatches,
                       OptionalAttr<StrAttr>:$schedule);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `stages` $stages `chunks` $chunks `microbatches` $microbatches
    (`schedule` $schedule^)? attr-dict-with-keyword $body
  }];
  // After the ops inside: their own rules hold when the plan's are checked.
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "int64_t":$stages, "int64_t":$chunks, "int64_t":$microbatches)>,
  ];
  let extraClassDeclaration = [{
    /// The chunk ops, in chunk order.
    ::llvm::SmallVector<ChunkOp, 4> getChunkOps();
    /// The program of each stage, in stage order (empty before scheduling).
    ::llvm::SmallVector<ProgramOp, 4> getProgramOps();
  }];
}

def Pipeline_ChunkOp : Pipeline_Op<"chunk", [HasParent<"PlanOp">]> {
  let summary = "One chunk: a contiguous range of layers on one stage, with its predicted cost";
  let description = [{
    Chunk `index` holds the layers `first_layer` up to (not including)
    `end_layer` of the unrolled model (`ingot.layer` on the ops), plus the
    ops before the first layer (`embedding`) or after the last (`head`).
    It runs on stage `stage`.

    The cost attributes are the partitioner's predictions for one
    micro-batch on the map's device: `forward_time`, `backward_input_time`
    and `backward_weight_time` in seconds, `transfer_time` (seconds to send
    the chunk's output to the next chunk's stage, or its gradient back),
    `grad_reduce_time` (the data-parallel all-reduce of the chunk's parameter
    gradients, once per step), `optimizer_time` (the AdamW update of the
    chunk's parameters), `param_bytes` (the parameters the
    chunk reads) and `activation_bytes` (what one micro-batch's forward keeps
    for its backward). `boundary` lists the types of the values the chunk
    passes to the next chunk (the activations sent forward, which the next
    chunk's forward or backward reads), `grad_boundary` those of the values
    its backward passes to the previous chunk (the gradients sent back).

    ```mlir
    pipeline.chunk 0 stage 0 layers 0 to 6 embedding {forward_time = 1.5e-03 : f64, boundary = [tensor<16x1024x768xf32>]}
    ```
  }];

  let arguments = (ins Pipeline_NonNegativeI64Attr:$index,
                       Pipeline_NonNegativeI64Attr:$stage,
                       Pipeline_NonNegativeI64Attr:$first_layer,
                       Pipeline_NonNegativeI64Attr:$end_layer,
                       UnitAttr:$embedding,
                       UnitAttr:$head,
                       DefaultValuedAttr<F64Attr, "0.0">:$forward_time,
                       DefaultValuedAttr<F64Attr, "0.0">:$backward_input_time,
                       DefaultValuedAttr<F64Attr, "0.0">:$backward_weight_time,
                       DefaultValuedAttr<F64Attr, "0.0">:$transfer_time,
                       DefaultValuedAttr<F64Attr, "0.0">:$grad_reduce_time,
                       DefaultValuedAttr<F64Attr, "0.0">:$optimizer_time,
                       DefaultValuedAttr<Pipeline_I64Attr, "0">:$param_bytes,
                       DefaultValuedAttr<Pipeline_I64Attr, "0">:$activation_bytes,
                       OptionalAttr<TypeArrayAttr>:$boundary,
                       OptionalAttr<TypeArrayAttr>:$grad_boundary);
  let assemblyFormat = [{
    $index `stage` $stage `layers` $first_layer `to` $end_layer
    (`embedding` $embedding^)? (`head` $head^)? attr-dict
  }];
  let hasVerifier = 1;
}

def Pipeline_ProgramOp : Pipeline_Op<"program", [
    HasParent<"PlanOp">, SingleBlock, NoTerminator, NoRegionArguments]> {
  let summary = "The straight-line program one stage runs in each training step";
  let description = [{
    The steps of stage `stage`, in the order every rank of that stage runs
    them. Besides the pipeline steps, the region may hold the `collective`
    operations and `pipeline.buffer` views that `collective-insert` puts
    there.

    ```mlir
    pipeline.program stage 1 {
      pipeline.recv_activation microbatch 0 chunk 0 from 0
      pipeline.forward microbatch 0 chunk 1
      pipeline.backward microbatch 0 chunk 1
      pipeline.send_grad microbatch 0 chunk 1 to 0
    }
    ```
  }];

  let arguments = (ins Pipeline_NonNegativeI64Attr:$stage);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "`stage` $stage attr-dict-with-keyword $body";
  let skipDefaultBuilders = 1;
  let builders = [OpBuilder<(ins "int64_t":$stage)>];
}

//===----------------------------------------------------------------------===//
// Compute steps
//===----------------------------------------------------------------------===//

class Pipeline_StepOp<string mnemonic, string what> : Pipeline_Op<mnemonic, [HasParent<"ProgramOp">]> {
  let summary = what # " of one micro-batch on one chunk";
  let arguments = (ins Pipeline_NonNegativeI64Attr:$microbatch,
                       Pipeline_NonNegativeI64Attr:$chunk);
  let assemblyFormat = "`microbatch` $microbatch `chunk` $chunk attr-dict";
}

def Pipeline_ForwardOp : Pipeline_StepOp<"forward", "The forward (F)"> {
  let description = [{
    Runs the forward ops of chunk `chunk` on micro-batch `microbatch` and
    keeps what its backward needs.

    ```mlir
    pipeline.forward microbatch 3 chunk 1
    ```
  }];
}

def Pipeline_BackwardOp : Pipeline_StepOp<"backward", "The whole backward (B then W)"> {
  let description = [{
    Runs every backward op of chunk `chunk` on micro-batch `microbatch`: the
    input gradient (sent on to the previous chunk) and the parameter
    gradients (accumulated over the micro-batches). The schedules that do not
    split the backward use it.

    ```mlir
    pipeline.backward microbatch 3 chunk 1
    ```
  }];
}

def Pipeline_BackwardInputOp
    : Pipeline_StepOp<"backward_input", "The input-gradient backward (B)"> {
  let description = [{
    Runs the backward ops of chunk `chunk` tagged `ingot.grad = "input"`: the
    gradient with respect to the chunk's input, which the previous stage waits
    for. Zero-bubble schedules run it early and its weight part later.

    ```mlir
    pipeline.backward_input microbatch 3 chunk 1
    ```
  }];
}

def Pipeline_BackwardWeightOp
    : Pipeline_StepOp<"backward_weight", "The weight-gradient backward (W)"> {
  let description = [{
    Runs the backward ops of chunk `chunk` tagged `ingot.grad = "weight"`:
    the parameter gradients, which nothing else in the step waits for until
    the optimizer. Must follow the `backward_input` of the same micro-batch
    and chunk.

    ```mlir
    pipeline.backward_weight microbatch 3 chunk 1
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Transfers between stages
//===----------------------------------------------------------------------===//

class Pipeline_TransferOp<string mnemonic, string what, string direction>
    : Pipeline_Op<mnemonic, [HasParent<"ProgramOp">]> {
  let summary = what;
  let arguments = (ins Pipeline_NonNegativeI64Attr:$microbatch,
                       Pipeline_NonNegativeI64Attr:$chunk,
                       Pipeline_NonNegativeI64Attr:$peer);
  let assemblyFormat = "`microbatch` $microbatch `chunk` $chunk `" # direction # "` $peer attr-dict";
  let hasVerifier = 1;
}

def Pipeline_SendActivationOp : Pipeline_TransferOp<"send_activation",
    "Sends a chunk's output activation to the stage of the next chunk", "to"> {
  let description = [{
    Sends the `boundary` values of chunk `chunk` for micro-batch `microbatch`
    to stage `peer`, which runs chunk `chunk + 1`. Follows the forward of that
    micro-batch on that chunk.

    ```mlir
    pipeline.send_activation microbatch 0 chunk 0 to 1
    ```
  }];
}

def Pipeline_RecvActivationOp : Pipeline_TransferOp<"recv_activation",
    "Receives the previous chunk's output activation", "from"> {
  let description = [{
    Receives the output of chunk `chunk` for micro-batch `microbatch` from
    stage `peer`; the forward of chunk `chunk + 1` on this stage reads it.

    ```mlir
    pipeline.recv_activation microbatch 0 chunk 0 from 0
    ```
  }];
}

def Pipeline_SendGradOp : Pipeline_TransferOp<"send_grad",
    "Sends the gradient of a chunk's input to the stage of the previous chunk", "to"> {
  let description = [{
    Sends the gradient with respect to the input of chunk `chunk` (the
    output of chunk `chunk - 1`; its types are the chunk's `grad_boundary`)
    for micro-batch `microbatch` to stage `peer`. Follows the (input) backward of that micro-batch on that chunk.

    ```mlir
    pipeline.send_grad microbatch 0 chunk 1 to 0
    ```
  }];
}

def Pipeline_RecvGradOp : Pipeline_TransferOp<"recv_grad",
    "Receives the gradient of the next chunk's input", "from"> {
  let description = [{
    Receives, from stage `peer`, the gradient with respect to the input of
    chunk `chunk` for micro-batch `microbatch`; the backward of chunk
    `chunk - 1` on this stage starts from it.

    ```mlir
    pipeline.recv_grad microbatch 0 chunk 1 from 1
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

def Pipeline_BufferOp : Pipeline_Op<"buffer", [Pure]> {
  let summary = "A view of one buffer of the stage's memory, for a collective to use";
  let description = [{
    Names the stage memory a collective reads or writes:

    | `kind`            | which buffer                                   | attributes needed      |
    |-------------------|------------------------------------------------|------------------------|
    | `activation`      | the output of `chunk` for `microbatch`         | `microbatch`, `chunk`  |
    | `activation_grad` | the gradient of the input of `chunk`           | `microbatch`, `chunk`  |
    | `grad_bucket`     | bucket `index` of the stage's gradients        | `index`, `chunk`       |
    | `tied_grad`       | the gradient of the tied parameter `param`     | `param`                |
    | `grad_sq_norm`    | the stage's sum of squared gradients (1 x f32) |                        |
    | `nonfinite`       | this rank's non-finite flag (1 x i32)          |                        |

    An activation or its gradient may also take `index`, numbering the values
    when a chunk passes several to the next.

    The memory plan gives each a fixed offset; the view only says which one.

    ```mlir
    %a = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 2 : i64} : memref<8x64x64xf32>
    %g = pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 0 : i64} : memref<49920xf32>
    ```
  }];

  let arguments = (ins StrAttr:$kind,
                       OptionalAttr<Pipeline_NonNegativeI64Attr>:$microbatch,
                       OptionalAttr<Pipeline_NonNegativeI64Attr>:$chunk,
                       OptionalAttr<Pipeline_NonNegativeI64Attr>:$index,
                       OptionalAttr<FlatSymbolRefAttr>:$param);
  let results = (outs AnyStaticShapeMemRef:$result);
  let assemblyFormat = "$kind attr-dict `:` type($result)";
  let hasVerifier = 1;
}

#endif // INGOT_PIPELINE_OPS_TD
