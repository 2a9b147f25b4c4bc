// Round trip of every ingot op, in its custom form and through the generic form.
// RUN: ingot-opt %s | ingot-opt | FileCheck %s
// RUN: ingot-opt %s --mlir-print-op-generic | ingot-opt | FileCheck %s

// CHECK: ingot.param @wte : tensor<64x16xf32> init normal(0.000000e+00, 2.000000e-02)
ingot.param @wte : tensor<64x16xf32> init normal(0.0, 0.02)
// CHECK: ingot.param @ln_bias : tensor<16xf32> init zeros
ingot.param @ln_bias : tensor<16xf32> init zeros
// CHECK: ingot.param @ln_gain : tensor<16xf32> init ones
ingot.param @ln_gain : tensor<16xf32> init ones
// CHECK: ingot.param @u : tensor<16x16xbf16> init uniform(-1.000000e-01, 1.000000e-01)
ingot.param @u : tensor<16x16xbf16> init uniform(-0.1, 0.1)
// CHECK: ingot.param @c : tensor<16xf64> init constant(-1.500000e+00)
ingot.param @c : tensor<16xf64> init constant(-1.5)

// CHECK-LABEL: ingot.block @layer count 3 {
// CHECK-NEXT:    ingot.param @w : tensor<16x16xf32> init normal(0.000000e+00, 2.000000e-02)
// CHECK-NEXT:    func.func @body(%[[X:.*]]: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
// CHECK-NEXT:      %[[W:.*]] = ingot.param_ref @w : tensor<16x16xf32>
// CHECK-NEXT:      %[[Y:.*]] = ingot.matmul %[[X]], %[[W]] : tensor<2x4x16xf32>, tensor<16x16xf32> -> tensor<2x4x16xf32>
// CHECK-NEXT:      return %[[Y]] : tensor<2x4x16xf32>
ingot.block @layer count 3 {
  ingot.param @w : tensor<16x16xf32> init normal(0.0, 0.02)
  func.func @body(%x: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
    %w = ingot.param_ref @w : tensor<16x16xf32>
    %y = ingot.matmul %x, %w : tensor<2x4x16xf32>, tensor<16x16xf32> -> tensor<2x4x16xf32>
    return %y : tensor<2x4x16xf32>
  }
}

// CHECK-LABEL: func.func @structure
func.func @structure(%x: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  // CHECK: ingot.param_ref @wte : tensor<64x16xf32>
  %wte = ingot.param_ref @wte : tensor<64x16xf32>
  // CHECK: ingot.repeat @layer(%{{.*}}) : (tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %h = ingot.repeat @layer(%x) : (tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  // CHECK: ingot.constant dense<5.000000e-01> : tensor<f32>
  %half = ingot.constant dense<5.0e-01> : tensor<f32>
  // CHECK: ingot.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
  %pos = ingot.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
  // CHECK: ingot.constant dense<1.000000e+00> : tensor<2x2xbf16>
  %ones = ingot.constant dense<1.0> : tensor<2x2xbf16>
  return %h : tensor<2x4x16xf32>
}

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<4x8xf32>, %b: tensor<8xf32>, %s: tensor<f32>) {
  // CHECK: ingot.add %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  %0 = ingot.add %a, %b : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>
  // CHECK: ingot.sub %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %1 = ingot.sub %b, %a : tensor<8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  // CHECK: ingot.mul %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  %2 = ingot.mul %a, %s : tensor<4x8xf32>, tensor<f32> -> tensor<4x8xf32>
  // CHECK: ingot.div %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  %3 = ingot.div %a, %a : tensor<4x8xf32>, tensor<4x8xf32> -> tensor<4x8xf32>
  // CHECK: ingot.maximum %{{.*}}, %{{.*}} : tensor<f32>, tensor<8xf32> -> tensor<8xf32>
  %4 = ingot.maximum %s, %b : tensor<f32>, tensor<8xf32> -> tensor<8xf32>
  // CHECK: ingot.neg %{{.*}} : tensor<4x8xf32>
  %5 = ingot.neg %a : tensor<4x8xf32>
  // CHECK: ingot.exp %{{.*}} : tensor<4x8xf32>
  %6 = ingot.exp %a : tensor<4x8xf32>
  // CHECK: ingot.log %{{.*}} : tensor<4x8xf32>
  %7 = ingot.log %a : tensor<4x8xf32>
  // CHECK: ingot.sqrt %{{.*}} : tensor<4x8xf32>
  %8 = ingot.sqrt %a : tensor<4x8xf32>
  // CHECK: ingot.rsqrt %{{.*}} : tensor<f32>
  %9 = ingot.rsqrt %s : tensor<f32>
  // CHECK: ingot.tanh %{{.*}} : tensor<4x8xf32>
  %10 = ingot.tanh %a : tensor<4x8xf32>
  // CHECK: ingot.relu %{{.*}} : tensor<4x8xf32>
  %11 = ingot.relu %a : tensor<4x8xf32>
  // CHECK: ingot.silu %{{.*}} : tensor<4x8xf32>
  %12 = ingot.silu %a : tensor<4x8xf32>
  // CHECK: ingot.gelu %{{.*}} : tensor<4x8xf32>
  %13 = ingot.gelu %a : tensor<4x8xf32>
  // CHECK: ingot.gelu %{{.*}} {approximate = "none"} : tensor<4x8xf32>
  %14 = ingot.gelu %a {approximate = "none"} : tensor<4x8xf32>
  // CHECK: ingot.cast %{{.*}} : tensor<4x8xf32> to tensor<4x8xbf16>
  %15 = ingot.cast %a : tensor<4x8xf32> to tensor<4x8xbf16>
  // CHECK: ingot.cast %{{.*}} : tensor<4x8xbf16> to tensor<4x8xf64>
  %16 = ingot.cast %15 : tensor<4x8xbf16> to tensor<4x8xf64>
  return
}

