//===- Passes.td - Ingot's passes ----------------------------*- tablegen -*-===//
#ifndef INGOT_TRANSFORMS_PASSES_TD
#define INGOT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def IngotUnrollBlocks : Pass<"ingot-unroll-blocks", "mlir::ModuleOp"> {
  let summary = "Expands each ingot.repeat into its repetitions, one set of parameters each";
  let description = [{
    Replaces `ingot.repeat @b(%x)` by `count` inlined copies of the block's body. Repetition
    `i` gets its own copies of the block's parameters, named `@<block>.<i>.<param>` and placed
    where the block was (so parameter order is declaration order, layer by layer). Every inlined
    op is tagged `ingot.layer = i`, which pipeline partitioning uses. The ingot.block ops are
    removed.
  }];
  let dependentDialects = ["ingot::IngotDialect"];
}

def IngotAutodiff : Pass<"ingot-autodiff", "mlir::ModuleOp"> {
  let summary = "Builds the training step from the forward function (reverse mode)";
  let description = [{
    Adds `func.func @forward_backward` with the arguments and result of `@forward`: the forward
    computation, then, in reverse, each op's vector-Jacobian product (IngotVjpOpInterface),
    seeded with d loss = 1 / microbatches (the parallel section's micro-batch count, so the
    accumulated gradient is that of the step's mean loss). Each parameter use ends in an
    `ingot.param_grad`. Every backward op is tagged `ingot.grad = "input"` or `"weight"`
    (weight: it only feeds parameter gradients), the split zero-bubble schedules need.
    `@forward` stays, for evaluation.
  }];
  let dependentDialects = ["ingot::IngotDialect", "mlir::func::FuncDialect"];
}

def IngotOptimizer : Pass<"ingot-optimizer", "mlir::ModuleOp"> {
  let summary = "Adds the optimizer step: global-norm clipping and AdamW";
  let description = [{
    Adds `func.func @optimizer_step`: the global gradient norm over every parameter in
    declaration order, then one `ingot.adamw` per parameter, with weight decay for parameters
    of rank 2 or more only (not norms and biases). Learning rate, betas, eps, decay and clip
    are run-time inputs.
  }];
  let dependentDialects = ["ingot::IngotDialect", "mlir::func::FuncDialect"];
}

def IngotPadSumsToConcat : Pass<"ingot-pad-sums-to-concat", "mlir::ModuleOp"> {
  let summary = "Turns a sum of zero-padded pieces that tile an axis into one concat";
  let description = [{
    The gradient of slicing a tensor into pieces (q, k and v out of one projection) is, after
    ingot-autodiff, `pad(dq) + pad(dk) + pad(dv)`. When the padded pieces are disjoint and
    cover the axis, the sum is `concat(dq, dk, dv)`: one read of each piece and one write,
    where the pads and adds write each element several times. Exact (x + 0 = x). Runs on both
    targets before ingot-plan-memory; the autodiff tags of the sum move to the concat.
  }];
  let dependentDialects = ["ingot::IngotDialect"];
}

def IngotAssignStorage : Pass<"ingot-assign-storage", "mlir::ModuleOp"> {
  let summary = "Chooses bf16 or fp32 arena storage for every tensor (precision bf16)";
  let description = [{
    For a model with `precision = bf16` (the cuda target runs it): activations and activation
    gradients are stored as bf16, while parameters (fp32 masters), weight gradients, moments,
    scalars and integers stay fp32. Annotates each op with `ingot.storage` (one "bf16" or
    "f32" per result) and each parameter read by a matmul with `ingot.shadow` (it also gets a
    bf16 working copy). Types in the IR do not change. A model with `precision = f32` is left
    as it is. Runs before ingot-plan-memory, which sizes buffers by this storage.
  }];
  let dependentDialects = ["ingot::IngotDialect"];
}

def IngotAttentionViews : Pass<"ingot-attention-views", "mlir::ModuleOp"> {
  let summary = "Marks the q/k/v slices and the dq/dk/dv concat around attention as views";
  let description = [{
    Cuda target only. A slice along the last axis read only as attention's q, k or v, and a
    concat along the last axis of exactly one ingot.attention_grad's dq, dk and dv, get
    `ingot.view`: ingot-plan-memory places a marked slice's result inside its source and the
    concat's inputs inside its result, and the cuda emitter passes row strides to the attention
    kernels instead of copying (compiler/Transforms/AttentionViews.cpp says when it applies).
  }];
  let dependentDialects = ["ingot::IngotDialect"];
}

def IngotPlanMemory : Pass<"ingot-plan-memory", "mlir::ModuleOp"> {
  let summary = "Places every tensor in one arena at a static offset";
  let description = [{
    Persistent tensors (parameters, then all gradients contiguously, then the AdamW moments,
    then the token, target and loss slots) come first; the activations of `@forward_backward`
    and `@forward` share the transient region after them, placed by liveness (first fit, in op
    order; a buffer is free after its last use; `ingot.reshape` and `ingot.param_ref` alias
    their source, a slice marked `ingot.view` is a window of its source, and the inputs of a
    concat marked `ingot.view` are windows of its result, placed when the first is made). Records `ingot.offsets` on every op with tensor results, the parameter
    offsets on each `ingot.param`, and `ingot.memory` on the module.
  }];
  let options = [
    Option<"floatBytes", "float-bytes", "int64_t", /*default=*/"0",
           "Bytes of every float element (4: host f32, 8: host f64); 0 uses each type's size">,
  ];
  let dependentDialects = ["ingot::IngotDialect"];
}

#endif // INGOT_TRANSFORMS_PASSES_TD
