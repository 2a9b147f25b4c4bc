// One case per verifier rule of the pipeline and collective dialects.
// RUN: ingot-opt %s -split-input-file -verify-diagnostics

//===--- pipeline.plan and pipeline.chunk -------------------------------===//

// expected-error @+1 {{'pipeline.plan' op needs 2 chunks (2 stages x 1), found 1}}
pipeline.plan stages 2 chunks 1 microbatches 2 {
  pipeline.chunk 0 stage 0 layers 0 to 1 embedding
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 2 {
  pipeline.chunk 0 stage 0 layers 0 to 1 embedding
  // expected-error @+1 {{'pipeline.chunk' op must run on stage 1 (chunk mod stages), found stage 0}}
  pipeline.chunk 1 stage 0 layers 1 to 2 head
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 2 {
  pipeline.chunk 0 stage 0 layers 0 to 2 embedding
  // expected-error @+1 {{'pipeline.chunk' op starts at layer 3 but chunk 0 ends at layer 2}}
  pipeline.chunk 1 stage 1 layers 3 to 4 head
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 2 {
  // expected-error @+1 {{'pipeline.chunk' op needs at least one layer, found layers 2 to 2}}
  pipeline.chunk 0 stage 0 layers 2 to 2 embedding
  pipeline.chunk 1 stage 1 layers 2 to 4 head
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 2 {
  pipeline.chunk 0 stage 0 layers 0 to 2
  // expected-error @+1 {{'pipeline.chunk' op holds the embedding, which belongs to chunk 0}}
  pipeline.chunk 1 stage 1 layers 2 to 4 embedding
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 2 {
  // expected-error @+1 {{'pipeline.chunk' op times must be finite and not negative}}
  pipeline.chunk 0 stage 0 layers 0 to 2 {forward_time = -1.0 : f64}
}

// -----

// expected-error @+1 {{'pipeline.plan' op has 2 chunks per stage, which only the "interleaved" schedule runs, but its schedule is "1f1b"}}
pipeline.plan stages 1 chunks 2 microbatches 2 schedule "1f1b" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 0 layers 1 to 2
}

// -----

// expected-error @+1 {{'pipeline.plan' op schedule must be "gpipe", "1f1b", "interleaved" or "zb-h1", found "2f2b"}}
pipeline.plan stages 1 chunks 1 microbatches 1 schedule "2f2b" {
  pipeline.chunk 0 stage 0 layers 0 to 1
}

//===--- pipeline.program -----------------------------------------------===//

// -----

// expected-error @+1 {{'pipeline.plan' op needs one program per stage (2), found 1}}
pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
  }
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 2 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  // expected-error @+1 {{'pipeline.program' op of stage 0 never runs the forward of micro-batch 1 on chunk 0}}
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    pipeline.backward microbatch 0 chunk 0
  }
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.program stage 0 {
    // expected-error @+1 {{'pipeline.backward' op runs before the forward of micro-batch 0 on chunk 0}}
    pipeline.backward microbatch 0 chunk 0
    pipeline.forward microbatch 0 chunk 0
  }
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 1 schedule "zb-h1" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    // expected-error @+1 {{'pipeline.backward_weight' op runs before the backward_input of micro-batch 0 on chunk 0}}
    pipeline.backward_weight microbatch 0 chunk 0
    pipeline.backward_input microbatch 0 chunk 0
  }
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 1 schedule "zb-h1" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  // expected-error @+1 {{'pipeline.program' op of stage 0 never runs the backward_weight of micro-batch 0 on chunk 0}}
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    pipeline.backward_input microbatch 0 chunk 0
  }
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    // expected-error @+1 {{'pipeline.forward' op repeats the forward of micro-batch 0 on chunk 0}}
    pipeline.forward microbatch 0 chunk 0
    pipeline.backward microbatch 0 chunk 0
  }
}

// -----