// CHECK-LABEL: func.func @matmul
func.func @matmul(%x: tensor<2x4x16xf32>, %w: tensor<16x32xf32>, %wt: tensor<32x16xf32>,
                  %q: tensor<2x3x4x8xbf16>, %k: tensor<2x3x8x4xbf16>, %kt: tensor<3x5x8xbf16>) {
  // CHECK: ingot.matmul %{{.*}}, %{{.*}} : tensor<2x4x16xf32>, tensor<16x32xf32> -> tensor<2x4x32xf32>
  %0 = ingot.matmul %x, %w : tensor<2x4x16xf32>, tensor<16x32xf32> -> tensor<2x4x32xf32>
  // CHECK: ingot.matmul %{{.*}}, %{{.*}} {transpose_rhs = true} : tensor<2x4x16xf32>, tensor<32x16xf32> -> tensor<2x4x32xf32>
  %1 = ingot.matmul %x, %wt {transpose_rhs = true} : tensor<2x4x16xf32>, tensor<32x16xf32> -> tensor<2x4x32xf32>
  // CHECK: ingot.matmul %{{.*}}, %{{.*}} {transpose_lhs = true} : tensor<2x4x16xf32>, tensor<2x4x16xf32> -> tensor<2x16x16xf32>
  %2 = ingot.matmul %x, %x {transpose_lhs = true} : tensor<2x4x16xf32>, tensor<2x4x16xf32> -> tensor<2x16x16xf32>
  // CHECK: ingot.matmul %{{.*}}, %{{.*}} : tensor<2x3x4x8xbf16>, tensor<2x3x8x4xbf16> -> tensor<2x3x4x4xbf16>
  %3 = ingot.matmul %q, %k : tensor<2x3x4x8xbf16>, tensor<2x3x8x4xbf16> -> tensor<2x3x4x4xbf16>
  // CHECK: ingot.matmul %{{.*}}, %{{.*}} {transpose_lhs = true, transpose_rhs = true} : tensor<2x3x8x4xbf16>, tensor<3x5x8xbf16> -> tensor<2x3x4x5xbf16>
  %4 = ingot.matmul %k, %kt {transpose_lhs = true, transpose_rhs = true} : tensor<2x3x8x4xbf16>, tensor<3x5x8xbf16> -> tensor<2x3x4x5xbf16>
  return
}

