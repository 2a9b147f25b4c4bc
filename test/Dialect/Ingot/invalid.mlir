// One case per verifier rule of the ingot dialect.
// RUN: ingot-opt %s -split-input-file -verify-diagnostics

//===--- Types ---------------------------------------------------------===//

func.func @dynamic_dim(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of f32, bf16 or f64, but got 'tensor<?x4xf32>'}}
  %0 = ingot.neg %x : tensor<?x4xf32>
  return
}

// -----

func.func @int_where_float(%x: tensor<4xi32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of f32, bf16 or f64, but got 'tensor<4xi32>'}}
  %0 = ingot.exp %x : tensor<4xi32>
  return
}

// -----

func.func @unsupported_element(%x: tensor<4xf16>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of f32, bf16 or f64, but got 'tensor<4xf16>'}}
  %0 = ingot.exp %x : tensor<4xf16>
  return
}

//===--- ingot.param ---------------------------------------------------===//

// -----

// expected-error @+1 {{attribute 'type' failed to satisfy constraint: type attribute of statically shaped tensor of f32, bf16 or f64}}
ingot.param @p : tensor<4xi32> init zeros

// -----

// expected-error @+1 {{init must be one of zeros, ones, normal, uniform, constant; found 'xavier'}}
ingot.param @p : tensor<4xf32> init xavier(1.0)

// -----

// expected-error @+1 {{init 'normal' takes 2 arguments (mean, std), found 1}}
ingot.param @p : tensor<4xf32> init normal(0.02)

// -----

// expected-error @+1 {{init 'zeros' takes 0 arguments, found 1}}
ingot.param @p : tensor<4xf32> init zeros(1.0)

// -----

// expected-error @+1 {{init 'constant' takes 1 argument (value), found 0}}
ingot.param @p : tensor<4xf32> init constant

// -----

// expected-error @+1 {{init 'normal' needs std > 0, found 0}}
ingot.param @p : tensor<4xf32> init normal(0.0, 0.0)

// -----

// expected-error @+1 {{init 'uniform' needs lo < hi, found lo=1, hi=-1}}
ingot.param @p : tensor<4xf32> init uniform(1.0, -1.0)

//===--- ingot.block ---------------------------------------------------===//

// -----

// expected-error @+1 {{attribute 'count' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
ingot.block @b count 0 {
  func.func @body() { return }
}

// -----

// expected-error @+1 {{may hold only ingot.param and func.func ops, found 'ingot.param_ref'}}
ingot.block @b count 1 {
  %0 = ingot.param_ref @w : tensor<4xf32>
  func.func @body() { return }
}

// -----

// expected-error @+1 {{may hold only one function, @body; found @helper}}
ingot.block @b count 1 {
  func.func @body() { return }
  func.func @helper() { return }
}

// -----

// expected-error @+1 {{has no func.func @body}}
ingot.block @b count 1 {
  ingot.param @w : tensor<4xf32> init zeros
}

// -----

// expected-error @+1 {{func.func @body must have a body}}
ingot.block @b count 1 {
  func.func private @body()
}

//===--- ingot.param_ref -----------------------------------------------===//

// -----

func.func @f() {
  // expected-error @+1 {{@missing does not name an ingot.param}}
  %0 = ingot.param_ref @missing : tensor<4xf32>
  return
}

// -----

ingot.param @w : tensor<4xf32> init zeros
func.func @f() {
  // expected-error @+1 {{result type 'tensor<8xf32>' differs from the type 'tensor<4xf32>' of param @w}}
  %0 = ingot.param_ref @w : tensor<8xf32>
  return
}

// -----

// A block's body sees the block's params, not the module's.
ingot.param @outer : tensor<4xf32> init zeros
ingot.block @b count 1 {
  func.func @body() {
    // expected-error @+1 {{@outer does not name an ingot.param}}
    %0 = ingot.param_ref @outer : tensor<4xf32>
    return
  }
}

