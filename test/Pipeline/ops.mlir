// Round trip of every pipeline and collective op, in its custom form and through the generic
// form.
// RUN: ingot-opt %s | ingot-opt | FileCheck %s
// RUN: ingot-opt %s --mlir-print-op-generic | ingot-opt | FileCheck %s

// CHECK-LABEL: module
// CHECK-DAG: collective.comm @pp axis "pipeline" size 2
// CHECK-DAG: collective.comm @dp axis "data" size 4
// CHECK-DAG: collective.comm @world axis "world" size 8
// CHECK-DAG: collective.comm @tied_wte axis "stages" size 2 {stages = array<i64: 0, 1>}
collective.comm @pp axis "pipeline" size 2
collective.comm @dp axis "data" size 4
collective.comm @world axis "world" size 8
collective.comm @tied_wte axis "stages" size 2 {stages = array<i64: 0, 1>}

// CHECK: pipeline.plan stages 2 chunks 1 microbatches 2 schedule "zb-h1" {
// CHECK-NEXT: pipeline.chunk 0 stage 0 layers 0 to 3 embedding {boundary = [tensor<2x4x8xf32>], forward_time = 1.000000e-03 : f64}
// CHECK-NEXT: pipeline.chunk 1 stage 1 layers 3 to 6 head
// CHECK-NEXT: pipeline.program stage 0 {
// CHECK-NEXT: pipeline.forward microbatch 0 chunk 0
// CHECK-NEXT: pipeline.send_activation microbatch 0 chunk 0 to 1
// CHECK: pipeline.recv_grad microbatch 0 chunk 1 from 1
// CHECK-NEXT: pipeline.backward_input microbatch 0 chunk 0
// CHECK-NEXT: pipeline.backward_weight microbatch 0 chunk 0
// CHECK: pipeline.program stage 1 {
// CHECK-NEXT: pipeline.recv_activation microbatch 0 chunk 0 from 0
// CHECK: pipeline.send_grad microbatch 1 chunk 1 to 0
pipeline.plan stages 2 chunks 1 microbatches 2 schedule "zb-h1" {
  pipeline.chunk 0 stage 0 layers 0 to 3 embedding {forward_time = 1.0e-3 : f64, boundary = [tensor<2x4x8xf32>]}
  pipeline.chunk 1 stage 1 layers 3 to 6 head
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    pipeline.send_activation microbatch 0 chunk 0 to 1
    pipeline.forward microbatch 1 chunk 0
    pipeline.send_activation microbatch 1 chunk 0 to 1
    pipeline.recv_grad microbatch 0 chunk 1 from 1
    pipeline.backward_input microbatch 0 chunk 0
    pipeline.backward_weight microbatch 0 chunk 0
    pipeline.recv_grad microbatch 1 chunk 1 from 1
    pipeline.backward_input microbatch 1 chunk 0
    pipeline.backward_weight microbatch 1 chunk 0
  }
  pipeline.program stage 1 {
    pipeline.recv_activation microbatch 0 chunk 0 from 0
    pipeline.forward microbatch 0 chunk 1
    pipeline.backward_input microbatch 0 chunk 1
    pipeline.send_grad microbatch 0 chunk 1 to 0
    pipeline.recv_activation microbatch 1 chunk 0 from 0
    pipeline.forward microbatch 1 chunk 1
    pipeline.backward_input microbatch 1 chunk 1
    pipeline.send_grad microbatch 1 chunk 1 to 0
    pipeline.backward_weight microbatch 0 chunk 1
    pipeline.backward_weight microbatch 1 chunk 1
  }
}