// CHECK-LABEL: func.func @transformer_ops
func.func @transformer_ops(%wte: tensor<64x16xf32>, %idx: tensor<2x4xi32>, %x: tensor<2x4x16xf32>,
                           %g: tensor<16xf32>, %b: tensor<16xf32>, %kv: tensor<2x4x8xf32>,
                           %logits: tensor<2x4x64xf32>) {
  // CHECK: ingot.embedding %{{.*}}, %{{.*}} : tensor<64x16xf32>, tensor<2x4xi32> -> tensor<2x4x16xf32>
  %0 = ingot.embedding %wte, %idx : tensor<64x16xf32>, tensor<2x4xi32> -> tensor<2x4x16xf32>
  // CHECK: ingot.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32> -> tensor<2x4x16xf32>
  %1 = ingot.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32> -> tensor<2x4x16xf32>
  // CHECK: ingot.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : tensor<2x4x16xf32>, tensor<16xf32> -> tensor<2x4x16xf32>
  %2 = ingot.rms_norm %x, %g {epsilon = 1.0e-06 : f64} : tensor<2x4x16xf32>, tensor<16xf32> -> tensor<2x4x16xf32>
  // CHECK: ingot.softmax %{{.*}} : tensor<2x4x16xf32>
  %3 = ingot.softmax %x : tensor<2x4x16xf32>
  // CHECK: ingot.softmax %{{.*}} {axis = 1 : i64} : tensor<2x4x16xf32>
  %4 = ingot.softmax %x {axis = 1 : i64} : tensor<2x4x16xf32>
  // CHECK: ingot.attention %{{.*}}, %{{.*}}, %{{.*}} {causal = true, num_heads = 4 : i64, num_kv_heads = 4 : i64, scale = 0.000000e+00 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %5 = ingot.attention %x, %x, %x {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  // Grouped-query: 4 query heads share 2 key/value heads of hd = 4.
  // CHECK: ingot.attention %{{.*}}, %{{.*}}, %{{.*}} {causal = false, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 1.250000e-01 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x16xf32>
  %6 = ingot.attention %x, %kv, %kv {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal = false, scale = 0.125 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x16xf32>
  // CHECK: ingot.rope %{{.*}} {num_heads = 4 : i64, theta = 1.000000e+04 : f64} : tensor<2x4x16xf32>
  %7 = ingot.rope %x {num_heads = 4 : i64, theta = 10000.0 : f64} : tensor<2x4x16xf32>
  // CHECK: ingot.rope %{{.*}} {inverse = true, num_heads = 2 : i64, theta = 1.000000e+04 : f64} : tensor<2x4x16xf32>
  %8 = ingot.rope %x {num_heads = 2 : i64, theta = 10000.0 : f64, inverse = true} : tensor<2x4x16xf32>
  // CHECK: ingot.cross_entropy %{{.*}}, %{{.*}} : tensor<2x4x64xf32>, tensor<2x4xi32> -> tensor<f32>
  %9 = ingot.cross_entropy %logits, %idx : tensor<2x4x64xf32>, tensor<2x4xi32> -> tensor<f32>
  return
}

// CHECK-LABEL: func.func @shape_ops
func.func @shape_ops(%x: tensor<2x6xf32>, %y: tensor<2x4x16xf32>, %i: tensor<2x4xi32>, %b: tensor<16xf32>) {
  // CHECK: ingot.reshape %{{.*}} : tensor<2x6xf32> to tensor<12xf32>
  %0 = ingot.reshape %x : tensor<2x6xf32> to tensor<12xf32>
  // CHECK: ingot.reshape %{{.*}} : tensor<2x4xi32> to tensor<8xi32>
  %1 = ingot.reshape %i : tensor<2x4xi32> to tensor<8xi32>
  // CHECK: ingot.transpose %{{.*}} {permutation = array<i64: 0, 2, 1>} : tensor<2x4x16xf32> -> tensor<2x16x4xf32>
  %2 = ingot.transpose %y {permutation = array<i64: 0, 2, 1>} : tensor<2x4x16xf32> -> tensor<2x16x4xf32>
  // CHECK: ingot.slice %{{.*}} {axis = 2 : i64, size = 8 : i64, start = 4 : i64} : tensor<2x4x16xf32> -> tensor<2x4x8xf32>
  %3 = ingot.slice %y {axis = 2 : i64, start = 4 : i64, size = 8 : i64} : tensor<2x4x16xf32> -> tensor<2x4x8xf32>
  // CHECK: ingot.slice %{{.*}} {axis = -1 : i64, size = 1 : i64, start = 15 : i64} : tensor<2x4x16xf32> -> tensor<2x4x1xf32>
  %4 = ingot.slice %y {axis = -1 : i64, start = 15 : i64, size = 1 : i64} : tensor<2x4x16xf32> -> tensor<2x4x1xf32>
  // CHECK: ingot.pad %{{.*}} {after = 4 : i64, axis = 2 : i64, before = 4 : i64} : tensor<2x4x8xf32> -> tensor<2x4x16xf32>
  %5 = ingot.pad %3 {axis = 2 : i64, before = 4 : i64, after = 4 : i64} : tensor<2x4x8xf32> -> tensor<2x4x16xf32>
  // CHECK: ingot.concat %{{.*}}, %{{.*}}, %{{.*}} {axis = 2 : i64} : tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x1xf32> -> tensor<2x4x25xf32>
  %6 = ingot.concat %y, %3, %4 {axis = 2 : i64} : tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x1xf32> -> tensor<2x4x25xf32>
  // CHECK: ingot.concat %{{.*}} {axis = 0 : i64} : tensor<2x4xi32> -> tensor<2x4xi32>
  %7 = ingot.concat %i {axis = 0 : i64} : tensor<2x4xi32> -> tensor<2x4xi32>
  // CHECK: ingot.broadcast %{{.*}} : tensor<16xf32> -> tensor<2x4x16xf32>
  %8 = ingot.broadcast %b : tensor<16xf32> -> tensor<2x4x16xf32>
  // CHECK: ingot.reduce_sum %{{.*}} {axes = array<i64: 0, 1>} : tensor<2x4x16xf32> -> tensor<16xf32>
  %9 = ingot.reduce_sum %y {axes = array<i64: 0, 1>} : tensor<2x4x16xf32> -> tensor<16xf32>
  // CHECK: ingot.reduce_mean %{{.*}} {axes = array<i64: -1>, keep_dims = true} : tensor<2x4x16xf32> -> tensor<2x4x1xf32>
  %10 = ingot.reduce_mean %y {axes = array<i64: -1>, keep_dims = true} : tensor<2x4x16xf32> -> tensor<2x4x1xf32>
  // CHECK: ingot.reduce_max %{{.*}} {axes = array<i64: 1>} : tensor<2x4x16xf32> -> tensor<2x16xf32>
  %11 = ingot.reduce_max %y {axes = array<i64: 1>} : tensor<2x4x16xf32> -> tensor<2x16xf32>
  return
}

// CHECK-LABEL: func.func @backward_ops
func.func @backward_ops(%x: tensor<2x4x16xf32>, %g: tensor<16xf32>, %kv: tensor<2x4x8xf32>,
                        %logits: tensor<2x4x64xf32>, %idx: tensor<2x4xi32>, %dloss: tensor<f32>) {
  // CHECK: ingot.layer_norm_grad %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>)
  %0:3 = ingot.layer_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>, tensor<16xf32>)
  // CHECK: ingot.rms_norm_grad %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
  %1:2 = ingot.rms_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x4x16xf32>, tensor<16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<16xf32>)
  // CHECK: ingot.softmax_grad %{{.*}}, %{{.*}} : tensor<2x4x16xf32>
  %2 = ingot.softmax_grad %x, %x : tensor<2x4x16xf32>
  // CHECK: ingot.softmax_grad %{{.*}}, %{{.*}} {axis = 0 : i64} : tensor<2x4x16xf32>
  %3 = ingot.softmax_grad %x, %x {axis = 0 : i64} : tensor<2x4x16xf32>
  // CHECK: ingot.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = true, num_heads = 4 : i64, num_kv_heads = 2 : i64, scale = 0.000000e+00 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>)
  %4:3 = ingot.attention_grad %x, %kv, %kv, %x, %x {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>)
  // CHECK: ingot.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4x64xf32>, tensor<2x4xi32>, tensor<f32>) -> tensor<2x4x64xf32>
  %5 = ingot.cross_entropy_grad %logits, %idx, %dloss : (tensor<2x4x64xf32>, tensor<2x4xi32>, tensor<f32>) -> tensor<2x4x64xf32>
  // CHECK: ingot.embedding_grad %{{.*}}, %{{.*}} {vocab_size = 64 : i64} : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<64x16xf32>
  %6 = ingot.embedding_grad %idx, %x {vocab_size = 64 : i64} : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<64x16xf32>
  // CHECK: ingot.gelu_grad %{{.*}}, %{{.*}} : tensor<2x4x16xf32>
  %7 = ingot.gelu_grad %x, %x : tensor<2x4x16xf32>
  // CHECK: ingot.gelu_grad %{{.*}}, %{{.*}} {approximate = "none"} : tensor<2x4x16xf32>
  %8 = ingot.gelu_grad %x, %x {approximate = "none"} : tensor<2x4x16xf32>
  // CHECK: ingot.silu_grad %{{.*}}, %{{.*}} : tensor<2x4x16xf32>
  %9 = ingot.silu_grad %x, %x : tensor<2x4x16xf32>
  return
}
