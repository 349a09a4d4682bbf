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

// ---------------------------------------------------------------------------------------------------------------
// bitlinear_matvec: the decode matvec (docs/ARCHITECTURE.md, "The ternary matvec"). Same result as `bitlinear`,
// bit for bit (the same i32 sum, the same f32 multiply), from a layout made for wide loads:
// - a row is CHUNKS vec4<u32> of 64 columns each (padded with weight 0; src/engine/gpu/pack.ts packTernaryMatvec),
//   word k of a chunk holds columns 16k + 4j + b at bits 8b + 2j, so `(word >> 2j) & 0x03030303` is the codes of
//   4 consecutive columns, one per byte: one shift and one mask per 4 weights;
// - x is staged once per workgroup in workgroup memory as packed i8x4 (4 columns per u32);
// - with codes c = w + 1 ∈ {0, 1, 2}, Σ w·x = Σ c·x − Σ x: the codes are already non-negative i8 lanes, so
//   dot4I8Packed(codes, x) takes them as they are and each invocation subtracts the Σ x of its own columns once;
// - the invocations of a row read consecutive vec4s (coalesced) and their partial sums meet in a subgroupAdd
//   (when the device has subgroups) or in workgroup memory (the portable variant).
// Which variant is compiled is chosen on the host (src/engine/gpu/bitlinear.ts), which keeps the lines between
// `//#if NAME`, `//#else` and `//#endif` markers of the features the device has: WGSL has no preprocessor, and a
// module may not even mention subgroupAdd or dot4I8Packed where the device lacks them.
override CHUNKS: u32 = (IN + 63u) / 64u;
override ROWS_PER_WG: u32 = 16u;      // rows of one workgroup (≤ 64)
override X_WORDS: u32 = CHUNKS * 16u; // staged x, 4 columns per u32

@group(0) @binding(0) var<storage, read> matvec_weights: array<vec4<u32>>; // [OUT, CHUNKS]
var<workgroup> x_packed: array<u32, X_WORDS>;

// Packs xq into x_packed (zeros past IN, so the padding columns add nothing), then waits for the whole workgroup.
fn stage_x(t: u32) {
  for (var w = t; w < X_WORDS; w += WG) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let col = 4u * w + b;
      if (col < IN) { word |= (bitcast<u32>(xq[col]) & 0xffu) << (8u * b); }
    }
    x_packed[w] = word;
  }
  workgroupBarrier();
}

//#if dot4
// Σ over 4 columns of code·x: codes (word >> 2j) & 0x03030303 as i8 lanes against 4 staged columns.
fn dot_codes(word: u32, j: u32, x: u32) -> i32 {
  return dot4I8Packed((word >> (2u * j)) & 0x03030303u, x);
}
//#else
fn dot_codes(word: u32, j: u32, x: u32) -> i32 {
  let codes = (vec4<u32>(word) >> vec4<u32>(2u * j, 2u * j + 8u, 2u * j + 16u, 2u * j + 24u)) & vec4<u32>(3u);
  let xs = (vec4<i32>(bitcast<i32>(x)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u); // sign-extended bytes
  return dot(vec4<i32>(codes), xs);
}
//#endif

// Σ code·x over the 64 columns of chunk c of a row (`row_base` = row · CHUNKS).
fn chunk_dot(row_base: u32, c: u32) -> i32 {
  let w = matvec_weights[row_base + c];
  let x0 = c * 16u;
  var acc = 0;
  for (var k = 0u; k < 4u; k++) {
    for (var j = 0u; j < 4u; j++) {
      acc += dot_codes(w[k], j, x_packed[x0 + 4u * k + j]);
    }
  }
  return acc;
}

// Σ x over the 64 columns of chunk c (0x55555555: code 1 for every column).
fn chunk_x_sum(c: u32) -> i32 {
  let x0 = c * 16u;
  var acc = 0;
  for (var i = 0u; i < 16u; i++) { acc += dot_codes(0x55555555u, i & 3u, x_packed[x0 + i]); }
  return acc;
}

fn store_row(row: u32, acc: i32) {
  let value = f32(acc) * (row_scale[row] / xscale[0]);
  if (ACCUMULATE) { y[row] = y[row] + value; } else { y[row] = value; }
}

//#if subgroups
// Each subgroup claims rows of the workgroup's block one at a time (a workgroup counter): this needs no assumption
// about how invocations map to subgroups, nor about the subgroup size (4 on SwiftShader, 32 on NVIDIA, 8–64 on
// others); lanes are numbered densely among the active invocations.
var<workgroup> next_row: atomic<u32>;

@compute @workgroup_size(64)
fn bitlinear_matvec(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  stage_x(t);
  let lanes = subgroupAdd(1u);
  let lane = subgroupExclusiveAdd(1u);
  var x_sum = 0;
  for (var c = lane; c < CHUNKS; c += lanes) { x_sum += chunk_x_sum(c); }
  loop {
    var claimed = 0u;
    if (subgroupElect()) { claimed = atomicAdd(&next_row, 1u); }
    // A new `let`: reassigning `claimed` from its own broadcast read back 0 on SwiftShader (Chromium 156).
    let r = subgroupBroadcastFirst(claimed);
    let row = wg.x * ROWS_PER_WG + r;
    if (r >= ROWS_PER_WG || row >= OUT) { break; }
    var acc = -x_sum;
    for (var c = lane; c < CHUNKS; c += lanes) { acc += chunk_dot(row * CHUNKS, c); }
    let total = subgroupAdd(acc);
    if (lane == 0u) { store_row(row, total); }
  }
}
//#else
// THREADS_PER_ROW invocations per row (a power of two ≤ 64), 64 / THREADS_PER_ROW rows at a time; partial sums
// meet in workgroup memory and one invocation per row adds them (one barrier).
override THREADS_PER_ROW: u32 = 4u;
override PARTIALS: u32 = ROWS_PER_WG * THREADS_PER_ROW;
var<workgroup> partial_sums: array<i32, PARTIALS>;

@compute @workgroup_size(64)
fn bitlinear_matvec(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  stage_x(t);
  let lane = t % THREADS_PER_ROW;
  let slots = WG / THREADS_PER_ROW;
  var x_sum = 0;
  for (var c = lane; c < CHUNKS; c += THREADS_PER_ROW) { x_sum += chunk_x_sum(c); }
  for (var r = t / THREADS_PER_ROW; r < ROWS_PER_WG; r += slots) {
    let row = wg.x * ROWS_PER_WG + r;
    var acc = -x_sum;
    if (row < OUT) {
      for (var c = lane; c < CHUNKS; c += THREADS_PER_ROW) { acc += chunk_dot(row * CHUNKS, c); }
    }
    partial_sums[r * THREADS_PER_ROW + lane] = acc;
  }
  workgroupBarrier();
  let row = wg.x * ROWS_PER_WG + t;
  if (t < ROWS_PER_WG && row < OUT) {
    var total = 0;
    for (var l = 0u; l < THREADS_PER_ROW; l++) { total += partial_sums[t * THREADS_PER_ROW + l]; }
    store_row(row, total);
  }
}
//#endif
