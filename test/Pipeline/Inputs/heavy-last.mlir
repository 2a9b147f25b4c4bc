// The model of four-layers.mlir with the heavy layer last: layer 3 does eight matmuls, layers
// 0-2 one each, so the fastest cut over two stages gives stage 0 (which keeps the most
// micro-batches in flight) three layers. The layout and the device memory are filled in by each
// RUN line's sed: @STAGES@, @DATA@, @MICRO@, @CHUNKS@, @SCHEDULE@, @MEMORY@.
module attributes {ingot.device = {model = "test-gpu", memory_bytes = @MEMORY@ : i64, peak_flops = 1.0e9 : f64, hbm_bytes_per_second = 1.0e15 : f64, devices_per_node = 2 : i64, intra_node_bytes_per_second = 1.0e9 : f64, inter_node_bytes_per_second = 1.0e8 : f64}, ingot.parallel = {stages = @STAGES@ : i64, data = @DATA@ : i64, microbatches = @MICRO@ : i64, chunks = @CHUNKS@ : i64, schedule = "@SCHEDULE@"}} {
  ingot.param @emb : tensor<16x8xf32> init normal(0.0, 0.02)
  ingot.param @layer.0.w : tensor<8x8xf32> init normal(0.0, 0.02)
  ingot.param @layer.1.w : tensor<8x8xf32> init normal(0.0, 0.02)
  ingot.param @layer.2.w : tensor<8x8xf32> init normal(0.0, 0.02)
  ingot.param @layer.3.w : tensor<8x8xf32> init normal(0.0, 0.02)
  func.func @forward(%tok: tensor<2x4xi32>, %tgt: tensor<2x4xi32>) -> tensor<f32> {
    %emb = ingot.param_ref @emb : tensor<16x8xf32>
    %x0 = ingot.embedding %emb, %tok : tensor<16x8xf32>, tensor<2x4xi32> -> tensor<2x4x8xf32>
    %w0 = ingot.param_ref @layer.0.w {ingot.layer = 0 : i64} : tensor<8x8xf32>
    %h0 = ingot.matmul %x0, %w0 {ingot.layer = 0 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %g0 = ingot.gelu %h0 {ingot.layer = 0 : i64} : tensor<2x4x8xf32>
    %x1 = ingot.add %x0, %g0 {ingot.layer = 0 : i64} : tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
    %w1 = ingot.param_ref @layer.1.w {ingot.layer = 1 : i64} : tensor<8x8xf32>
    %h1 = ingot.matmul %x1, %w1 {ingot.layer = 1 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %g1 = ingot.gelu %h1 {ingot.layer = 1 : i64} : tensor<2x4x8xf32>
    %x2 = ingot.add %x1, %g1 {ingot.layer = 1 : i64} : tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
    %w2 = ingot.param_ref @layer.2.w {ingot.layer = 2 : i64} : tensor<8x8xf32>
    %h2 = ingot.matmul %x2, %w2 {ingot.layer = 2 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %g2 = ingot.gelu %h2 {ingot.layer = 2 : i64} : tensor<2x4x8xf32>
    %x3 = ingot.add %x2, %g2 {ingot.layer = 2 : i64} : tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
    %w3 = ingot.param_ref @layer.3.w {ingot.layer = 3 : i64} : tensor<8x8xf32>
    %h3 = ingot.matmul %x3, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_0 = ingot.matmul %h3, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_1 = ingot.matmul %h3_0, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_2 = ingot.matmul %h3_1, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_3 = ingot.matmul %h3_2, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_4 = ingot.matmul %h3_3, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_5 = ingot.matmul %h3_4, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %h3_6 = ingot.matmul %h3_5, %w3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<8x8xf32> -> tensor<2x4x8xf32>
    %g3 = ingot.gelu %h3_6 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>
    %x4 = ingot.add %x3, %g3 {ingot.layer = 3 : i64} : tensor<2x4x8xf32>, tensor<2x4x8xf32> -> tensor<2x4x8xf32>
    %emb2 = ingot.param_ref @emb : tensor<16x8xf32>
    %logits = ingot.matmul %x4, %emb2 {transpose_rhs = true} : tensor<2x4x8xf32>, tensor<16x8xf32> -> tensor<2x4x16xf32>
    %loss = ingot.cross_entropy %logits, %tgt : tensor<2x4x16xf32>, tensor<2x4xi32> -> tensor<f32>
    return %loss : tensor<f32>
  }
}
