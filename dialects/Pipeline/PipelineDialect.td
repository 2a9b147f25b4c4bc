//===- PipelineDialect.td - The pipeline dialect -------------*- tablegen -*-===//
//
// The `pipeline` dialect: how a training step is cut into stages and chunks, and the static
// program each stage runs (which micro-batch, which chunk, forward or backward, what moves to
// which neighbour).
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_PIPELINE_DIALECT_TD
#define INGOT_PIPELINE_DIALECT_TD

include "mlir/IR/OpBase.td"

def Pipeline_Dialect : Dialect {
  let name = "pipeline";
  let cppNamespace = "::ingot::pipeline";
  let summary = "Pipeline stages, chunks and the static per-stage schedule";
  let description = [{
    A pipeline-parallel training step splits the layers of a model into
    `stages * chunks` contiguous *chunks*; chunk `c` runs on stage
    `c mod stages` (so with `chunks > 1`, the interleaved schedule, each stage
    holds `chunks` chunks spread along the model). A micro-batch flows forward
    through the chunks in order and its gradient flows back in reverse.

    `pipeline.plan` holds the partition (`pipeline.chunk`, written by
    `pipeline-partition`) and, once scheduled, one `pipeline.program` per
    stage (written by `pipeline-schedule`): a straight-line list of steps.
    A step is the forward (F), the input-gradient backward (B), the
    weight-gradient backward (W) or the whole backward (B then W) of one
    micro-batch on one chunk, or a transfer of an activation or an
    activation gradient to or from the neighbouring stage.

    Plans are per stage, never per rank: every data-parallel replica of a
    stage runs the same program, so the size of a plan does not grow with
    the number of ranks. Rank `stage * data + replica` runs stage `stage`.

    `collective-insert` replaces the transfer steps by `collective` dialect
    operations on `pipeline.buffer` views of the stage's memory, and adds the
    data-parallel and cross-stage reductions.
  }];
}

class Pipeline_Op<string mnemonic, list<Trait> traits = []>
    : Op<Pipeline_Dialect, mnemonic, traits>;

#endif // INGOT_PIPELINE_DIALECT_TD
