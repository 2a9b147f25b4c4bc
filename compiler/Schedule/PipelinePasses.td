//===- PipelinePasses.td - Pipeline and collective passes ----*- tablegen -*-===//
#ifndef INGOT_SCHEDULE_PIPELINE_PASSES_TD
#define INGOT_SCHEDULE_PIPELINE_PASSES_TD

include "mlir/Pass/PassBase.td"

def PipelinePartition : Pass<"pipeline-partition", "mlir::ModuleOp"> {
  let summary = "Splits the unrolled layers into stages x chunks balanced by predicted time";
  let description = [{
    Reads the layout from the module's `ingot.parallel` (stages P, chunks per stage v,
    microbatches M, schedule) and the device from `ingot.device` (`memory_bytes`,
    `peak_flops`, `hbm_bytes_per_second`, link bandwidths, `devices_per_node`; ingotc writes
    it from the cluster map). Runs after ingot-unroll-blocks and ingot-autodiff.

    The units of work are the layers (runs of ops with one `ingot.layer` in
    `@forward_backward`), the ops before the first layer (the embedding) and after the last
    (the head). Each op costs max(FLOPs / peak, bytes / HBM bandwidth) by the
    IngotCostOpInterface, counted as forward (F), input-gradient (B, `ingot.grad = "input"`) or
    weight-gradient (W) time. The layers are cut into P * v contiguous chunks of at least one
    layer each, the embedding joining the first and the head the last, minimizing the slowest
    chunk (dynamic programming over the cut points) among the cuts whose every stage fits the
    device's memory (with v = 1; with v > 1 memory is checked after the cut). Chunk c runs on
    stage c mod P.

    Each stage's memory is then predicted: its parameters with their gradients and two AdamW
    moments, the activations one micro-batch's forward keeps for its backward (the forward
    values backward ops read) times the micro-batches the
    schedule keeps in flight on that stage, and its largest transient buffer; a stage over the
    device's memory is an error that names its largest buffers.

    Writes a `pipeline.plan` with one `pipeline.chunk` per chunk, tags every op of
    `@forward_backward` with `pipeline.chunk` and every `ingot.param` with the chunks that read
    it (`pipeline.chunks`).
  }];
  let dependentDialects = ["ingot::pipeline::PipelineDialect"];
}

def PipelineSchedule : Pass<"pipeline-schedule", "mlir::ModuleOp"> {
  let summary = "Writes the static program of every stage for the chosen schedule";
  let description = [{
    Fills the `pipeline.plan` of pipeline-partition with one `pipeline.program` per stage for
    the schedule named by `ingot.parallel` (or the `schedule` option): `gpipe`, `1f1b`,
    `interleaved` (Megatron-LM's order over v chunks) or `zb-h1` (backward split into
    `backward_input` and `backward_weight`). Each program lists its compute steps with the
    `send_*` / `recv_*` steps between stages. The programs are simulated on the chunks'
    predicted times; a layout the schedule cannot run (too few micro-batches, chunks without
    the interleaved schedule) or programs that would deadlock are errors.
  }];
  let options = [
    Option<"scheduleName", "schedule", "std::string", /*default=*/"\"\"",
           "gpipe | 1f1b | interleaved | zb-h1 (default: the module's ingot.parallel)">,
  ];
  let dependentDialects = ["ingot::pipeline::PipelineDialect"];
}

