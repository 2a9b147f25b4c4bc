// pipeline-simulate=blocking: would the collectives finish if every operation blocked (a send
// waiting for its receive, as Comm.h's send does past the eager size)? The programs of
// collective-insert receive early and wait late; with asynchronous starts and waits they finish
// (pipeline-simulate), but run blocking they deadlock under every schedule. collective-insert's
// `blocking` option orders the transfers of all stages by one global walk instead, and then
// every schedule finishes with blocking calls (less overlap: each call waits at once).
// RUN: sed 's/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -pipeline-simulate 2>&1 >/dev/null | FileCheck %s --check-prefix=ASYNC
// ASYNC: remark: predicted step
// RUN: sed 's/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -pipeline-simulate=blocking 2>&1 | FileCheck %s --check-prefix=ONE
// ONE: <stdin>:7:1: error: with blocking communication the stage programs deadlock: stage 0 blocks in the receive of activation_grad mb 0 chunk 1 #0 from stage 1; stage 1 blocks in the receive of activation mb 1 chunk 0 #0 from stage 0
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -pipeline-simulate=blocking 2>&1 | FileCheck %s --check-prefix=GPIPE
// GPIPE: error: with blocking communication the stage programs deadlock: stage 0 blocks in the receive of activation_grad mb 0 chunk 1 #0 from stage 1; stage 1 blocks in the receive of activation mb 3 chunk 0 #0 from stage 0

// RUN: for s in gpipe 1f1b zb-h1; do sed "s/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/$s/;s/@MEMORY@/1000000000/" %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert=blocking -pipeline-simulate=blocking -mlir-print-op-on-diagnostic=false 2>&1 >/dev/null; done | FileCheck %s --check-prefix=ORDERED3
// ORDERED3-NOT: error
// ORDERED3-COUNT-3: remark: the collectives finish as blocking operations
// ORDERED3-NOT: error
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/2/;s/@SCHEDULE@/interleaved/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert=blocking -pipeline-simulate=blocking -mlir-print-op-on-diagnostic=false 2>&1 >/dev/null | FileCheck %s --check-prefix=ORDERED
// ORDERED-NOT: error
// ORDERED: remark: the collectives finish as blocking operations
// ORDERED-NOT: error
// Each transfer is waited as soon as it starts and placed as soon as its data exists: stage 0
// sends both activations it has before taking any gradient, and receives each gradient at the
// point of its program where the last stage produced it.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert=blocking | FileCheck %s --check-prefix=ORDER
// ORDER-LABEL: pipeline.program stage 0 {
// ORDER-NEXT:    pipeline.forward microbatch 0 chunk 0
// ORDER-NEXT:    %[[A0:.*]] = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64}
// ORDER-NEXT:    %[[S0:.*]] = collective.send_start @pp, %[[A0]] to 1
// ORDER-NEXT:    collective.wait %[[S0]]
// ORDER-NEXT:    pipeline.forward microbatch 1 chunk 0
// ORDER-NEXT:    pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 1 : i64}
// ORDER-NEXT:    %[[S1:.*]] = collective.send_start @pp
// ORDER-NEXT:    collective.wait %[[S1]]
// ORDER-NEXT:    pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 0 : i64}
// ORDER-NEXT:    %[[R0:.*]] = collective.recv_start @pp
// ORDER-NEXT:    collective.wait %[[R0]]
// ORDER:         pipeline.backward microbatch 0 chunk 0

// GPipe with each receive where its data is needed, by hand: it finishes blocking, including
// the tied-weight and norm reductions across the stages.
// RUN: ingot-opt %s -pipeline-simulate=blocking 2>&1 | FileCheck %s --check-prefix=HAND
// HAND: remark: the collectives finish as blocking operations
collective.comm @pp axis "pipeline" size 2
collective.comm @tied axis "stages" size 2 {stages = array<i64: 0, 1>}
pipeline.plan stages 2 chunks 1 microbatches 2 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1 embedding {boundary = [tensor<2x4x8xf32>]}
  pipeline.chunk 1 stage 1 layers 1 to 2 head {grad_boundary = [tensor<2x4x8xf32>]}
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    %a0 = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
    %s0 = collective.send_start @pp, %a0 to 1 : memref<2x4x8xf32>
    collective.wait %s0
    pipeline.forward microbatch 1 chunk 0
    %a1 = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 1 : i64} : memref<2x4x8xf32>
    %s1 = collective.send_start @pp, %a1 to 1 : memref<2x4x8xf32>
    collective.wait %s1
    %g0 = pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
    %r0 = collective.recv_start @pp, %g0 from 1 : memref<2x4x8xf32>
    collective.wait %r0
    pipeline.backward microbatch 0 chunk 0
    %g1 = pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 1 : i64} : memref<2x4x8xf32>
    %r1 = collective.recv_start @pp, %g1 from 1 : memref<2x4x8xf32>
    collective.wait %r1
    pipeline.backward microbatch 1 chunk 0
    %t = pipeline.buffer "tied_grad" {param = @emb} : memref<16x8xf32>
    %tt = collective.all_reduce_start "sum" @tied, %t : memref<16x8xf32>
    collective.wait %tt
    %n = pipeline.buffer "grad_sq_norm" : memref<1xf32>
    %nt = collective.all_reduce_start "sum" @pp, %n : memref<1xf32>
    collective.wait %nt
  }
  pipeline.program stage 1 {
    %a0 = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
    %r0 = collective.recv_start @pp, %a0 from 0 : memref<2x4x8xf32>
    collective.wait %r0
    pipeline.forward microbatch 0 chunk 1
    %a1 = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 1 : i64} : memref<2x4x8xf32>
    %r1 = collective.recv_start @pp, %a1 from 0 : memref<2x4x8xf32>
    collective.wait %r1
    pipeline.forward microbatch 1 chunk 1
    pipeline.backward microbatch 0 chunk 1
    %g0 = pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
    %s0 = collective.send_start @pp, %g0 to 0 : memref<2x4x8xf32>
    collective.wait %s0
    pipeline.backward microbatch 1 chunk 1
    %g1 = pipeline.buffer "activation_grad" {chunk = 1 : i64, microbatch = 1 : i64} : memref<2x4x8xf32>
    %s1 = collective.send_start @pp, %g1 to 0 : memref<2x4x8xf32>
    collective.wait %s1
    %t = pipeline.buffer "tied_grad" {param = @emb} : memref<16x8xf32>
    %tt = collective.all_reduce_start "sum" @tied, %t : memref<16x8xf32>
    collective.wait %tt
    %n = pipeline.buffer "grad_sq_norm" : memref<1xf32>
    %nt = collective.all_reduce_start "sum" @pp, %n : memref<1xf32>
    collective.wait %nt
  }
}
