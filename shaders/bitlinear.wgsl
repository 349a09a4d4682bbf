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
// xq and y hold one row per token ([tokens, IN] and [tokens, OUT]), xscale one scale per token. A thread owns one
// output row for a tile of TILE tokens, so each weight word is loaded and unpacked once per tile instead of once
// per token. The integer sums are exact and each value is f32(acc) · (row_scale / xscale) as in `bitlinear`, so
// every output equals the one-token path's bit for bit. Dispatched (⌈OUT/64⌉, ⌈tokens/TILE⌉).
const TILE: u32 = 8u;

@group(0) @binding(5) var<uniform> chunk: vec4<u32>; // x: tokens in the chunk

@compute @workgroup_size(64)
fn bitlinear_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= OUT) { return; }
  let first = gid.y * TILE;
  let n = min(TILE, chunk.x - first);
  let words = IN / 16u;
  let base = row * words;
  var acc: array<i32, TILE>;
  for (var w = 0u; w < words; w++) {
    let word = weights[base + w];
    let col = first * IN + w * 16u;
    for (var k = 0u; k < 16u; k++) {
      let trit = i32((word >> (2u * k)) & 3u) - 1;
      if (trit != 0) {
        for (var r = 0u; r < n; r++) { acc[r] += trit * xq[col + r * IN + k]; }
      }
    }
  }
  for (var r = 0u; r < n; r++) {
    let token = first + r;
    let value = f32(acc[r]) * (row_scale[row] / xscale[token]);
    let at = token * OUT + row;
    if (ACCUMULATE) { y[at] = y[at] + value; } else { y[at] = value; }
  }
}