//===--- ingot.repeat --------------------------------------------------===//

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{has 1 inputs and 2 results; they must match one to one}}
  %0:2 = ingot.repeat @b(%x) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{input #0 has type 'tensor<4xf32>' but result #0 has type 'tensor<8xf32>'; each repetition's output feeds the next}}
  %0 = ingot.repeat @b(%x) : (tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{@missing does not name an ingot.block}}
  %0 = ingot.repeat @missing(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

ingot.block @b count 2 {
  func.func @body(%x: tensor<8xf32>) -> tensor<8xf32> { return %x : tensor<8xf32> }
}
func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{type '(tensor<4xf32>) -> tensor<4xf32>' differs from the type '(tensor<8xf32>) -> tensor<8xf32>' of @b's body}}
  %0 = ingot.repeat @b(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

//===--- ingot.constant ------------------------------------------------===//

// -----

func.func @f() {
  // expected-error @+1 {{failed to verify that all of {value, result} have same type}}
  %0 = "ingot.constant"() <{value = dense<1.0> : tensor<f32>}> : () -> tensor<2xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{result #0 must be statically shaped tensor of f32, bf16, f64 or i32, but got 'tensor<2xi64>'}}
  %0 = ingot.constant dense<1> : tensor<2xi64>
  return
}

//===--- Elementwise ---------------------------------------------------===//

// -----

func.func @f(%a: tensor<4xf32>, %b: tensor<4xbf16>) {
  // expected-error @+1 {{element types differ: lhs has 'f32', rhs has 'bf16'}}
  %0 = ingot.add %a, %b : tensor<4xf32>, tensor<4xbf16> -> tensor<4xf32>
  return
}

// -----

func.func @f(%a: tensor<4x8xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{operand shapes do not broadcast: lhs is [4, 8], rhs is [3]}}
  %0 = ingot.mul %a, %b : tensor<4x8xf32>, tensor<3xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%a: tensor<4x1xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{result must have shape [4, 8] (the broadcast of the operand shapes), found [4, 1]}}
  %0 = ingot.sub %a, %b : tensor<4x1xf32>, tensor<8xf32> -> tensor<4x1xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "ingot.tanh"(%x) : (tensor<4xf32>) -> tensor<4xbf16>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{approximate must be "tanh" or "none", found "erf"}}
  %0 = ingot.gelu %x {approximate = "erf"} : tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{approximate must be "tanh" or "none", found "fast"}}
  %0 = ingot.gelu_grad %x, %x {approximate = "fast"} : tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{requires the same shape for all operands and results}}
  %0 = ingot.cast %x : tensor<4xf32> to tensor<5xbf16>
  return
}

//===--- ingot.matmul --------------------------------------------------===//

// -----

func.func @f(%a: tensor<8xf32>, %b: tensor<8x4xf32>) {
  // expected-error @+1 {{lhs must have rank >= 2, found 'tensor<8xf32>'}}
  %0 = ingot.matmul %a, %b : tensor<8xf32>, tensor<8x4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{rhs must have rank >= 2, found 'tensor<8xf32>'}}
  %0 = ingot.matmul %a, %b : tensor<2x8xf32>, tensor<8xf32> -> tensor<2xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<8x4xbf16>) {
  // expected-error @+1 {{element types differ: lhs has 'f32', rhs has 'bf16'}}
  %0 = ingot.matmul %a, %b : tensor<2x8xf32>, tensor<8x4xbf16> -> tensor<2x4xf32>
  return
}

// -----

