// Shared by every shader of the engine (prepended by src/engine/gpu/shaders.ts): workgroup size and reductions.
// Workgroups are 64 threads: big workgroups with many barriers are slow on SwiftShader and 64 is a good fit on
// real GPUs as well. Reductions must be called from uniform control flow (every thread of the workgroup).
const WG: u32 = 64u;

// One barrier per reduction: each thread writes its value, and after the barrier every thread sums all 64 in the
// same order (so all get the same result). The scratch alternates between two halves: a thread can only write a
// half again after the next reduction's barrier, which every thread reaches after reading it. Barriers cost far
// more than 64 reads of workgroup memory on SwiftShader (every one switches all invocations); the per-token TTT
// step runs eight reductions. The barrier also publishes whatever the workgroup wrote before the call.
var<workgroup> reduce_scratch: array<vec4<f32>, 128>;
var<private> reduce_half: u32 = 0u;

fn reduce_publish(t: u32, v: vec4<f32>) -> u32 {
  let base = reduce_half * 64u;
  reduce_half = 1u - reduce_half;
  reduce_scratch[base + t] = v;
  workgroupBarrier();
  return base;
}

fn wg_sum4(t: u32, v: vec4<f32>) -> vec4<f32> {
  let base = reduce_publish(t, v);
  var r = reduce_scratch[base];
  for (var i = 1u; i < WG; i++) { r += reduce_scratch[base + i]; }
  return r;
}

fn wg_max4(t: u32, v: vec4<f32>) -> vec4<f32> {
  let base = reduce_publish(t, v);
  var r = reduce_scratch[base];
  for (var i = 1u; i < WG; i++) { r = max(r, reduce_scratch[base + i]); }
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