// After collective-insert: buffers and asynchronous collectives inside a program.
// CHECK: pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
// CHECK: %[[A:.*]] = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
// CHECK-NEXT: %[[S:.*]] = collective.send_start @pp, %[[A]] to 1 : memref<2x4x8xf32>
// CHECK: %[[G:.*]] = pipeline.buffer "grad_bucket" {chunk = 0 : i64, index = 0 : i64} : memref<64xf32>
// CHECK-NEXT: %[[R:.*]] = collective.all_reduce_start "sum" @dp, %[[G]] : memref<64xf32>
// CHECK-NEXT: collective.wait %[[S]], %[[R]]
// CHECK: %[[T:.*]] = pipeline.buffer "tied_grad" {param = @wte} : memref<16x8xf32>
// CHECK-NEXT: collective.all_reduce_start "sum" @tied_wte, %[[T]]
// CHECK: pipeline.buffer "grad_sq_norm" : memref<1xf32>
// CHECK: pipeline.buffer "nonfinite" : memref<1xi32>
// CHECK: collective.all_reduce_start "max" @world
// CHECK: pipeline.program stage 1 {
// CHECK: %[[B:.*]] = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
// CHECK-NEXT: %[[RT:.*]] = collective.recv_start @pp, %[[B]] from 0 : memref<2x4x8xf32>
// CHECK-NEXT: collective.wait %[[RT]]
// CHECK: %[[IN:.*]] = pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 0 : i64} : memref<64xf32>
// CHECK-NEXT: %[[OUT:.*]] = pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 1 : i64} : memref<16xf32>
// CHECK-NEXT: %[[RS:.*]] = collective.reduce_scatter_start "sum" @dp, %[[IN]], %[[OUT]] : memref<64xf32>, memref<16xf32>
// CHECK-NEXT: collective.wait %[[RS]]
// CHECK-NEXT: %[[AG:.*]] = collective.all_gather_start @dp, %[[OUT]], %[[IN]] : memref<16xf32>, memref<64xf32>
// CHECK-NEXT: collective.wait %[[AG]]
pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1 embedding {boundary = [tensor<2x4x8xf32>]}
  pipeline.chunk 1 stage 1 layers 1 to 2 head
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    %a = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
    %s = collective.send_start @pp, %a to 1 : memref<2x4x8xf32>
    pipeline.backward microbatch 0 chunk 0
    %g = pipeline.buffer "grad_bucket" {chunk = 0 : i64, index = 0 : i64} : memref<64xf32>
    %r = collective.all_reduce_start "sum" @dp, %g : memref<64xf32>
    collective.wait %s, %r
    %t = pipeline.buffer "tied_grad" {param = @wte} : memref<16x8xf32>
    %tt = collective.all_reduce_start "sum" @tied_wte, %t : memref<16x8xf32>
    collective.wait %tt
    %n = pipeline.buffer "grad_sq_norm" : memref<1xf32>
    %nt = collective.all_reduce_start "sum" @pp, %n : memref<1xf32>
    collective.wait %nt
    %f = pipeline.buffer "nonfinite" : memref<1xi32>
    %ft = collective.all_reduce_start "max" @world, %f : memref<1xi32>
    collective.wait %ft
  }
  pipeline.program stage 1 {
    %b = pipeline.buffer "activation" {chunk = 0 : i64, microbatch = 0 : i64} : memref<2x4x8xf32>
    %rt = collective.recv_start @pp, %b from 0 : memref<2x4x8xf32>
    collective.wait %rt
    pipeline.forward microbatch 0 chunk 1
    pipeline.backward microbatch 0 chunk 1
    %in = pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 0 : i64} : memref<64xf32>
    %out = pipeline.buffer "grad_bucket" {chunk = 1 : i64, index = 1 : i64} : memref<16xf32>
    %rs = collective.reduce_scatter_start "sum" @dp, %in, %out : memref<64xf32>, memref<16xf32>
    collective.wait %rs
    %ag = collective.all_gather_start @dp, %out, %in : memref<16xf32>, memref<64xf32>
    collective.wait %ag
  }
}

// Interleaved: chunk c lives on stage c mod 2.
// CHECK: pipeline.plan stages 2 chunks 2 microbatches 2 schedule "interleaved"
// CHECK: pipeline.chunk 2 stage 0 layers 2 to 3
pipeline.plan stages 2 chunks 2 microbatches 2 schedule "interleaved" {
  pipeline.chunk 0 stage 0 layers 0 to 1 embedding
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.chunk 2 stage 0 layers 2 to 3
  pipeline.chunk 3 stage 1 layers 3 to 4 head
}