pipeline.plan stages 1 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.program stage 0 {
    // expected-error @+1 {{'pipeline.forward' op names micro-batch 1 but the plan has 1}}
    pipeline.forward microbatch 1 chunk 0
  }
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
    // expected-error @+1 {{'pipeline.forward' op runs chunk 1, which lives on stage 1, in the program of stage 0}}
    pipeline.forward microbatch 0 chunk 1
  }
  pipeline.program stage 1 {
  }
}

//===--- Transfers --------------------------------------------------------===//

// -----

pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    pipeline.recv_grad microbatch 0 chunk 1 from 1
    pipeline.backward microbatch 0 chunk 0
  }
  pipeline.program stage 1 {
    // expected-error @+1 {{'pipeline.recv_activation' op has no matching send on stage 0}}
    pipeline.recv_activation microbatch 0 chunk 0 from 0
    pipeline.forward microbatch 0 chunk 1
    pipeline.backward microbatch 0 chunk 1
    pipeline.send_grad microbatch 0 chunk 1 to 0
  }
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    pipeline.send_activation microbatch 0 chunk 0 to 1
    pipeline.recv_grad microbatch 0 chunk 1 from 1
    pipeline.backward microbatch 0 chunk 0
  }
  pipeline.program stage 1 {
    // expected-error @+1 {{'pipeline.forward' op runs before its activation is received}}
    pipeline.forward microbatch 0 chunk 1
    pipeline.recv_activation microbatch 0 chunk 0 from 0
    pipeline.backward microbatch 0 chunk 1
    pipeline.send_grad microbatch 0 chunk 1 to 0
  }
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 1 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
    pipeline.forward microbatch 0 chunk 0
    pipeline.send_activation microbatch 0 chunk 0 to 1
    // expected-error @+1 {{'pipeline.backward' op runs before the gradient of micro-batch 0 from chunk 1 is received}}
    pipeline.backward microbatch 0 chunk 0
    pipeline.recv_grad microbatch 0 chunk 1 from 1
  }
  pipeline.program stage 1 {
    pipeline.recv_activation microbatch 0 chunk 0 from 0
    pipeline.forward microbatch 0 chunk 1
    pipeline.backward microbatch 0 chunk 1
    pipeline.send_grad microbatch 0 chunk 1 to 0
  }
}

// -----

pipeline.plan stages 3 chunks 1 microbatches 1 {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.chunk 2 stage 2 layers 2 to 3
  pipeline.program stage 0 {
    // expected-error @+1 {{'pipeline.send_activation' op must name stage 1 as its peer, found 2}}
    pipeline.send_activation microbatch 0 chunk 0 to 2
  }
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 1 {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
    // expected-error @+1 {{'pipeline.send_grad' op moves data of chunk 0 to chunk -1, which does not exist}}
    pipeline.send_grad microbatch 0 chunk 0 to 1
  }
}

// -----

pipeline.plan stages 2 chunks 1 microbatches 1 {
  pipeline.chunk 0 stage 0 layers 0 to 1
  pipeline.chunk 1 stage 1 layers 1 to 2
  pipeline.program stage 0 {
    // expected-error @+1 {{'pipeline.recv_activation' op belongs in the program of stage 1, found in stage 0}}
    pipeline.recv_activation microbatch 0 chunk 0 from 0
  }
}

// -----

func.func @outside() {
  // expected-error @+1 {{'pipeline.forward' op expects parent op 'pipeline.program'}}
  pipeline.forward microbatch 0 chunk 0
  return
}

//===--- pipeline.buffer ---------------------------------------------------===//

// -----

// expected-error @+1 {{'pipeline.buffer' op kind must be activation, activation_grad, grad_bucket, tied_grad, grad_sq_norm or nonfinite, found "weights"}}
%0 = pipeline.buffer "weights" : memref<4xf32>

// -----

// expected-error @+1 {{'pipeline.buffer' op of kind "activation" needs `microbatch`}}
%0 = pipeline.buffer "activation" {chunk = 0 : i64} : memref<4xf32>

// -----

