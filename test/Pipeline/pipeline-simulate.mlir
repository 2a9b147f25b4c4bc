// pipeline-simulate: a hand-written plan that every verifier rule accepts (each transfer is
// matched, each receive comes before its use) but that can never finish: stage 0 runs micro-batch
// 1 first and waits for its gradient, while stage 1 waits for micro-batch 0's activation, which
// stage 0 only sends later.
// RUN: not ingot-opt %s -pipeline-simulate 2>&1 | FileCheck %s
// CHECK: pipeline-simulate.mlir:[[@LINE+1]]:1: error: the stage programs deadlock: stage 0 waits at the backward of micro-batch 1 on chunk 0; stage 1 waits at the forward of micro-batch 0 on chunk 1
pipeline.plan stages 2 chunks 1 microbatches 2 schedule "gpipe" {
  pipeline.chunk 0 stage 0 layers 0 to 1 embedding {forward_time = 1.0 : f64, backward_input_time = 1.0 : f64, backward_weight_time = 1.0 : f64, boundary = [tensor<2x4x8xf32>]}
  pipeline.chunk 1 stage 1 layers 1 to 2 head {forward_time = 1.0 : f64, backward_input_time = 1.0 : f64, backward_weight_time = 1.0 : f64}
  pipeline.program stage 0 {
    pipeline.forward microbatch 1 chunk 0
    pipeline.send_activation microbatch 1 chunk 0 to 1
    pipeline.recv_grad microbatch 1 chunk 1 from 1
    pipeline.backward microbatch 1 chunk 0
    pipeline.forward microbatch 0 chunk 0
    pipeline.send_activation microbatch 0 chunk 0 to 1
    pipeline.recv_grad microbatch 0 chunk 1 from 1
    pipeline.backward microbatch 0 chunk 0
  }
  pipeline.program stage 1 {
    pipeline.recv_activation microbatch 0 chunk 0 from 0
    pipeline.forward microbatch 0 chunk 1
    pipeline.backward microbatch 0 chunk 1
    pipeline.send_grad microbatch 0 chunk 1 to 0
    pipeline.recv_activation microbatch 1 chunk 0 from 0
    pipeline.forward microbatch 1 chunk 1
    pipeline.backward microbatch 1 chunk 1
    pipeline.send_grad microbatch 1 chunk 1 to 0
  }
}
