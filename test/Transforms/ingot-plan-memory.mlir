// RUN: ingot-opt %s -ingot-autodiff -ingot-optimizer -ingot-plan-memory=float-bytes=4 | FileCheck %s

// Persistent: parameters, then every gradient contiguously, then m, then v, then tokens,
// targets and the loss, each 256-byte aligned. Activations come after, placed by liveness:
// a buffer is reused once its last reader is done; views (param_ref, reshape) take their
// source's offset.
// CHECK-LABEL: module
// CHECK-SAME: ingot.memory = {arena_bytes = 4352 : i64, float_bytes = 4 : i64, forward_backward_peak_bytes = 1536 : i64, forward_peak_bytes = 512 : i64
// CHECK-SAME: grads_bytes = 512 : i64, grads_offset = 512 : i64, input_offsets = array<i64: 2048, 2304>, loss_offset = 2560 : i64, persistent_bytes = 2816 : i64
// CHECK: ingot.param @emb {{.*}} {ingot.grad_offset = 512 : i64, ingot.m_offset = 1024 : i64, ingot.offset = 0 : i64, ingot.v_offset = 1536 : i64}
// CHECK: ingot.param @w {{.*}} {ingot.grad_offset = 768 : i64, ingot.m_offset = 1280 : i64, ingot.offset = 256 : i64, ingot.v_offset = 1792 : i64}
// CHECK-LABEL: func.func @forward(
// CHECK: ingot.param_ref @emb {ingot.offsets = array<i64: 0>}
// CHECK: %[[X:.*]] = ingot.embedding {{.*}} {ingot.offsets = array<i64: 2816>}
// CHECK: ingot.param_ref @w {ingot.offsets = array<i64: 256>}
// CHECK: %[[A:.*]] = ingot.matmul %[[X]], {{.*}} {ingot.offsets = array<i64: 3072>}
// x is dead after a: b reuses its buffer.
// CHECK: %[[B:.*]] = ingot.tanh %[[A]] {ingot.offsets = array<i64: 2816>}
// CHECK: ingot.reshape %[[B]] {ingot.offsets = array<i64: 2816>}
// CHECK: ingot.cross_entropy {{.*}} {ingot.offsets = array<i64: 3072>}
module {
  ingot.param @emb : tensor<8x8xf32> init normal(0.0, 0.02)
  ingot.param @w : tensor<8x8xf32> init normal(0.0, 0.02)
  func.func @forward(%tok: tensor<2x4xi32>, %tgt: tensor<2x4xi32>) -> tensor<f32> {
    %emb = ingot.param_ref @emb : tensor<8x8xf32>
    %x = ingot.embedding %emb, %tok : tensor<8x8xf32>, tensor<2x4xi32> -> tensor<2x4x8xf32>
    %w = ingot.param_ref @w : tensor<8x8xf32>
    %a = ingot.matmul %x, %w : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %b = ingot.tanh %a : tensor<2x4x8xf32>
    %c = ingot.reshape %b : tensor<2x4x8xf32> to tensor<8x8xf32>
    %d = ingot.reshape %c : tensor<8x8xf32> to tensor<2x4x8xf32>
    %loss = ingot.cross_entropy %d, %tgt : tensor<2x4x8xf32>, tensor<2x4xi32> -> tensor<f32>
    return %loss : tensor<f32>
  }
}
