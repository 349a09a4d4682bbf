// RMSNorm followed by BitLinear's per-token int8 quantisation, in one workgroup: every BitLinear input is a
// normalised vector, so fusing the two saves a dispatch and a pass over memory. rms_norm_gate_quant also applies
// the attention output gate (config.attn.gate) between the two: y ⊙ gelu(g).
// The *_rows entry points run the same code on the token rows of a prefill chunk, one workgroup per row: row r
// reads src[r·N..], writes dst[r·N..], xq[r·N..] and xscale[r] (so each row's result equals the one-token path).
override N: u32;
override EPS: f32;
override GATE_OFF: u32 = 0u; // rms_norm_gate_quant: offset of g in `gate_src`
override GATE_STRIDE: u32 = 0u; // rms_norm_gate_quant_rows: floats per token row of `gate_src`
// Chunk kernels: > 0 stores xq (and dst when DST_ROWS > 0) column-major with this many rows, xq[i·XQ_ROWS + row],
// so that bitlinear_rows loads one column of 4 tokens as one vec4 (0: row-major, the decode step's layout).
override XQ_ROWS: u32 = 0u;
override DST_ROWS: u32 = 0u;

fn xq_at(row: u32, i: u32) -> u32 {
  if (XQ_ROWS > 0u) { return i * XQ_ROWS + row; }
  return row * N + i;
}

fn dst_at(row: u32, i: u32) -> u32 {
  if (DST_ROWS > 0u) { return i * DST_ROWS + row; }
  return row * N + i;
}

@group(0) @binding(0) var<storage, read> src: array<f32>;          // [N]
@group(0) @binding(1) var<storage, read> gain: array<f32>;         // [N]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;    // [N] normalised (f32)
@group(0) @binding(3) var<storage, read_write> xq: array<i32>;     // [>= N] quantised
@group(0) @binding(4) var<storage, read_write> xscale: array<f32>; // [0] = s_x

// 1 / RMS(src), the same in every thread of the workgroup.
fn rms_inverse(t: u32, base: u32) -> f32 {
  var sum_sq = 0.0;
  for (var i = t; i < N; i += WG) { let v = src[base + i]; sum_sq += v * v; }
  let total = wg_sum4(t, vec4<f32>(sum_sq, 0.0, 0.0, 0.0)).x;
  return 1.0 / sqrt(total / f32(N) + EPS);
}

// Quantises `dst` (written by this workgroup) to int8 with the scale of the largest |value| over all threads.
fn quantize_dst(t: u32, thread_absmax: f32, row: u32) {
  let scale = activation_scale(wg_max4(t, vec4<f32>(thread_absmax, 0.0, 0.0, 0.0)).x);
  for (var i = t; i < N; i += WG) { xq[xq_at(row, i)] = quantize(dst[dst_at(row, i)], scale); }
  if (t == 0u) { xscale[row] = scale; }
}

fn rms_norm_quant_row(t: u32, row: u32) {
  let base = row * N;
  let inv = rms_inverse(t, base);
  var absmax = 0.0;
  for (var i = t; i < N; i += WG) {
    let y = src[base + i] * inv * gain[i];
    dst[dst_at(row, i)] = y;
    absmax = max(absmax, abs(y));
  }
  quantize_dst(t, absmax, row);
}

@compute @workgroup_size(64)
fn rms_norm_quant(@builtin(local_invocation_index) t: u32) {
  rms_norm_quant_row(t, 0u);
}

@compute @workgroup_size(64)
fn rms_norm_quant_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  rms_norm_quant_row(t, wid.x);
}

@group(0) @binding(5) var<storage, read> gate_src: array<f32>;

fn rms_norm_gate_quant_row(t: u32, row: u32) {
  let base = row * N;
  let inv = rms_inverse(t, base);
  var absmax = 0.0;
  for (var i = t; i < N; i += WG) {
    let y = (src[base + i] * inv * gain[i]) * gelu(gate_src[row * GATE_STRIDE + GATE_OFF + i]);
    dst[dst_at(row, i)] = y;
    absmax = max(absmax, abs(y));
  }
  quantize_dst(t, absmax, row);
}

@compute @workgroup_size(64)
fn rms_norm_gate_quant(@builtin(local_invocation_index) t: u32) {
  rms_norm_gate_quant_row(t, 0u);
}

@compute @workgroup_size(64)
fn rms_norm_gate_quant_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  rms_norm_gate_quant_row(t, wid.x);
}
