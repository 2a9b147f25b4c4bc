// RUN: ingot-opt %s -ingot-optimizer | FileCheck %s

// One global norm over every gradient in declaration order, then AdamW per parameter, with
// weight decay only for matrices (not norms and biases).
// CHECK-LABEL: func.func @optimizer_step()
// CHECK: %[[NORM:.*]] = ingot.global_grad_norm [@emb, @g, @w] : tensor<f64>
// CHECK: ingot.adamw @emb, %[[NORM]] {weight_decay = true}
// CHECK: ingot.adamw @g, %[[NORM]] {weight_decay = false}
// CHECK: ingot.adamw @w, %[[NORM]] {weight_decay = true}
// CHECK: return
module {
  ingot.param @emb : tensor<16x8xf32> init normal(0.0, 0.02)
  ingot.param @g : tensor<8xf32> init ones
  ingot.param @w : tensor<2x8x8xf32> init normal(0.0, 0.02)
}
