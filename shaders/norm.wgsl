// The norm-type kernels before a BitLinear, as standalone dispatches: the chunk path's token rows (RMSNorm of the
// mixer and FFN inputs, SwiGLU + FFN sub-norm, the attention sub-norm [+ gate], the TTT post LayerNorm [+ gate]) and
// the final norm before the LM head. What they compute is common.wgsl's norm prologue (NORM_KIND), the same code
// the decode step's matvecs run in their prologue, so each token's result equals the decode path's bit for bit.
// Row r reads its input at norm_src[r · NORM_SRC_STRIDE..], writes dst (the f32 normalised row), xq (int8) and
// xscale[r] (s_x).
// Chunk kernels: > 0 stores xq (and dst when DST_ROWS > 0) column-major with this many rows, xq[i·XQ_ROWS + row],
// so that bitlinear_rows[_pairs] loads one column of 4 tokens as one vec4 (0: row-major). Every value written is
// quantize()'s, int8: bitlinear_rows_pairs needs int8 in every column it reads.
override XQ_ROWS: u32 = 0u;
override DST_ROWS: u32 = 0u;

fn xq_at(row: u32, i: u32) -> u32 {
  if (XQ_ROWS > 0u) { return i * XQ_ROWS + row; }
  return row * NORM_N + i;
}

fn dst_at(row: u32, i: u32) -> u32 {
  if (DST_ROWS > 0u) { return i * DST_ROWS + row; }
  return row * NORM_N + i;
}

@group(0) @binding(2) var<storage, read_write> dst: array<f32>;    // normalised rows (f32)
@group(0) @binding(3) var<storage, read_write> xq: array<i32>;     // quantised rows
@group(0) @binding(4) var<storage, read_write> xscale: array<f32>; // s_x per row

// Row `row` with its moments `s`: values first, first + step, … into dst, then (after the caller's max over the
// row) quantised from dst: one evaluation of each value (SwiGLU's exp) instead of two.
fn write_values(row: u32, s: NormStats, first: u32, step: u32) -> f32 {
  var absmax = 0.0;
  for (var i = first; i < NORM_N; i += step) {
    let y = norm_value(row, i, s);
    dst[dst_at(row, i)] = y;
    absmax = max(absmax, abs(y));
  }
  return absmax;
}

fn write_quantized(row: u32, scale: f32, first: u32, step: u32) {
  for (var i = first; i < NORM_N; i += step) { xq[xq_at(row, i)] = quantize(dst[dst_at(row, i)], scale); }
  if (first == 0u) { xscale[row] = scale; }
}

// One workgroup per row (GPUs): the statistics by workgroup reductions. Dispatched (rows, 1).
@compute @workgroup_size(WORKGROUP_SIZE)
fn norm_quant_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let absmax = write_values(wid.x, norm_moments_wg(t, wid.x), t, WG);
  write_quantized(wid.x, activation_scale(wg_max4(t, vec4<f32>(absmax, 0.0, 0.0, 0.0)).x), t, WG);
}

// One invocation per row, no barrier (CPU adapters, where a barrier costs more than a row's arithmetic); a
// workgroup of one, so that rows spread over the CPU's threads. Dispatched (rows, 1).
@compute @workgroup_size(1)
fn norm_quant_rows_serial(@builtin(workgroup_id) wid: vec3<u32>) {
  let absmax = write_values(wid.x, norm_moments_serial(wid.x), 0u, 1u);
  write_quantized(wid.x, activation_scale(absmax), 0u, 1u);
}

// NORM_ROWS_PER_WORKGROUP (4) rows per workgroup, one invocation each, no barrier (CPU adapters, the chunk path):
// SwiftShader runs a workgroup's invocations as the lanes of one SIMD vector, so a workgroup of one (above) leaves
// three lanes of four idle. Same code per row, so the same bits. Dispatched (⌈rows/NORM_ROWS_PER_WORKGROUP⌉, 1).
@group(0) @binding(5) var<uniform> norm_rows: vec4<u32>; // x: rows (the tokens of the chunk)

@compute @workgroup_size(NORM_ROWS_PER_WORKGROUP)
fn norm_quant_rows_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= norm_rows.x) { return; }
  let absmax = write_values(row, norm_moments_serial(row), 0u, 1u);
  write_quantized(row, activation_scale(absmax), 0u, 1u);
}