def CollectiveInsert : Pass<"collective-insert", "mlir::ModuleOp"> {
  let summary = "Turns pipeline transfers into collectives and adds the step's reductions";
  let description = [{
    In every stage program of the `pipeline.plan`:
    - each `send_*` / `recv_*` step becomes a `collective.send_start` / `recv_start` on the
      pipeline communicator `@pp` over a `pipeline.buffer`; a receive is started one compute
      step before the step that reads it and waited just before that step, a send is waited
      at the end of the step;
    - with data parallelism (`data` > 1 in `ingot.parallel`), the gradients of each chunk are
      grouped in buckets of at most `bucket-bytes` and each bucket's all-reduce over `@dp` is
      started right after the chunk's last backward step, when those gradients are final, so it
      overlaps the rest of the stage's backward work;
    - at the end: the tied parameters' gradients (a parameter read by chunks on several stages,
      such as an embedding shared with the head) are summed over those stages (`@tied_<name>`),
      the squared gradient norms are summed over `@pp` for global clipping, and every rank
      agrees on whether the step is finite (a max over `@world`).
    Communicators are created as `collective.comm` ops at module level.

    With `blocking`, for a runtime whose send and receive block until they meet, the transfers
    are first reordered across all stages: a global walk runs each stage's compute steps as soon
    as the data they need has arrived, and places every send right after the step producing it
    and its receive at the same point of the receiver's program. That order is one that every
    stage can follow at once, so the programs cannot deadlock (pipeline-simulate=blocking
    checks it); each transfer is waited as soon as it starts.
  }];
  let options = [
    Option<"bucketBytes", "bucket-bytes", "int64_t", /*default=*/"25 << 20",
           "Largest data-parallel gradient bucket, in bytes">,
    Option<"receiveEarly", "receive-early", "bool", /*default=*/"true",
           "Start each receive one compute step before its consumer (false: right before it)">,
    Option<"blocking", "blocking", "bool", /*default=*/"false",
           "For a runtime whose send and recv block: order the transfers of all stages so that "
           "every send meets its receive (each right after the step that produces it), and wait "
           "for each one at once">,
  ];
  let dependentDialects = ["ingot::pipeline::PipelineDialect",
                           "ingot::collective::CollectiveDialect"];
}

def PipelineSimulate : Pass<"pipeline-simulate", "mlir::ModuleOp"> {
  let summary = "Checks that the stage programs finish, and reports their predicted step";
  let description = [{
    Runs the stage programs of the scheduled `pipeline.plan` on the chunks' predicted times
    (the simulator of `ingotc --emit=schedule`) and reports the step time and bubble as a
    remark on the plan. Programs that can never finish (every waiting stage waits on another)
    are an error naming the step each stage is stuck at. A gate for hand-written or
    transformed plans; pipeline-schedule runs the same check on the programs it writes.

    With `blocking`, it instead checks the collectives of a plan after collective-insert as a
    runtime with only blocking operations would run them: each `*_start` is the whole
    operation, a send and its receive must meet (a rendezvous, as MPI and NCCL do for messages
    past their eager size), and a collective over stages waits for every member. Programs that
    finish with asynchronous starts and waits may deadlock here; the error names the operation
    each stage is stuck at.
  }];
  let options = [
    Option<"blocking", "blocking", "bool", /*default=*/"false",
           "Check the collectives as blocking operations (rendezvous send/recv)">,
  ];
}

def PipelineOutline : Pass<"pipeline-outline", "mlir::ModuleOp"> {
  let summary = "Outlines each chunk's forward, input-gradient and weight-gradient work";
  let description = [{
    The first step of running a plan: for every chunk c of the `pipeline.plan`, the ops of
    `@forward_backward` tagged `pipeline.chunk = c` become up to three functions,
    `@chunk<c>_forward`, `@chunk<c>_backward_input` and `@chunk<c>_backward_weight` (the ops
    with no `ingot.grad`, with `"input"`, with `"weight"`), each taking exactly the values it
    reads from elsewhere and returning exactly the values read elsewhere. Every argument says
    where it comes from (`pipeline.source`: `"input 0"` for the tokens, or the step and chunk
    that computes it) and every result where it goes (`pipeline.uses`), so the transfers
    between stages (a source on another stage), what a micro-batch keeps between its forward
    and backward (a result used by a later step of the same chunk) and the gradients are all
    explicit. Calling the functions in the order forward of chunks 0..n-1, then input and
    weight backward of chunks n-1..0 computes `@forward_backward`, which stays as it is.
  }];
  let dependentDialects = ["mlir::func::FuncDialect"];
}

#endif // INGOT_SCHEDULE_PIPELINE_PASSES_TD
