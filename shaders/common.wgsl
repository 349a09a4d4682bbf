// Shared by every shader of the engine (prepended by src/engine/gpu/shaders.ts): workgroup size and reductions.
// The model's workgroups are 64 threads: big workgroups with many barriers are slow on SwiftShader and 64 is a good fit on
// real GPUs as well. Reductions must be called from uniform control flow (every thread of the workgroup).
// Workgroup size: an override so that one set of reductions serves every kernel (the sampler runs it at its own
// size); a power of two. The model's kernels keep the default 64.
override WG: u32 = 64u;

var<workgroup> reduce_f32: array<vec4<f32>, WG>;
var<workgroup> reduce_u32: array<vec4<u32>, WG>;

// Tree reductions over the workgroup, four lanes at once (callers pass scalars in .x). The same tree for every
// lane, so a lane's result does not depend on what the other lanes hold.
fn wg_sum4(t: u32, v: vec4<f32>) -> vec4<f32> {
  reduce_f32[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (t < s) { reduce_f32[t] = reduce_f32[t] + reduce_f32[t + s]; }
    workgroupBarrier();
  }
  let r = reduce_f32[0];
  workgroupBarrier();
  return r;
}

fn wg_max4(t: u32, v: vec4<f32>) -> vec4<f32> {
  reduce_f32[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (t < s) { reduce_f32[t] = max(reduce_f32[t], reduce_f32[t + s]); }
    workgroupBarrier();
  }
  let r = reduce_f32[0];
  workgroupBarrier();
  return r;
}

fn wg_sum4u(t: u32, v: vec4<u32>) -> vec4<u32> {
  reduce_u32[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (t < s) { reduce_u32[t] = reduce_u32[t] + reduce_u32[t + s]; }
    workgroupBarrier();
  }
  let r = reduce_u32[0];
  workgroupBarrier();
  return r;
}

fn wg_min4u(t: u32, v: vec4<u32>) -> vec4<u32> {
  reduce_u32[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (t < s) { reduce_u32[t] = min(reduce_u32[t], reduce_u32[t + s]); }
    workgroupBarrier();
  }
  let r = reduce_u32[0];
  workgroupBarrier();
  return r;
}

// BitLinear's activation quantisation (MATH.md): s_x = 127 / max(absmax, 1e-5), xq = clamp(roundEven(x s_x)).
fn activation_scale(absmax: f32) -> f32 {
  return 127.0 / max(absmax, 1e-5);
}

fn quantize(x: f32, scale: f32) -> i32 {
  return i32(clamp(round(x * scale), -128.0, 127.0));
}

// gelu, tanh form (MATH.md): the TTT and attention output gates. The argument is clamped because some tanh
// implementations overflow to NaN past ~±44.
fn gelu(a: f32) -> f32 {
  let u = clamp(0.7978845608 * (a + 0.044715 * a * a * a), -15.0, 15.0);
  return 0.5 * a * (1.0 + tanh(u));
}
