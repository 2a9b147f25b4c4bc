// pipeline-outline on Inputs/four-layers.mlir over two stages: each chunk's forward, input
// gradient and weight gradient become functions whose arguments and results are exactly what
// crosses between steps, each labelled with where it comes from or goes.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-outline | FileCheck %s

// The one-rank step stays.
// CHECK-LABEL: func.func @forward_backward(

// Chunk 0's forward reads the tokens; its last result is the activation chunk 1's forward reads
// (sent to stage 1) and chunk 1's weight gradient reads (kept there). Parameters are read where
// they are used, never passed.
// CHECK-LABEL: func.func @chunk0_forward(%arg0: tensor<2x4xi32> {pipeline.source = "input 0"})
// CHECK-SAME:    tensor<2x4x8xf32> {pipeline.uses = ["backward_input of chunk 0"]}, tensor<2x4x8xf32> {pipeline.uses = ["backward_weight of chunk 1", "forward of chunk 1"]})
// CHECK-SAME:    attributes {pipeline.chunk = 0 : i64, pipeline.stage = 0 : i64, pipeline.step = "forward"}
// CHECK-NEXT:    ingot.param_ref @emb
// CHECK-NEXT:    ingot.embedding
// CHECK-NOT:   func.func
// CHECK:         return

// Its input-gradient backward starts from the gradient chunk 1 sends back.
// CHECK-LABEL: func.func @chunk0_backward_input(%arg0: tensor<2x4x8xf32> {pipeline.source = "forward of chunk 0"}, %arg1: tensor<2x4x8xf32> {pipeline.source = "backward_input of chunk 1"})
// CHECK-SAME:    pipeline.step = "backward_input"

// The weight gradients end in ingot.param_grad and return nothing.
// CHECK-LABEL: func.func @chunk0_backward_weight(
// CHECK-SAME:    pipeline.step = "backward_weight"
// CHECK:         ingot.param_grad @layer.0.w
// CHECK:         ingot.embedding_grad
// CHECK:         ingot.param_grad @emb
// CHECK-NEXT:    return{{$}}

// Chunk 1 receives the activation and reads the targets; it returns the loss.
// CHECK-LABEL: func.func @chunk1_forward(%arg0: tensor<2x4x8xf32> {pipeline.source = "forward of chunk 0"}, %arg1: tensor<2x4xi32> {pipeline.source = "input 1"})
// CHECK-SAME:    tensor<f32> {pipeline.uses = ["the loss"]})
// CHECK-SAME:    pipeline.stage = 1 : i64
// Its input gradient returns, last, the gradient chunk 0's backward starts from.
// CHECK-LABEL: func.func @chunk1_backward_input(
// CHECK-SAME:    tensor<2x4x8xf32> {pipeline.uses = ["backward_input of chunk 0"]})
// CHECK-NEXT:    ingot.param_ref @emb
// CHECK:         ingot.cross_entropy_grad
// Layer 1's weight gradient reads the layer's input, which chunk 0 computed and sent.
// CHECK-LABEL: func.func @chunk1_backward_weight(
// CHECK-SAME:    {pipeline.source = "forward of chunk 0"}
// CHECK:         ingot.param_grad @layer.1.w
// CHECK:       pipeline.plan

// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-outline 2>&1 | FileCheck %s --check-prefix=PLAN
// PLAN: error: pipeline-outline needs @forward_backward and a pipeline.plan (run ingot-autodiff and pipeline-partition first)
