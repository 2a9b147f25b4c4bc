// pipeline-partition on Inputs/four-layers.mlir: layer 0 is eight times heavier than the others,
// so two stages split it 1 + 3 layers, not 2 + 2. Costs are FLOPs at 1 GFLOP/s; transfers are the
// boundary's bytes over the link between the two stages' first ranks.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition | FileCheck %s --check-prefixes=CHECK,TWO

// Every forward and backward op carries its chunk; every parameter the chunks that read it (the
// tied embedding both).
// CHECK-DAG: ingot.param @emb : tensor<16x8xf32> init {{.*}} {pipeline.chunks = array<i64: 0, 1>}
// CHECK-DAG: ingot.param @layer.0.w : {{.*}} {pipeline.chunks = array<i64: 0>}
// CHECK-DAG: ingot.param @layer.1.w : {{.*}} {pipeline.chunks = array<i64: 1>}
// CHECK-DAG: ingot.param @layer.3.w : {{.*}} {pipeline.chunks = array<i64: 1>}
// CHECK-LABEL: func.func @forward_backward
// CHECK: ingot.embedding {{.*}}pipeline.chunk = 0
// CHECK: ingot.matmul {{.*}}ingot.layer = 1 : i64, pipeline.chunk = 1
// The head's backward, then layer 1's weight gradient, on chunk 1; layer 0's on chunk 0.
// CHECK: ingot.cross_entropy_grad {{.*}}pipeline.chunk = 1
// CHECK: ingot.param_grad @layer.1.w, {{.*}}pipeline.chunk = 1
// CHECK: ingot.param_grad @layer.0.w, {{.*}}pipeline.chunk = 0
// CHECK: ingot.embedding_grad {{.*}}pipeline.chunk = 0

// TWO:      pipeline.plan stages 2 chunks 1 microbatches 4 {
// TWO-NEXT:   pipeline.chunk 0 stage 0 layers 0 to 1 embedding {activation_bytes = {{[0-9]+}} : i64, backward_input_time = {{.*}}, backward_weight_time = {{.*}}, boundary = [tensor<2x4x8xf32>], forward_time = 8.89{{[0-9]*}}E-6 : f64, param_bytes = 768 : i64, transfer_time = 2.560000e-07 : f64, workspace_bytes = 512 : i64}
// The last chunk passes nothing on (no boundary, no transfer time); its backward sends back one
// gradient, of the activation it received.
// TWO-NEXT:   pipeline.chunk 1 stage 1 layers 1 to 4 head {activation_bytes = {{[0-9]+}} : i64, backward_input_time = {{.*}}, backward_weight_time = {{.*}}, forward_time = {{[^,]*}}, grad_boundary = [tensor<2x4x8xf32>], param_bytes = 1280 : i64, workspace_bytes = 512 : i64}{{$}}
// TWO-NEXT: }

// With two replicas per stage the stages' first ranks (0 and 2) sit on different nodes of two
// devices: the transfer takes the slower link, ten times longer.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition | FileCheck %s --check-prefix=DATA
// DATA: pipeline.chunk 0 stage 0 layers 0 to 1 embedding {{.*}}transfer_time = 2.560000e-06 : f64

// Four stages: one layer each. Interleaved, two stages x two chunks: chunk c on stage c mod 2.
// RUN: sed 's/@STAGES@/4/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition | FileCheck %s --check-prefix=FOUR
// FOUR: pipeline.chunk 0 stage 0 layers 0 to 1 embedding
// FOUR: pipeline.chunk 1 stage 1 layers 1 to 2 {
// FOUR: pipeline.chunk 2 stage 2 layers 2 to 3 {
// FOUR: pipeline.chunk 3 stage 3 layers 3 to 4 head
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/2/;s/@SCHEDULE@/interleaved/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition | FileCheck %s --check-prefix=INTER
// INTER: pipeline.plan stages 2 chunks 2 microbatches 4 {
// INTER: pipeline.chunk 0 stage 0 layers 0 to 1 embedding
// INTER: pipeline.chunk 1 stage 1 layers 1 to 2 {
// INTER: pipeline.chunk 2 stage 0 layers 2 to 3 {
// INTER: pipeline.chunk 3 stage 1 layers 3 to 4 head

// Memory shapes the cut. With the heavy layer last, the fastest cut is 3 + 1 layers; in 8300
// bytes stage 0 cannot hold three layers' parameters, gradients, moments and two micro-batches
// of activations (8.5 KiB), so the cut becomes 2 + 2 (stage 1: 8 KiB), the fastest that fits.
// In 8000 bytes no cut fits, and the error explains the fastest.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/heavy-last.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition | FileCheck %s --check-prefix=FAST
// FAST: pipeline.chunk 0 stage 0 layers 0 to 3 embedding
// FAST: pipeline.chunk 1 stage 1 layers 3 to 4 head
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/8300/' %S/Inputs/heavy-last.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition | FileCheck %s --check-prefix=FITS
// FITS: pipeline.chunk 0 stage 0 layers 0 to 2 embedding
// FITS: pipeline.chunk 1 stage 1 layers 2 to 4 head
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/8000/' %S/Inputs/heavy-last.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition 2>&1 | FileCheck %s --check-prefix=NOFIT
// NOFIT: <stdin>:5:1: error: stage 0 needs 8.50 KiB (parameters, gradients and moments 5.00 KiB, activations of the micro-batches the 1f1b schedule keeps in flight 3.00 KiB, workspace 512 bytes) but test-gpu has 7.81 KiB; the largest buffers:

// Errors, located at the module and saying what was asked and why it cannot be done.
// RUN: sed 's/@STAGES@/8/;s/@DATA@/1/;s/@MICRO@/8/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition 2>&1 | FileCheck %s --check-prefix=LAYERS
// LAYERS: <stdin>:7:1: error: the model has 4 layers, which cannot be split into 8 stages x 1 chunk = 8 chunks of at least one layer each
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/12000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition 2>&1 | FileCheck %s --check-prefix=MEMORY
// MEMORY:      <stdin>:7:1: error: stage 0 needs 12.50 KiB (parameters, gradients and moments 3.00 KiB, activations of the micro-batches the gpipe schedule keeps in flight 9.00 KiB, workspace 512 bytes) but test-gpu has 11.72 KiB; the largest buffers:
// MEMORY-NEXT:   2.00 KiB  parameter 'emb' with its gradient and moments at <stdin>:8:3
// MEMORY-NEXT:   1.00 KiB  parameter 'layer.0.w' with its gradient and moments at <stdin>:9:3
// MEMORY-NEXT:   1.00 KiB  ingot.embedding at <stdin>:15:11 (256 bytes kept for the backward x 4 in flight)
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/;s/ingot.device = {[^}]*}, //' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition 2>&1 | FileCheck %s --check-prefix=DEVICE
// DEVICE: error: the pipeline passes need the device of the cluster map as ingot.device on the module (ingotc --cluster writes it)
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -pipeline-partition 2>&1 | FileCheck %s --check-prefix=AUTODIFF
// AUTODIFF: error: pipeline-partition needs func.func @forward_backward (run ingot-autodiff first)
