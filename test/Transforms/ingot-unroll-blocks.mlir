// RUN: ingot-opt %s -ingot-unroll-blocks | FileCheck %s

// Each repetition gets its own parameters, named <block>.<i>.<param>, placed where the block
// was; the body is inlined once per repetition, tagged with its layer, feeding the next.
// CHECK-LABEL: module @unroll
// CHECK: ingot.param @first
// CHECK-NEXT: ingot.param @layer.0.w : tensor<4x4xf32> init normal(0.000000e+00, 2.000000e-02)
// CHECK-NEXT: ingot.param @layer.0.g : tensor<4xf32> init ones
// CHECK-NEXT: ingot.param @layer.1.w
// CHECK-NEXT: ingot.param @layer.1.g
// CHECK-NEXT: ingot.param @layer.2.w
// CHECK-NEXT: ingot.param @layer.2.g
// CHECK-NEXT: ingot.param @last
// CHECK-NOT: ingot.block
// CHECK-LABEL: func.func @forward
// CHECK: %[[W0:.*]] = ingot.param_ref @layer.0.w {ingot.layer = 0 : i64}
// CHECK: %[[M0:.*]] = ingot.matmul %[[X:.*]], %[[W0]] {ingot.layer = 0 : i64}
// CHECK: %[[G0:.*]] = ingot.param_ref @layer.0.g {ingot.layer = 0 : i64}
// CHECK: %[[Y0:.*]] = ingot.mul %[[M0]], %[[G0]] {ingot.layer = 0 : i64}
// CHECK: %[[W1:.*]] = ingot.param_ref @layer.1.w {ingot.layer = 1 : i64}
// CHECK: ingot.matmul %[[Y0]], %[[W1]] {ingot.layer = 1 : i64}
// CHECK: ingot.param_ref @layer.2.g {ingot.layer = 2 : i64}
// CHECK: %[[Y2:.*]] = ingot.mul {{.*}} {ingot.layer = 2 : i64}
// CHECK-NOT: ingot.repeat
// CHECK: return %[[Y2]]
module @unroll {
  ingot.param @first : tensor<4xf32> init zeros
  ingot.block @layer count 3 {
    ingot.param @w : tensor<4x4xf32> init normal(0.0, 0.02)
    ingot.param @g : tensor<4xf32> init ones
    func.func @body(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %w = ingot.param_ref @w : tensor<4x4xf32>
      %m = ingot.matmul %x, %w : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x4xf32>
      %g = ingot.param_ref @g : tensor<4xf32>
      %y = ingot.mul %m, %g : tensor<2x4xf32>, tensor<4xf32> -> tensor<2x4xf32>
      return %y : tensor<2x4xf32>
    }
  }
  ingot.param @last : tensor<4xf32> init zeros
  func.func @forward(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %y = ingot.repeat @layer(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
}
