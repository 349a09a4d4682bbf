// Shared by every shader of the engine (prepended by src/engine/gpu/shaders.ts, after the generated KERNEL_CONSTANTS):
// workgroup size and reductions.
// The model's workgroups are 64 threads: big workgroups with many barriers are slow on SwiftShader and 64 is a good fit on
// real GPUs as well. Reductions must be called from uniform control flow (every thread of the workgroup).
// Workgroup size: an override so that one set of reductions serves every kernel (the sampler runs it at its own
// size); a power of two. The model's kernels keep the default 64.
override WG: u32 = WORKGROUP_SIZE;

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

// --- The causal depthwise conv (MATH.md) of one channel at one token -------------------------------------------
// taps[k − 1]·current + Σ_{j < k−1} taps[j]·history[j], the history oldest first (k − 1 values: the channel's
// previous inputs), summed in that order. The one copy of the arithmetic: the chunk (ttt_conv_rows) and the decode
// kernels (ttt_step, attend_step_conv) each load the taps and the history from their own bindings (WGSL functions
// cannot take storage pointers), call this, and shift the history themselves; so their outputs are the same bits.
// MAX_CONV_KERNEL: the largest kernel model/spec.ts allows (generated: gpu/shaders.ts KERNEL_CONSTANTS).

fn causal_conv(taps: array<f32, MAX_CONV_KERNEL>, history: array<f32, MAX_CONV_KERNEL>, current: f32, k: u32) -> f32 {
  var acc = taps[k - 1u] * current;
  for (var j = 0u; j + 1u < k; j++) { acc += taps[j] * history[j]; }
  return acc;
}

// --- Norm-type prologues: one implementation for every kernel that normalises a row before BitLinear -----------
// The standalone norm kernels (norm.wgsl, the chunk path and the final norm) and the matvec prologues
// (bitlinear.wgsl, the decode step) both call these, with the row's input bound at @binding(6..8):
//   NORM_KIND 1: RMSNorm          y = x · inv · gain
//             2: RMSNorm + gate   y = (x · inv · gain) ⊙ gelu(g)                 (attention sub-norm, config.attn.gate)
//             3: SwiGLU + RMSNorm h = silu(a) ⊙ c, y = h · inv · gain            (FFN sub-norm; a row is [a | c])
//             4: LayerNorm        y = (z − mean) · inv · w + b [⊙ gelu(g)]        (ttt_post: over the concatenated heads)
// then BitLinear's per-row int8 scale (MATH.md). Sums run in one canonical order, NORM_LANES strided partial sums
// (lane t adds terms t, t + 64, …) joined by a binary tree: the order of wg_sum4 in a 64-invocation workgroup. So a
// lone invocation (norm_stats_serial: CPU adapters, no barriers) and a workgroup (norm_stats_wg: GPUs) get the same
// bits, and the chunk path equals the decode path whichever kernel family computes them.
const NORM_LANES: u32 = WORKGROUP_SIZE; // the canonical order is that of a whole workgroup (norm_stats_wg)
override NORM_KIND: u32 = 1u;
override NORM_N: u32 = 1u;                        // values per row
override NORM_EPS: f32 = 1e-5;
override NORM_SRC_STRIDE: u32 = NORM_N;           // floats per row of norm_src (kind 3: 2 · NORM_N)
override NORM_GAIN_OFF: u32 = 0u;                 // gain (kind 4: w) at norm_params[NORM_GAIN_OFF..]
override NORM_BIAS_OFF: u32 = 0u;                 // kind 4: b at norm_params[NORM_BIAS_OFF..]
override NORM_GATED: bool = false;                // kind 4: ⊙ gelu(g) (kind 2 always)
override NORM_GATE_OFF: u32 = 0u;                 // g of row r at norm_gate[r · NORM_GATE_STRIDE + NORM_GATE_OFF..]
override NORM_GATE_STRIDE: u32 = 0u;

@group(0) @binding(6) var<storage, read> norm_src: array<f32>;
@group(0) @binding(7) var<storage, read> norm_params: array<f32>;
@group(0) @binding(8) var<storage, read> norm_gate: array<f32>;

