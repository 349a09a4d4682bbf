// RMSNorm followed by BitLinear's per-token int8 quantisation, in one workgroup: every BitLinear input is a
// normalised vector, so fusing the two saves a dispatch and a pass over memory. rms_norm_gate_quant also applies
// the attention output gate (config.attn.gate) between the two: y ⊙ gelu(g).
override N: u32;
override EPS: f32;
override GATE_OFF: u32 = 0u; // rms_norm_gate_quant: offset of g in `gate_src`

@group(0) @binding(0) var<storage, read> src: array<f32>;          // [N]
@group(0) @binding(1) var<storage, read> gain: array<f32>;         // [N]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;    // [N] normalised (f32)
@group(0) @binding(3) var<storage, read_write> xq: array<i32>;     // [>= N] quantised
@group(0) @binding(4) var<storage, read_write> xscale: array<f32>; // [0] = s_x

// 1 / RMS(src), the same in every thread of the workgroup.
fn rms_inverse(t: u32) -> f32 {
  var sum_sq = 0.0;
  for (var i = t; i < N; i += WG) { let v = src[i]; sum_sq += v * v; }
  let total = wg_sum4(t, vec4<f32>(sum_sq, 0.0, 0.0, 0.0)).x;
  return 1.0 / sqrt(total / f32(N) + EPS);
}

// Quantises `dst` (written by this workgroup) to int8 with the scale of the largest |value| over all threads.
fn quantize_dst(t: u32, thread_absmax: f32) {
  let scale = activation_scale(wg_max4(t, vec4<f32>(thread_absmax, 0.0, 0.0, 0.0)).x);
  for (var i = t; i < N; i += WG) { xq[i] = quantize(dst[i], scale); }
  if (t == 0u) { xscale[0] = scale; }
}

@compute @workgroup_size(64)
fn rms_norm_quant(@builtin(local_invocation_index) t: u32) {
  let inv = rms_inverse(t);
  var absmax = 0.0;
  for (var i = t; i < N; i += WG) {
    let y = src[i] * inv * gain[i];
    dst[i] = y;
    absmax = max(absmax, abs(y));
  }
  quantize_dst(t, absmax);
}

@group(0) @binding(5) var<storage, read> gate_src: array<f32>;

@compute @workgroup_size(64)
fn rms_norm_gate_quant(@builtin(local_invocation_index) t: u32) {
  let inv = rms_inverse(t);
  var absmax = 0.0;
  for (var i = t; i < N; i += WG) {
    let y = (src[i] * inv * gain[i]) * gelu(gate_src[GATE_OFF + i]);
    dst[i] = y;
    absmax = max(absmax, abs(y));
  }
  quantize_dst(t, absmax);
}
