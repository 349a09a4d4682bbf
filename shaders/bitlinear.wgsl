// Packed ternary matrix × int8 vector (BitNet b1.58). Weights are repacked at load to 2 bits each, 16 per u32,
// code = w + 1 (0 → −1, 1 → 0, 2 → +1). Several BitLinears that share an input (Q/K/V/gate, w1/w3) are
// concatenated into one matrix with a scale per output row, so they cost one dispatch.
// One thread per output row: no barriers (fast on SwiftShader); the integer sum is exact in i32.
override IN: u32;          // a multiple of 16
override OUT: u32;
override ACCUMULATE: bool = false; // y += result (the residual add), else y = result

@group(0) @binding(0) var<storage, read> weights: array<u32>;      // [OUT, IN / 16]
@group(0) @binding(1) var<storage, read> row_scale: array<f32>;    // [OUT] s_w of the row's tensor
@group(0) @binding(2) var<storage, read> xq: array<i32>;           // [IN]
@group(0) @binding(3) var<storage, read> xscale: array<f32>;       // [0] = s_x
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // [OUT]

@compute @workgroup_size(64)
fn bitlinear(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= OUT) { return; }
  let words = IN / 16u;
  let base = row * words;
  var acc: i32 = 0;
  for (var w = 0u; w < words; w++) {
    let word = weights[base + w];
    let col = w * 16u;
    for (var k = 0u; k < 16u; k++) {
      let trit = i32((word >> (2u * k)) & 3u) - 1;
      acc += trit * xq[col + k];
    }
  }
  let value = f32(acc) * (row_scale[row] / xscale[0]);
  if (ACCUMULATE) { y[row] = y[row] + value; } else { y[row] = value; }
}

// --- bitlinear_rows: the int8 × ternary matrix product of a prefill chunk ---------------------------------------
// xq is column-major ([IN, XQ_ROWS]: column c of tokens 4g..4g+3 is one vec4), y row-major ([tokens, OUT]), xscale
// one scale per token. A thread owns 8 output rows for 4 tokens: each vec4 of activations is loaded once for 8
// rows (on SwiftShader the loads, not the integer arithmetic, bound this kernel: 8 rows × 4 tokens measured 2.3×
// faster than 1 row × 16 tokens). The integer sums are exact and each value is f32(acc) · (row_scale / xscale) as
// in `bitlinear`, so every output equals the one-token path's bit for bit. Dispatched (⌈OUT/512⌉, ⌈tokens/4⌉).
override XQ_ROWS: u32 = 4u; // a multiple of 4, ≥ 4 · ⌈tokens/4⌉

@group(0) @binding(2) var<storage, read> xq_tile: array<vec4<i32>>; // [IN, XQ_ROWS / 4]
@group(0) @binding(5) var<uniform> chunk: vec4<u32>;                // x: tokens in the chunk

const ROWS_PER_THREAD: u32 = 8u;

@compute @workgroup_size(64)
fn bitlinear_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.x * ROWS_PER_THREAD;
  if (row0 >= OUT) { return; }
  let groups = XQ_ROWS / 4u;
  let words = IN / 16u;
  var acc = array<vec4<i32>, ROWS_PER_THREAD>();
  var word = array<u32, ROWS_PER_THREAD>();
  for (var w = 0u; w < words; w++) {
    // Rows past OUT (its last thread) repeat the last row; their sums are dropped.
    for (var q = 0u; q < ROWS_PER_THREAD; q++) { word[q] = weights[min(row0 + q, OUT - 1u) * words + w]; }
    var at = w * 16u * groups + gid.y;
    for (var k = 0u; k < 16u; k++) {
      let x = xq_tile[at];
      let s = 2u * k;
      acc[0] += (i32((word[0] >> s) & 3u) - 1) * x;
      acc[1] += (i32((word[1] >> s) & 3u) - 1) * x;
      acc[2] += (i32((word[2] >> s) & 3u) - 1) * x;
      acc[3] += (i32((word[3] >> s) & 3u) - 1) * x;
      acc[4] += (i32((word[4] >> s) & 3u) - 1) * x;
      acc[5] += (i32((word[5] >> s) & 3u) - 1) * x;
      acc[6] += (i32((word[6] >> s) & 3u) - 1) * x;
      acc[7] += (i32((word[7] >> s) & 3u) - 1) * x;
      at += groups;
    }
  }
  let first = gid.y * 4u;
  let n = min(4u, chunk.x - first);
  for (var q = 0u; q < ROWS_PER_THREAD; q++) {
    let row = row0 + q;
    if (row < OUT) {
      for (var r = 0u; r < n; r++) {
        let token = first + r;
        let value = f32(acc[q][r]) * (row_scale[row] / xscale[token]);
        let at = token * OUT + row;
        if (ACCUMULATE) { y[at] = y[at] + value; } else { y[at] = value; }
      }
    }
  }
}