// expected-error @+1 {{'pipeline.buffer' op of kind "grad_sq_norm" takes no `chunk`}}
%0 = pipeline.buffer "grad_sq_norm" {chunk = 0 : i64} : memref<1xf32>

// -----

// expected-error @+1 {{'pipeline.buffer' op of kind "nonfinite" is one i32, found 'memref<2xi32>'}}
%0 = pipeline.buffer "nonfinite" : memref<2xi32>

//===--- collective --------------------------------------------------------===//

// -----

// expected-error @+1 {{'collective.comm' op axis must be "data", "pipeline", "stages" or "world", found "tensor"}}
collective.comm @c axis "tensor" size 2

// -----

// expected-error @+1 {{'collective.comm' op on axis "stages" needs the list `stages`}}
collective.comm @c axis "stages" size 2

// -----

// expected-error @+1 {{'collective.comm' op lists 2 stages but has size 3}}
collective.comm @c axis "stages" size 3 {stages = array<i64: 0, 3>}

// -----

// expected-error @+1 {{'collective.comm' op stages must be listed in increasing order, found 3 before 0}}
collective.comm @c axis "stages" size 2 {stages = array<i64: 3, 0>}

// -----

// expected-error @+1 {{'collective.comm' op attribute 'size' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
collective.comm @c axis "data" size 0

// -----

collective.comm @dp axis "data" size 4
func.func @never_waited(%b: memref<8xf32>) {
  // expected-error @+1 {{'collective.all_reduce_start' op token must be waited exactly once, found 0 waits}}
  %t = collective.all_reduce_start "sum" @dp, %b : memref<8xf32>
  return
}

// -----

collective.comm @dp axis "data" size 4
func.func @waited_twice(%b: memref<8xf32>) {
  // expected-error @+1 {{'collective.all_reduce_start' op token must be waited exactly once, found 2 waits}}
  %t = collective.all_reduce_start "sum" @dp, %b : memref<8xf32>
  collective.wait %t
  collective.wait %t
  return
}

// -----

collective.comm @dp axis "data" size 4
func.func @bad_reduction(%b: memref<8xf32>) {
  // expected-error @+1 {{'collective.all_reduce_start' op reduction must be sum, max or min, found "avg"}}
  %t = collective.all_reduce_start "avg" @dp, %b : memref<8xf32>
  collective.wait %t
  return
}

// -----

func.func @no_comm(%b: memref<8xf32>) {
  // expected-error @+1 {{'collective.all_reduce_start' op names @dp, which is not a collective.comm}}
  %t = collective.all_reduce_start "sum" @dp, %b : memref<8xf32>
  collective.wait %t
  return
}

// -----

collective.comm @dp axis "data" size 4
func.func @scatter_sizes(%in: memref<8xf32>, %out: memref<4xf32>) {
  // expected-error @+1 {{'collective.reduce_scatter_start' op input must have 4 x 4 = 16 elements (the group size times output), found 8}}
  %t = collective.reduce_scatter_start "sum" @dp, %in, %out : memref<8xf32>, memref<4xf32>
  collective.wait %t
  return
}

// -----

collective.comm @dp axis "data" size 2
func.func @gather_types(%in: memref<4xf32>, %out: memref<8xi32>) {
  // expected-error @+1 {{'collective.all_gather_start' op output and input must have one element type, found 'i32' and 'f32'}}
  %t = collective.all_gather_start @dp, %in, %out : memref<4xf32>, memref<8xi32>
  collective.wait %t
  return
}

// -----

collective.comm @pp axis "pipeline" size 2
func.func @peer(%b: memref<8xf32>) {
  // expected-error @+1 {{'collective.send_start' op peer 2 is outside @pp, which has 2 ranks}}
  %t = collective.send_start @pp, %b to 2 : memref<8xf32>
  collective.wait %t
  return
}

// -----

collective.comm @pp axis "pipeline" size 2
func.func @wait_before(%b: memref<8xf32>, %t0: !collective.token) {
  // expected-error @+1 {{'collective.wait' op needs at least one token}}
  collective.wait
  return
}