func.func @f(%a: tensor<8x1024x768xf32>, %b: tensor<512x3072xf32>) {
  // expected-error @+1 {{contraction dimensions differ: lhs has K=768, rhs has K=512}}
  %0 = ingot.matmul %a, %b : tensor<8x1024x768xf32>, tensor<512x3072xf32> -> tensor<8x1024x3072xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8x4xf32>, %b: tensor<4x8xf32>) {
  // expected-error @+1 {{contraction dimensions differ: lhs has K=8, rhs has K=4}}
  %0 = ingot.matmul %a, %b {transpose_lhs = true} : tensor<2x8x4xf32>, tensor<4x8xf32> -> tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%a: tensor<3x2x8xf32>, %b: tensor<4x8x5xf32>) {
  // expected-error @+1 {{batch dimensions do not broadcast: lhs has [3], rhs has [4]}}
  %0 = ingot.matmul %a, %b : tensor<3x2x8xf32>, tensor<4x8x5xf32> -> tensor<3x2x5xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<8x4xf32>) {
  // expected-error @+1 {{result must have shape [2, 4] ([...batch, M, N]), found [4, 2]}}
  %0 = ingot.matmul %a, %b : tensor<2x8xf32>, tensor<8x4xf32> -> tensor<4x2xf32>
  return
}

//===--- ingot.embedding -----------------------------------------------===//

// -----

func.func @f(%t: tensor<64xf32>, %i: tensor<2xi32>) {
  // expected-error @+1 {{table must be [V, D] (rank 2), found 'tensor<64xf32>'}}
  %0 = ingot.embedding %t, %i : tensor<64xf32>, tensor<2xi32> -> tensor<2xf32>
  return
}

// -----

func.func @f(%t: tensor<64x16xf32>, %i: tensor<2xi32>) {
  // expected-error @+1 {{element types differ: table has 'f32', result has 'bf16'}}
  %0 = ingot.embedding %t, %i : tensor<64x16xf32>, tensor<2xi32> -> tensor<2x16xbf16>
  return
}

// -----

func.func @f(%t: tensor<64x16xf32>, %i: tensor<2x4xi32>) {
  // expected-error @+1 {{result must have shape [2, 4, 16] ([...indices.shape, D]), found [8, 16]}}
  %0 = ingot.embedding %t, %i : tensor<64x16xf32>, tensor<2x4xi32> -> tensor<8x16xf32>
  return
}

// -----

func.func @f(%t: tensor<64x16xf32>, %i: tensor<2x4xf32>) {
  // expected-error @+1 {{operand #1 must be statically shaped tensor of i32, but got 'tensor<2x4xf32>'}}
  %0 = ingot.embedding %t, %i : tensor<64x16xf32>, tensor<2x4xf32> -> tensor<2x4x16xf32>
  return
}

//===--- ingot.layer_norm, ingot.rms_norm ------------------------------===//

// -----

func.func @f(%x: tensor<f32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{x must have rank >= 1, found 'tensor<f32>'}}
  %0 = ingot.layer_norm %x, %g, %g {epsilon = 1.0e-05 : f64} : tensor<f32>, tensor<1xf32>, tensor<1xf32> -> tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<2x768xf32>, %g: tensor<512xf32>) {
  // expected-error @+1 {{gamma must have shape [768] (the last dimension of x), found [512]}}
  %0 = ingot.layer_norm %x, %g, %g {epsilon = 1.0e-05 : f64} : tensor<2x768xf32>, tensor<512xf32>, tensor<512xf32> -> tensor<2x768xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xbf16>, %g: tensor<8xf32>) {
  // expected-error @+1 {{element types differ: x has 'bf16', gamma has 'f32'}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<2x8xbf16>, tensor<8xf32> -> tensor<2x8xbf16>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be > 0, found 0}}
  %0 = ingot.layer_norm %x, %g, %g {epsilon = 0.0 : f64} : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<8xbf16>) {
  // expected-error @+1 {{beta must be 'tensor<8xf32>' (the type of gamma), found 'tensor<8xbf16>'}}
  %0 = ingot.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : tensor<2x8xf32>, tensor<8xf32>, tensor<8xbf16> -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{result must be 'tensor<2x8xf32>' (the type of x), found 'tensor<2x8xbf16>'}}
  %0 = ingot.layer_norm %x, %g, %g {epsilon = 1.0e-05 : f64} : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<2x8xbf16>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{result must be 'tensor<2x8xf32>' (the type of x), found 'tensor<16xf32>'}}
  %0 = ingot.rms_norm %x, %g {epsilon = 1.0e-05 : f64} : tensor<2x8xf32>, tensor<8xf32> -> tensor<16xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be > 0, found -1}}
  %0 = ingot.rms_norm %x, %g {epsilon = -1.0 : f64} : tensor<2x8xf32>, tensor<8xf32> -> tensor<2x8xf32>
  return
}

