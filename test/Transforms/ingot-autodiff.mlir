// RUN: ingot-opt %s -ingot-autodiff | FileCheck %s

// @forward stays; @forward_backward is the forward, then the VJPs in reverse, seeded with
// 1/microbatches, ending in one ingot.param_grad per parameter use (the tied table gets two).
// Ops that only feed parameter gradients are tagged "weight", the rest "input".
// CHECK-LABEL: func.func @forward(
// CHECK-NOT: ingot.param_grad
// CHECK-LABEL: func.func @forward_backward
// CHECK-SAME: (%[[TOK:.*]]: tensor<2x4xi32>, %[[TGT:.*]]: tensor<2x4xi32>)
// CHECK: %[[EMB:.*]] = ingot.param_ref @emb
// CHECK: %[[X:.*]] = ingot.embedding %[[EMB]], %[[TOK]]
// CHECK: %[[N:.*]] = ingot.layer_norm %[[X]], %[[G:.*]], %[[B:.*]] {epsilon
// CHECK: %[[LOGITS:.*]] = ingot.matmul %[[N]], %[[EMB2:.*]] {transpose_rhs = true}
// CHECK: %[[LOSS:.*]] = ingot.cross_entropy %[[LOGITS]], %[[TGT]]
// CHECK: %[[SEED:.*]] = ingot.constant {ingot.grad = "input"} dense<2.500000e-01> : tensor<f32>
// CHECK: %[[DLOG:.*]] = ingot.cross_entropy_grad %[[LOGITS]], %[[TGT]], %[[SEED]] {ingot.grad = "input"}
// The activation gradient of the head is input work; its weight gradient is weight work.
// CHECK: %[[DN:.*]] = ingot.matmul %[[DLOG]], %[[EMB2]] {ingot.grad = "input"}
// CHECK: ingot.matmul {{.*}} {ingot.grad = "weight", transpose_lhs = true}
// CHECK: ingot.param_grad @emb, %{{.*}} {ingot.grad = "weight"}
// CHECK: %[[DX:.*]], %[[DG:.*]], %[[DB:.*]] = ingot.layer_norm_grad %[[X]], %[[G]], %[[DN]] {epsilon = {{.*}}, ingot.grad = "input"}
// CHECK-DAG: ingot.param_grad @b, %[[DB]]
// CHECK-DAG: ingot.param_grad @g, %[[DG]]
// CHECK: ingot.embedding_grad %[[TOK]], %[[DX]] {ingot.grad = "weight", vocab_size = 16 : i64}
// CHECK: ingot.param_grad @emb
// CHECK: return %[[LOSS]]
module @ad attributes {ingot.parallel = {microbatches = 4 : i64}} {
  ingot.param @emb : tensor<16x8xf32> init normal(0.0, 0.02)
  ingot.param @g : tensor<8xf32> init ones
  ingot.param @b : tensor<8xf32> init zeros
  func.func @forward(%tok: tensor<2x4xi32>, %tgt: tensor<2x4xi32>) -> tensor<f32> {
    %emb = ingot.param_ref @emb : tensor<16x8xf32>
    %x = ingot.embedding %emb, %tok : tensor<16x8xf32>, tensor<2x4xi32> -> tensor<2x4x8xf32>
    %g = ingot.param_ref @g : tensor<8xf32>
    %b = ingot.param_ref @b : tensor<8xf32>
    %n = ingot.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64} : tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<2x4x8xf32>
    %emb2 = ingot.param_ref @emb : tensor<16x8xf32>
    %logits = ingot.matmul %n, %emb2 {transpose_rhs = true} : tensor<2x4x8xf32>, tensor<16x8xf32> -> tensor<2x4x16xf32>
    %loss = ingot.cross_entropy %logits, %tgt : tensor<2x4x16xf32>, tensor<2x4xi32> -> tensor<f32>
    return %loss : tensor<f32>
  }
}
