// pipeline-simulate=blocking: would the collectives finish if every operation blocked (a send
// waiting for its receive, as Comm.h's send does past the eager size)? The programs of
// collective-insert receive early and wait late; with asynchronous starts and waits they finish
// (pipeline-simulate), but run blocking they deadlock under every schedule: the execution half
// needs non-blocking send/recv (or a paired send-receive) in the runtime.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -pipeline-simulate 2>&1 >/dev/null | FileCheck %s --check-prefix=ASYNC
// ASYNC: remark: predicted step
// RUN: sed 's/@STAGES@/2/;s/@DATA@/2/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -pipeline-simulate=blocking 2>&1 | FileCheck %s --check-prefix=ONE
// ONE: <stdin>:7:1: error: with blocking communication the stage programs deadlock: stage 0 blocks in the receive of activation_grad mb 0 chunk 1 #0 from stage 1; stage 1 blocks in the receive of activation mb 1 chunk 0 #0 from stage 0
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/4/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -collective-insert -pipeline-simulate=blocking 2>&1 | FileCheck %s --check-prefix=GPIPE
// GPIPE: error: with blocking communication the stage programs deadlock: stage 0 blocks in the receive of activation_grad mb 0 chunk 1 #0 from stage 1; stage 1 blocks in the receive of activation mb 3 chunk 0 #0 from stage 0

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