//===--- ingot.softmax -------------------------------------------------===//

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.softmax %x {axis = 2 : i64} : tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{axis -3 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.softmax %x {axis = -3 : i64} : tensor<2x8xf32>
  return
}

//===--- ingot.attention -----------------------------------------------===//

// -----

func.func @f(%q: tensor<4x8xf32>) {
  // expected-error @+1 {{query must be [B, T, heads*hd] (rank 3), found 'tensor<4x8xf32>'}}
  %0 = ingot.attention %q, %q, %q {num_heads = 1 : i64, num_kv_heads = 1 : i64, causal = true, scale = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xbf16>) {
  // expected-error @+1 {{element types differ: query has 'f32', key has 'bf16'}}
  %0 = ingot.attention %q, %k, %k {num_heads = 1 : i64, num_kv_heads = 1 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x8xf32>, %v: tensor<2x5x8xf32>) {
  // expected-error @+1 {{key and value shapes differ: key is [2, 4, 8], value is [2, 5, 8]}}
  %0 = ingot.attention %q, %q, %v {num_heads = 1 : i64, num_kv_heads = 1 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x5x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x8xf32>, %k: tensor<3x4x8xf32>) {
  // expected-error @+1 {{batch dimensions differ: query has B=2, key has B=3}}
  %0 = ingot.attention %q, %k, %k {num_heads = 1 : i64, num_kv_heads = 1 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x8xf32>, tensor<3x4x8xf32>, tensor<3x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x60xf32>, %k: tensor<2x4x20xf32>) {
  // expected-error @+1 {{num_heads 12 is not a multiple of num_kv_heads 5}}
  %0 = ingot.attention %q, %k, %k {num_heads = 12 : i64, num_kv_heads = 5 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x60xf32>, tensor<2x4x20xf32>, tensor<2x4x20xf32>) -> tensor<2x4x60xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x770xf32>) {
  // expected-error @+1 {{query channels 770 are not divisible by num_heads 12}}
  %0 = ingot.attention %q, %q, %q {num_heads = 12 : i64, num_kv_heads = 12 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x770xf32>, tensor<2x4x770xf32>, tensor<2x4x770xf32>) -> tensor<2x4x770xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %k: tensor<2x4x10xf32>) {
  // expected-error @+1 {{key channels 10 are not divisible by num_kv_heads 4}}
  %0 = ingot.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x10xf32>, tensor<2x4x10xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %k: tensor<2x4x16xf32>) {
  // expected-error @+1 {{head dimensions differ: query has hd=4 (16/4), key has hd=8 (16/2)}}
  %0 = ingot.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %k: tensor<2x6x16xf32>) {
  // expected-error @+1 {{causal attention needs equal query and key lengths, found T=4, S=6}}
  %0 = ingot.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x6x16xf32>, tensor<2x6x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>) {
  // expected-error @+1 {{scale must be >= 0 (0 means 1/sqrt(hd)), found -1}}
  %0 = ingot.attention %q, %q, %q {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = true, scale = -1.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %k: tensor<2x6x16xf32>) {
  // expected-error @+1 {{result must be 'tensor<2x4x16xf32>' (the type of query), found 'tensor<2x6x16xf32>'}}
  %0 = ingot.attention %q, %k, %k {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = false, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x6x16xf32>, tensor<2x6x16xf32>) -> tensor<2x6x16xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>) {
  // expected-error @+1 {{attribute 'num_kv_heads' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %0 = ingot.attention %q, %q, %q {num_heads = 4 : i64, num_kv_heads = 0 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return
}

//===--- ingot.rope ----------------------------------------------------===//

// -----

func.func @f(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{x must be [B, T, heads*hd] (rank 3), found 'tensor<4x16xf32>'}}
  %0 = ingot.rope %x {num_heads = 4 : i64, theta = 10000.0 : f64} : tensor<4x16xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4x18xf32>) {
  // expected-error @+1 {{channels 18 are not divisible by num_heads 4}}
  %0 = ingot.rope %x {num_heads = 4 : i64, theta = 10000.0 : f64} : tensor<2x4x18xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4x12xf32>) {
  // expected-error @+1 {{head dimension 3 (12/4) must be even}}
  %0 = ingot.rope %x {num_heads = 4 : i64, theta = 10000.0 : f64} : tensor<2x4x12xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4x16xf32>) {
  // expected-error @+1 {{theta must be > 0, found 0}}
  %0 = ingot.rope %x {num_heads = 4 : i64, theta = 0.0 : f64} : tensor<2x4x16xf32>
  return
}

//===--- ingot.cross_entropy -------------------------------------------===//

// -----

func.func @f(%l: tensor<f32>, %t: tensor<i32>) {
  // expected-error @+1 {{logits must have rank >= 1, found 'tensor<f32>'}}
  %0 = ingot.cross_entropy %l, %t : tensor<f32>, tensor<i32> -> tensor<f32>
  return
}

// -----

func.func @f(%l: tensor<8x1024x64xf32>, %t: tensor<8xi32>) {
  // expected-error @+1 {{targets must have shape [8, 1024] (the shape of logits without its last dimension), found [8]}}
  %0 = ingot.cross_entropy %l, %t : tensor<8x1024x64xf32>, tensor<8xi32> -> tensor<f32>
  return
}

// -----

func.func @f(%l: tensor<4x64xbf16>, %t: tensor<4xi32>) {
  // expected-error @+1 {{result #0 must be rank-0 tensor of f32, but got 'tensor<bf16>'}}
  %0 = ingot.cross_entropy %l, %t : tensor<4x64xbf16>, tensor<4xi32> -> tensor<bf16>
  return
}

//===--- ingot.reshape, ingot.transpose --------------------------------===//

// -----

func.func @f(%x: tensor<2x6xf32>) {
  // expected-error @+1 {{element counts differ: x has 12, result has 10}}
  %0 = ingot.reshape %x : tensor<2x6xf32> to tensor<10xf32>
  return
}

// -----

func.func @f(%x: tensor<2x6xf32>) {
  // expected-error @+1 {{element types differ: x has 'f32', result has 'bf16'}}
  %0 = ingot.reshape %x : tensor<2x6xf32> to tensor<12xbf16>
  return
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{permutation has 2 entries, x has rank 3}}
  %0 = ingot.transpose %x {permutation = array<i64: 1, 0>} : tensor<2x3x4xf32> -> tensor<3x2x4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{permutation [0, 1, 1] is not a permutation of 0..2}}
  %0 = ingot.transpose %x {permutation = array<i64: 0, 1, 1>} : tensor<2x3x4xf32> -> tensor<2x3x3xf32>
  return
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) {
  // expected-error @+1 {{result must have shape [2, 4, 3] (x's shape permuted), found [2, 3, 4]}}
  %0 = ingot.transpose %x {permutation = array<i64: 0, 2, 1>} : tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x3xi32>) {
  // expected-error @+1 {{element types differ: x has 'i32', result has 'f32'}}
  %0 = ingot.transpose %x {permutation = array<i64: 1, 0>} : tensor<2x3xi32> -> tensor<3x2xf32>
  return
}

//===--- ingot.slice, ingot.pad, ingot.concat --------------------------===//

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.slice %x {axis = 2 : i64, start = 0 : i64, size = 1 : i64} : tensor<2x8xf32> -> tensor<2x1xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{slice [4, 12) exceeds dimension 1 of size 8}}
  %0 = ingot.slice %x {axis = 1 : i64, start = 4 : i64, size = 8 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{result must have shape [2, 4] (x's shape with the sliced dimension set to size), found [2, 8]}}
  %0 = ingot.slice %x {axis = -1 : i64, start = 4 : i64, size = 4 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{attribute 'start' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %0 = ingot.slice %x {axis = 1 : i64, start = -1 : i64, size = 4 : i64} : tensor<2x8xf32> -> tensor<2x4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{attribute 'size' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %0 = ingot.slice %x {axis = 1 : i64, start = 0 : i64, size = 0 : i64} : tensor<2x8xf32> -> tensor<2x0xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{element types differ: x has 'f32', result has 'bf16'}}
  %0 = ingot.slice %x {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : tensor<2x8xf32> -> tensor<2x4xbf16>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{result must have shape [2, 11] (x's shape with before + after added along axis), found [2, 12]}}
  %0 = ingot.pad %x {axis = 1 : i64, before = 1 : i64, after = 2 : i64} : tensor<2x8xf32> -> tensor<2x12xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{attribute 'before' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %0 = ingot.pad %x {axis = 1 : i64, before = -1 : i64, after = 2 : i64} : tensor<2x8xf32> -> tensor<2x9xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{axis -3 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.pad %x {axis = -3 : i64, before = 1 : i64, after = 2 : i64} : tensor<2x8xf32> -> tensor<2x11xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{needs at least one input}}
  %0 = "ingot.concat"() <{axis = 0 : i64}> : () -> tensor<2xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{input #1 has rank 1, input #0 has rank 2}}
  %0 = ingot.concat %a, %b {axis = 1 : i64} : tensor<2x8xf32>, tensor<8xf32> -> tensor<2x16xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<3x4xf32>) {
  // expected-error @+1 {{input #1 has shape [3, 4], input #0 has shape [2, 8]; they may differ only along axis 1}}
  %0 = ingot.concat %a, %b {axis = 1 : i64} : tensor<2x8xf32>, tensor<3x4xf32> -> tensor<2x12xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<2x4xbf16>) {
  // expected-error @+1 {{element types differ: input #0 has 'f32', input #1 has 'bf16'}}
  %0 = ingot.concat %a, %b {axis = 1 : i64} : tensor<2x8xf32>, tensor<2x4xbf16> -> tensor<2x12xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>, %b: tensor<2x4xf32>) {
  // expected-error @+1 {{result must have shape [2, 12] (the inputs' shape with their sizes along axis summed), found [2, 8]}}
  %0 = ingot.concat %a, %b {axis = -1 : i64} : tensor<2x8xf32>, tensor<2x4xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>) {
  // expected-error @+1 {{element types differ: input #0 has 'f32', result has 'bf16'}}
  %0 = ingot.concat %a {axis = 0 : i64} : tensor<2x8xf32> -> tensor<2x8xbf16>
  return
}

// -----

func.func @f(%a: tensor<2x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.concat %a {axis = 2 : i64} : tensor<2x8xf32> -> tensor<2x8xf32>
  return
}

//===--- ingot.broadcast -----------------------------------------------===//

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{x of shape [4] does not broadcast to the result shape [2, 3]}}
  %0 = ingot.broadcast %x : tensor<4xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{x of shape [2, 4] does not broadcast to the result shape [4]}}
  %0 = ingot.broadcast %x : tensor<2x4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{element types differ: x has 'f32', result has 'i32'}}
  %0 = ingot.broadcast %x : tensor<4xf32> -> tensor<2x4xi32>
  return
}

//===--- Reductions ----------------------------------------------------===//

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.reduce_sum %x {axes = array<i64: 2>} : tensor<2x8xf32> -> tensor<2xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{axes [1, -1] name dimension 1 twice}}
  %0 = ingot.reduce_mean %x {axes = array<i64: 1, -1>} : tensor<2x8xf32> -> tensor<2xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{result must have shape [2, 1] (x's shape with the reduced axes set to 1), found [2]}}
  %0 = ingot.reduce_max %x {axes = array<i64: 1>, keep_dims = true} : tensor<2x8xf32> -> tensor<2xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{result must have shape [8] (x's shape without the reduced axes), found [1, 8]}}
  %0 = ingot.reduce_sum %x {axes = array<i64: 0>} : tensor<2x8xf32> -> tensor<1x8xf32>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{element types differ: x has 'f32', result has 'bf16'}}
  %0 = ingot.reduce_sum %x {axes = array<i64: 0>} : tensor<2x8xf32> -> tensor<8xbf16>
  return
}

//===--- Backward ops --------------------------------------------------===//

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %dy: tensor<2x8xbf16>) {
  // expected-error @+1 {{grad_output must be 'tensor<2x8xf32>' (the type of x), found 'tensor<2x8xbf16>'}}
  %0:3 = ingot.layer_norm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xbf16>) -> (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{grad_x must be 'tensor<2x8xf32>' (the type of x), found 'tensor<8xf32>'}}
  %0:3 = ingot.layer_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{grad_gamma must be 'tensor<8xf32>' (the type of gamma), found 'tensor<2x8xf32>'}}
  %0:3 = ingot.layer_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{grad_beta must be 'tensor<8xf32>' (the type of gamma), found 'tensor<4xf32>'}}
  %0:3 = ingot.layer_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<8xf32>, tensor<4xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{gamma must have shape [8] (the last dimension of x), found [4]}}
  %0:3 = ingot.layer_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<4xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %dy: tensor<2x4xf32>) {
  // expected-error @+1 {{grad_output must be 'tensor<2x8xf32>' (the type of x), found 'tensor<2x4xf32>'}}
  %0:2 = ingot.rms_norm_grad %x, %g, %dy {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x4xf32>) -> (tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{grad_x must be 'tensor<2x8xf32>' (the type of x), found 'tensor<2x8xbf16>'}}
  %0:2 = ingot.rms_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xbf16>, tensor<8xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{grad_gamma must be 'tensor<8xf32>' (the type of gamma), found 'tensor<1x8xf32>'}}
  %0:2 = ingot.rms_norm_grad %x, %g, %x {epsilon = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be > 0, found 0}}
  %0:2 = ingot.rms_norm_grad %x, %g, %x {epsilon = 0.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @f(%y: tensor<2x8xf32>) {
  // expected-error @+1 {{axis 5 is out of range for rank 2 (expected -2 <= axis < 2)}}
  %0 = ingot.softmax_grad %y, %y {axis = 5 : i64} : tensor<2x8xf32>
  return
}

// -----

func.func @f(%y: tensor<2x8xf32>, %dy: tensor<2x8xbf16>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "ingot.softmax_grad"(%y, %dy) : (tensor<2x8xf32>, tensor<2x8xbf16>) -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %y: tensor<2x4x8xf32>) {
  // expected-error @+1 {{output must be 'tensor<2x4x16xf32>' (the type of query), found 'tensor<2x4x8xf32>'}}
  %0:3 = ingot.attention_grad %q, %q, %q, %y, %q {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %dy: tensor<2x4x16xbf16>) {
  // expected-error @+1 {{grad_output must be 'tensor<2x4x16xf32>' (the type of query), found 'tensor<2x4x16xbf16>'}}
  %0:3 = ingot.attention_grad %q, %q, %q, %q, %dy {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xbf16>) -> (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %kv: tensor<2x4x8xf32>) {
  // expected-error @+1 {{grad_query must be 'tensor<2x4x16xf32>' (the type of query), found 'tensor<2x4x8xf32>'}}
  %0:3 = ingot.attention_grad %q, %kv, %kv, %q, %q {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>)
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %kv: tensor<2x4x8xf32>) {
  // expected-error @+1 {{grad_key must be 'tensor<2x4x8xf32>' (the type of key), found 'tensor<2x4x16xf32>'}}
  %0:3 = ingot.attention_grad %q, %kv, %kv, %q, %q {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<2x4x8xf32>)
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %kv: tensor<2x4x8xf32>) {
  // expected-error @+1 {{grad_value must be 'tensor<2x4x8xf32>' (the type of value), found 'tensor<2x4x16xf32>'}}
  %0:3 = ingot.attention_grad %q, %kv, %kv, %q, %q {num_heads = 4 : i64, num_kv_heads = 2 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x4x8xf32>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @f(%q: tensor<2x4x16xf32>, %k: tensor<2x6x16xf32>) {
  // expected-error @+1 {{causal attention needs equal query and key lengths, found T=4, S=6}}
  %0:3 = ingot.attention_grad %q, %k, %k, %q, %q {num_heads = 4 : i64, num_kv_heads = 4 : i64, causal = true, scale = 0.0 : f64} : (tensor<2x4x16xf32>, tensor<2x6x16xf32>, tensor<2x6x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> (tensor<2x4x16xf32>, tensor<2x6x16xf32>, tensor<2x6x16xf32>)
  return
}

// -----

func.func @f(%l: tensor<4x64xf32>, %t: tensor<4x1xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{targets must have shape [4] (the shape of logits without its last dimension), found [4, 1]}}
  %0 = ingot.cross_entropy_grad %l, %t, %d : (tensor<4x64xf32>, tensor<4x1xi32>, tensor<f32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%l: tensor<4x64xf32>, %t: tensor<4xi32>, %d: tensor<f32>) {
  // expected-error @+1 {{grad_logits must be 'tensor<4x64xf32>' (the type of logits), found 'tensor<4x64xbf16>'}}
  %0 = ingot.cross_entropy_grad %l, %t, %d : (tensor<4x64xf32>, tensor<4xi32>, tensor<f32>) -> tensor<4x64xbf16>
  return
}

// -----

func.func @f(%l: tensor<4x64xf32>, %t: tensor<4xi32>, %d: tensor<1xf32>) {
  // expected-error @+1 {{operand #2 must be rank-0 tensor of f32, but got 'tensor<1xf32>'}}
  %0 = ingot.cross_entropy_grad %l, %t, %d : (tensor<4x64xf32>, tensor<4xi32>, tensor<1xf32>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%i: tensor<2x4xi32>, %dy: tensor<2x16xf32>) {
  // expected-error @+1 {{grad_output must be [...indices.shape, D] with indices.shape = [2, 4], found [2, 16]}}
  %0 = ingot.embedding_grad %i, %dy {vocab_size = 64 : i64} : (tensor<2x4xi32>, tensor<2x16xf32>) -> tensor<64x16xf32>
  return
}

// -----

func.func @f(%i: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{element types differ: grad_output has 'f32', result has 'bf16'}}
  %0 = ingot.embedding_grad %i, %dy {vocab_size = 64 : i64} : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<64x16xbf16>
  return
}

// -----

func.func @f(%i: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{result must have shape [64, 16] ([vocab_size, D]), found [50, 16]}}
  %0 = ingot.embedding_grad %i, %dy {vocab_size = 64 : i64} : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<50x16xf32>
  return
}

// -----

func.func @f(%i: tensor<2x4xi32>, %dy: tensor<2x4x16xf32>) {
  // expected-error @+1 {{attribute 'vocab_size' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
  %0 = ingot.embedding_grad %i, %dy {vocab_size = 0 : i64} : (tensor<2x4xi32>, tensor<2x4x16xf32>) -> tensor<0x16xf32>
  return
}

// -----

func.func @f(%x: tensor<4xf32>, %dy: tensor<4xbf16>) {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "ingot.silu_grad"(%x, %dy) : (tensor<4xf32>, tensor<4xbf16>) -> tensor<4xf32>
  return
}