struct NormStats {
  mean: f32,  // 0 for the RMS kinds
  inv: f32,   // 1 / RMS or 1 / std
  scale: f32, // s_x of the normalised row
}

// Value i of row `row` before normalisation.
fn norm_input(row: u32, i: u32) -> f32 {
  let at = row * NORM_SRC_STRIDE + i;
  if (NORM_KIND == 3u) {
    let a = norm_src[at];
    return a / (1.0 + exp(-a)) * norm_src[at + NORM_N];
  }
  return norm_src[at];
}

// Value i of row `row` after normalisation (f32, before quantisation).
fn norm_value(row: u32, i: u32, s: NormStats) -> f32 {
  let v = norm_input(row, i);
  let g_at = row * NORM_GATE_STRIDE + NORM_GATE_OFF + i;
  if (NORM_KIND == 4u) {
    var y = (v - s.mean) * s.inv * norm_params[NORM_GAIN_OFF + i] + norm_params[NORM_BIAS_OFF + i];
    if (NORM_GATED) { y = y * gelu(norm_gate[g_at]); }
    return y;
  }
  var y = v * s.inv * norm_params[NORM_GAIN_OFF + i];
  if (NORM_KIND == 2u) { y = y * gelu(norm_gate[g_at]); }
  return y;
}

// Partial sum of lane `lane`: Σ (x − centre)² over its terms, or Σ x when `squares` is false.
fn norm_lane_sum(row: u32, lane: u32, centre: f32, squares: bool) -> f32 {
  var s = 0.0;
  for (var i = lane; i < NORM_N; i += NORM_LANES) {
    let v = norm_input(row, i);
    if (squares) { let d = v - centre; s += d * d; } else { s += v; }
  }
  return s;
}

// The canonical sum in one invocation: the 64 lane sums, then the tree of wg_sum4.
fn norm_sum_serial(row: u32, centre: f32, squares: bool) -> f32 {
  var part: array<f32, NORM_LANES>;
  for (var t = 0u; t < NORM_LANES; t++) { part[t] = norm_lane_sum(row, t, centre, squares); }
  for (var s = NORM_LANES / 2u; s > 0u; s = s >> 1u) {
    for (var t = 0u; t < s; t++) { part[t] = part[t] + part[t + s]; }
  }
  return part[0];
}

fn norm_inverse(sum_sq: f32) -> f32 {
  return 1.0 / sqrt(sum_sq / f32(NORM_N) + NORM_EPS);
}

// Mean and 1/RMS (or 1/std) of row `row`, computed by one invocation alone: no barrier (scale left 0).
fn norm_moments_serial(row: u32) -> NormStats {
  var mean = 0.0;
  if (NORM_KIND == 4u) { mean = norm_sum_serial(row, 0.0, false) / f32(NORM_N); }
  return NormStats(mean, norm_inverse(norm_sum_serial(row, mean, true)), 0.0);
}

// ... and the int8 scale of the normalised row.
fn norm_stats_serial(row: u32) -> NormStats {
  var s = norm_moments_serial(row);
  var absmax = 0.0;
  for (var i = 0u; i < NORM_N; i++) { absmax = max(absmax, abs(norm_value(row, i, s))); }
  s.scale = activation_scale(absmax);
  return s;
}

// The same moments by a whole 64-invocation workgroup (uniform control flow; WG must be NORM_LANES).
fn norm_moments_wg(t: u32, row: u32) -> NormStats {
  var mean = 0.0;
  if (NORM_KIND == 4u) { mean = wg_sum4(t, vec4<f32>(norm_lane_sum(row, t, 0.0, false), 0.0, 0.0, 0.0)).x / f32(NORM_N); }
  return NormStats(mean, norm_inverse(wg_sum4(t, vec4<f32>(norm_lane_sum(row, t, mean, true), 0.0, 0.0, 0.0)).x), 0.0);
}

fn norm_stats_wg(t: u32, row: u32) -> NormStats {
  var s = norm_moments_wg(t, row);
  var absmax = 0.0;
  for (var i = t; i < NORM_N; i += WG) { absmax = max(absmax, abs(norm_value(row, i, s))); }
  s.scale = activation_scale(wg_max4(t, vec4<f32>(absmax, 0.0, 0.0, 0.0)).x);
  return s;
}
