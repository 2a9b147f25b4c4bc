// collective-insert on Inputs/four-layers.mlir over two stages x two replicas, 1F1B, two
// micro-batches, buckets of at most 512 bytes (so the 1 KiB of gradients on stage 1 fill three).
// RUN: sed 's/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/2/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert=bucket-bytes=512 | FileCheck %s

// Communicators by their place in the layout; the tied embedding/head table gets its own.
// CHECK:      collective.comm @pp axis "pipeline" size 2
// CHECK-NEXT: collective.comm @dp axis "data" size 2
// CHECK-NEXT: collective.comm @world axis "world" size 4
// CHECK-NEXT: collective.comm @tied_emb axis "stages" size 2 {stages = array<i64: 0, 1>}

// Stage 0: each activation is sent after its forward; the gradient it needs next is received
// from one compute step ahead and waited right before its backward.
// CHECK-LABEL: pipeline.program stage 0 {
// CHECK-NEXT: pipeline.forward microbatch 0 chunk 0
// CHECK-NEXT: %[[A0:.*]] = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
// CHECK-NEXT: %[[S0:.*]] = collective.send_start @pp, %[[A0]] to 1 : memref<2x4x8xf32>
// CHECK-NEXT: %[[G0:.*]] = pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
// CHECK-NEXT: %[[R0:.*]] = collective.recv_start @pp, %[[G0]] from 1 : memref<2x4x8xf32>
// CHECK-NEXT: pipeline.forward microbatch 1 chunk 0
// CHECK:      collective.wait %[[R0]]
// CHECK-NEXT: %{{.*}} = pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 1 : i64}
// CHECK-NEXT: %[[R1:.*]] = collective.recv_start @pp
// CHECK-NEXT: pipeline.backward microbatch 0 chunk 0
// CHECK-NEXT: collective.wait %[[R1]]
// CHECK-NEXT: pipeline.backward microbatch 1 chunk 0
// The last backward of the chunk makes its gradients final: buckets start right away, the last
// declared parameters first.
// CHECK-NEXT: %[[B0:.*]] = pipeline.buffer "grad_bucket" {chunk = 0 : i64, index = 0 : i64, pipeline.params = [@layer.0.w]} : memref<64xf32>
// CHECK-NEXT: %[[D0:.*]] = collective.all_reduce_start "sum" @dp, %[[B0]] : memref<64xf32>
// CHECK-NEXT: %[[B1:.*]] = pipeline.buffer "grad_bucket" {chunk = 0 : i64, index = 1 : i64, pipeline.params = [@emb]} : memref<128xf32>
// CHECK-NEXT: %[[D1:.*]] = collective.all_reduce_start "sum" @dp, %[[B1]] : memref<128xf32>
// CHECK-NEXT: collective.wait %[[S0]], %{{.*}}, %[[D0]], %[[D1]]
// Then the reductions that need every gradient: tied weights, the norm, the non-finite decision.
// CHECK-NEXT: %[[T:.*]] = pipeline.buffer "tied_grad" {param = @emb} : memref<16x8xf32>
// CHECK-NEXT: %[[TT:.*]] = collective.all_reduce_start "sum" @tied_emb, %[[T]] : memref<16x8xf32>
// CHECK-NEXT: collective.wait %[[TT]]
// CHECK-NEXT: %[[N:.*]] = pipeline.buffer "grad_sq_norm" : memref<1xf32>
// CHECK-NEXT: %[[NT:.*]] = collective.all_reduce_start "sum" @pp, %[[N]] : memref<1xf32>
// CHECK-NEXT: collective.wait %[[NT]]
// CHECK-NEXT: %[[F:.*]] = pipeline.buffer "nonfinite" : memref<1xi32>
// CHECK-NEXT: %[[FT:.*]] = collective.all_reduce_start "max" @world, %[[F]] : memref<1xi32>
// CHECK-NEXT: collective.wait %[[FT]]
// CHECK-NEXT: }

// Stage 1: its first activation is waited at once; the gradient it sends goes before the
// buckets, which nothing waits for until the end.
// CHECK-LABEL: pipeline.program stage 1 {
// CHECK-NEXT: %[[X0:.*]] = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64}
// CHECK-NEXT: %[[XR:.*]] = collective.recv_start @pp, %[[X0]] from 0
// CHECK-NEXT: collective.wait %[[XR]]
// CHECK-NEXT: pipeline.forward microbatch 0 chunk 1
// CHECK:      pipeline.backward microbatch 1 chunk 1
// CHECK-NEXT: pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 1 : i64}
// CHECK-NEXT: collective.send_start @pp, %{{.*}} to 0
// CHECK-NEXT: pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 0 : i64, pipeline.params = [@layer.3.w, @layer.2.w]} : memref<128xf32>
// CHECK:      pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 1 : i64, pipeline.params = [@layer.1.w]} : memref<64xf32>
// CHECK:      pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 2 : i64, pipeline.params = [@emb]} : memref<128xf32>

// One replica: no data-parallel communicator and no buckets; one stage and one replica: nothing
// at all to communicate.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/2/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert | FileCheck %s --check-prefix=NODP
// NODP-NOT: @dp
// NODP-NOT: grad_bucket
// NODP: collective.comm @world axis "world" size 2
// RUN: sed 's/@STAGES@/1/;s/@DATA@/1/;s/@MICRO@/2/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert | FileCheck %s --check-prefix=ONE
// ONE-NOT: collective.
// ONE: pipeline.program stage 0 {
// ONE-NOT: collective.

// It runs once, on a scheduled plan.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/2/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -collective-insert 2>&1 | FileCheck %s --check-prefix=UNSCHEDULED
// UNSCHEDULED: error: collective-insert needs a scheduled pipeline.plan (run pipeline-partition and pipeline-schedule first)
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/2/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -collective-insert 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: collective-insert already ran: the module has collective.comm ops
