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

@compute @workgroup_size(WORKGROUP_SIZE)
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
// - rows go in blocks of 4 (a vec4<i32> of sums): each x word read from workgroup memory serves 4 rows;
// - the invocations of a row block read consecutive vec4s of each row (coalesced) and their partial sums meet in a
//   subgroupAdd (when the device has subgroups) or in workgroup memory (the portable variant).
// Which variant is compiled is chosen on the host (src/engine/gpu/bitlinear.ts), which keeps the lines between
// `//#if NAME`, `//#else` and `//#endif` markers of the features the device has: WGSL has no preprocessor, and a
// module may not even mention subgroupAdd or dot4I8Packed where the device lacks them.
const_assert MATVEC_CHUNK_COLS == 64u; // a chunk is one vec4<u32> of 2-bit codes (gpu/pack.ts)
override CHUNKS: u32 = (IN + MATVEC_CHUNK_COLS - 1u) / MATVEC_CHUNK_COLS;
override ROWS_PER_WG: u32 = 64u;      // rows of one workgroup: a multiple of 4, ≤ 256
override X_WORDS: u32 = CHUNKS * 16u; // staged x, 4 columns per u32
override BLOCKS_PER_WG: u32 = ROWS_PER_WG / 4u;

@group(0) @binding(0) var<storage, read> matvec_weights: array<vec4<u32>>; // [OUT, CHUNKS]
var<workgroup> x_packed: array<u32, X_WORDS>;

// The weights of columns 4j..4j+3 of a packed word (−1, 0, +1 each).
fn row_codes(word: u32, j: u32) -> vec4<i32> {
  return vec4<i32>((vec4<u32>(word) >> vec4<u32>(2u * j, 2u * j + 8u, 2u * j + 16u, 2u * j + 24u)) & vec4<u32>(3u)) - vec4<i32>(1);
}

//#if norm
// The decode step's fused form (docs/ARCHITECTURE.md, "Decode dispatches"): the matvec's input row is normalised
// and quantised in its prologue (common.wgsl's norm prologue, NORM_KIND) instead of by a norm kernel of its own,
// one dispatch fewer per BitLinear input. Every workgroup (every invocation of bitlinear_row_norm) computes the
// row's statistics itself: the same bits everywhere, and the same as the chunk path's norm kernels.
// WRITE_NORM_OUT: workgroup 0 also stores the f32 normalised row (the TTT step reads its layer's normalised input).
override WRITE_NORM_OUT: bool = false;
@group(0) @binding(9) var<storage, read_write> norm_out: array<f32>; // [IN]
var<private> x_scale: f32;

// Normalises and quantises the input into x_packed (zeros past IN), then waits for the whole workgroup.
fn stage_x(t: u32, wg: u32) {
  let s = norm_stats_wg(t, 0u);
  x_scale = s.scale;
  for (var w = t; w < X_WORDS; w += WG) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let col = 4u * w + b;
      if (col < IN) { word |= (bitcast<u32>(quantize(norm_value(0u, col, s), s.scale)) & 0xffu) << (8u * b); }
    }
    x_packed[w] = word;
  }
  if (WRITE_NORM_OUT && wg == 0u) {
    for (var i = t; i < IN; i += WG) { norm_out[i] = norm_value(0u, i, s); }
  }
  workgroupBarrier();
}

fn input_scale() -> f32 { return x_scale; }

// bitlinear_row_norm: bitlinear_row's fused form for CPU adapters. Each invocation computes the row's statistics
// alone (no barrier) and quantises x once into private memory (4 columns per u32, as x_packed), so it owns ROW_NORM_ROWS
// output rows to share that work. Small workgroups (ROW_NORM_WORKGROUP_SIZE) keep enough of them to spread over the
// CPU's threads. Inputs up to ROW_NORM_MAX_IN columns (the plan falls back to norm kernel + bitlinear_row past it).
// Dispatched ⌈OUT / (ROW_NORM_ROWS · ROW_NORM_WORKGROUP_SIZE)⌉. The three: gpu/shaders.ts KERNEL_CONSTANTS.

@compute @workgroup_size(ROW_NORM_WORKGROUP_SIZE)
fn bitlinear_row_norm(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.x * ROW_NORM_ROWS;
  if (row0 >= OUT) { return; }
  let s = norm_moments_serial(0u);
  // The normalised row, kept while its max is found; then quantised into x (zeros past IN).
  var x: array<u32, ROW_NORM_MAX_IN / 4u>;
  var absmax = 0.0;
  for (var i = 0u; i < IN; i++) { absmax = max(absmax, abs(norm_value(0u, i, s))); }
  let scale = activation_scale(absmax);
  for (var w = 0u; w < CHUNKS * 16u; w++) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let col = 4u * w + b;
      if (col < IN) {
        let y = norm_value(0u, col, s);
        if (WRITE_NORM_OUT && gid.x == 0u) { norm_out[col] = y; }
        word |= (bitcast<u32>(quantize(y, scale)) & 0xffu) << (8u * b);
      }
    }
    x[w] = word;
  }
  var acc = array<i32, ROW_NORM_ROWS>();
  for (var q = 0u; q < ROW_NORM_ROWS; q++) {
    // Rows past OUT (in the last invocation) repeat the last row; their sums are not stored.
    let base = min(row0 + q, OUT - 1u) * CHUNKS;
    var sum = 0;
    for (var c = 0u; c < CHUNKS; c++) {
      let chunk = matvec_weights[base + c];
      for (var k = 0u; k < 4u; k++) {
        for (var j = 0u; j < 4u; j++) {
          let xv = (vec4<i32>(bitcast<i32>(x[c * 16u + 4u * k + j])) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
          sum += dot(row_codes(chunk[k], j), xv);
        }
      }
    }
    acc[q] = sum;
  }
  for (var q = 0u; q < ROW_NORM_ROWS; q++) {
    let row = row0 + q;
    if (row < OUT) {
      let value = f32(acc[q]) * (row_scale[row] / scale);
      if (ACCUMULATE) { y[row] = y[row] + value; } else { y[row] = value; }
    }
  }
}
//#else
// Packs xq into x_packed (zeros past IN, so the padding columns add nothing), then waits for the whole workgroup.
fn stage_x(t: u32, wg: u32) {
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

fn input_scale() -> f32 { return xscale[0]; }
//#endif

//#if dot4
alias XOperand = u32;
// Staged x word i as dot_codes takes it.
fn x_operand(i: u32) -> XOperand { return x_packed[i]; }
// Σ over 4 columns of code·x: codes (word >> 2j) & 0x03030303 as i8 lanes against 4 staged columns.
fn dot_codes(word: u32, j: u32, x: XOperand) -> i32 {
  return dot4I8Packed((word >> (2u * j)) & 0x03030303u, x);
}
//#else
alias XOperand = vec4<i32>;
fn x_operand(i: u32) -> XOperand {
  return (vec4<i32>(bitcast<i32>(x_packed[i])) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u); // sign-extended
}
fn dot_codes(word: u32, j: u32, x: XOperand) -> i32 {
  let codes = (vec4<u32>(word) >> vec4<u32>(2u * j, 2u * j + 8u, 2u * j + 16u, 2u * j + 24u)) & vec4<u32>(3u);
  return dot(vec4<i32>(codes), x);
}
//#endif

// Σ code·x of word k of chunk c for 4 rows (`words` holds that word of each row): 16 columns.
fn words_dot(words: vec4<u32>, x_index: u32) -> vec4<i32> {
  var acc = vec4<i32>(0);
  for (var j = 0u; j < 4u; j++) {
    let x = x_operand(x_index + j);
    acc += vec4<i32>(dot_codes(words.x, j, x), dot_codes(words.y, j, x), dot_codes(words.z, j, x), dot_codes(words.w, j, x));
  }
  return acc;
}

// Σ code·x over the 64 columns of chunk c, for the 4 rows from `first_row` (rows past OUT read the last row; their
// sums are not stored).
fn block_dot(first_row: u32, c: u32) -> vec4<i32> {
  let a = matvec_weights[min(first_row, OUT - 1u) * CHUNKS + c];
  let b = matvec_weights[min(first_row + 1u, OUT - 1u) * CHUNKS + c];
  let d = matvec_weights[min(first_row + 2u, OUT - 1u) * CHUNKS + c];
  let e = matvec_weights[min(first_row + 3u, OUT - 1u) * CHUNKS + c];
  let i = c * 16u;
  return words_dot(vec4<u32>(a.x, b.x, d.x, e.x), i) + words_dot(vec4<u32>(a.y, b.y, d.y, e.y), i + 4u)
       + words_dot(vec4<u32>(a.z, b.z, d.z, e.z), i + 8u) + words_dot(vec4<u32>(a.w, b.w, d.w, e.w), i + 12u);
}

// Σ x over the 64 columns of chunk c (0x55555555: code 1 for every column).
fn chunk_x_sum(c: u32) -> i32 {
  var acc = 0;
  for (var i = 0u; i < 16u; i++) { acc += dot_codes(0x55555555u, i & 3u, x_operand(c * 16u + i)); }
  return acc;
}

fn store_rows(first_row: u32, sums: vec4<i32>) {
  for (var r = 0u; r < 4u; r++) {
    let row = first_row + r;
    if (row < OUT) {
      let value = f32(sums[r]) * (row_scale[row] / input_scale());
      if (ACCUMULATE) { y[row] = y[row] + value; } else { y[row] = value; }
    }
  }
}

// bitlinear_row: ROW_ROWS_PER_THREAD output rows per invocation over the same layout, no workgroup memory and no
// barrier. Chosen on CPU adapters (SwiftShader; src/engine/gpu/bitlinear.ts), where a barrier costs more than the
// loads that staging x saves (the bench's kernel table measures both). On SwiftShader this kernel is bound by
// instructions per weight, not by loads, so it multiplies two columns at a time in one i32 multiply:
// - codes c = w + 1 of two columns p, q sit at bits 0..1 and 16..17 of C = (word >> s) & 0x00030003 (in this layout
//   the columns 4j + b and 4j + b + 2 of a word's 16, at s = 2j + 8b, b ∈ {0, 1}), and X = x_q + 65536·x_p, so
//   C·X = c_p·x_q + 65536·(c_p·x_p + c_q·x_q) (mod 2³², the c_q·x_p·2³² term wraps away): the high field is the pair's
//   Σ c·x. Over the 32 products of a 64-column chunk, with x int8, the low field L stays within ±2¹³ and the high one
//   H within ±2¹⁴, so the chunk's sum S = L + 65536·H does not overflow and H = (S + 0x8000) >> 16 exactly;
// - Σ w·x = Σ c·x − Σ x, Σ x once per invocation;
// - X is built once per chunk (32 i32) and serves ROW_ROWS_PER_THREAD rows, in small workgroups
//   (ROW_WORKGROUP_SIZE, one SIMD group of SwiftShader) so that small matrices still make a few workgroups.
// About 8 ALU operations per 4 weights instead of 20 (vec4 shift, mask, −1, multiply, add): measured 4-7x faster
// than the former kernel (2 rows per invocation, vec4<i32> codes × vec4<i32> x) on SwiftShader at the d256 shapes
// (e2e/gpu/matvec-lab.spec.ts). x must hold int8 values in every column it reads, padding included (whole chunks:
// see matvecInputWords; the padding columns have weight 0, code 1, and cancel against Σ x). The i32 sum is the
// same as `bitlinear`'s, and so is the f32 multiply: the same y bit for bit.
// ROW_ROWS_PER_THREAD, ROW_WORKGROUP_SIZE: gpu/shaders.ts KERNEL_CONSTANTS (the dispatch uses them).
override ROW_INVOCATIONS: u32 = (OUT + ROW_ROWS_PER_THREAD - 1u) / ROW_ROWS_PER_THREAD;
const PAIR_MASK: i32 = 0x00030003;

// Σ code·x of the 16 columns of a word, in the high field (plus a low field): p[j], q[j] are the X of its columns
// 4j + {0, 2} and 4j + {1, 3}.
fn word_pairs(w: i32, p: vec4<i32>, q: vec4<i32>) -> i32 {
  return (w & PAIR_MASK) * p.x + ((w >> 8u) & PAIR_MASK) * q.x
       + ((w >> 2u) & PAIR_MASK) * p.y + ((w >> 10u) & PAIR_MASK) * q.y
       + ((w >> 4u) & PAIR_MASK) * p.z + ((w >> 12u) & PAIR_MASK) * q.z
       + ((w >> 6u) & PAIR_MASK) * p.w + ((w >> 14u) & PAIR_MASK) * q.w;
}

fn store_row(row: u32, sum: i32) {
  let value = f32(sum) * (row_scale[row] / xscale[0]);
  if (ACCUMULATE) { y[row] = y[row] + value; } else { y[row] = value; }
}

@compute @workgroup_size(ROW_WORKGROUP_SIZE)
fn bitlinear_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= ROW_INVOCATIONS) { return; }
  let row0 = gid.x * ROW_ROWS_PER_THREAD;
  var acc = array<i32, ROW_ROWS_PER_THREAD>();
  var x_sum = vec4<i32>(0);
  for (var c = 0u; c < CHUNKS; c++) {
    // The X of word k of the chunk: columns 64c + 16k + 4j + b are xq_tile[16c + 4k + j][b].
    var p: array<vec4<i32>, 4>;
    var q: array<vec4<i32>, 4>;
    for (var k = 0u; k < 4u; k++) {
      let x0 = xq_tile[16u * c + 4u * k];
      let x1 = xq_tile[16u * c + 4u * k + 1u];
      let x2 = xq_tile[16u * c + 4u * k + 2u];
      let x3 = xq_tile[16u * c + 4u * k + 3u];
      x_sum += x0 + x1 + x2 + x3;
      p[k] = vec4<i32>(x0.z, x1.z, x2.z, x3.z) + 65536 * vec4<i32>(x0.x, x1.x, x2.x, x3.x);
      q[k] = vec4<i32>(x0.w, x1.w, x2.w, x3.w) + 65536 * vec4<i32>(x0.y, x1.y, x2.y, x3.y);
    }
    let p0 = p[0]; let p1 = p[1]; let p2 = p[2]; let p3 = p[3];
    let q0 = q[0]; let q1 = q[1]; let q2 = q[2]; let q3 = q[3];
    for (var r = 0u; r < ROW_ROWS_PER_THREAD; r++) {
      // Rows past OUT (in the last invocation) repeat the last row; their sums are not stored.
      let w = bitcast<vec4<i32>>(matvec_weights[min(row0 + r, OUT - 1u) * CHUNKS + c]);
      let s = word_pairs(w.x, p0, q0) + word_pairs(w.y, p1, q1) + word_pairs(w.z, p2, q2) + word_pairs(w.w, p3, q3);
      acc[r] += (s + 0x8000) >> 16u;
    }
  }
  let total_x = x_sum.x + x_sum.y + x_sum.z + x_sum.w;
  for (var r = 0u; r < ROW_ROWS_PER_THREAD; r++) {
    if (row0 + r < OUT) { store_row(row0 + r, acc[r] - total_x); }
  }
}

//#if subgroups
// Each subgroup claims 4-row blocks of the workgroup's rows one at a time (a workgroup counter): this needs no
// assumption about how invocations map to subgroups, nor about the subgroup size (4 on SwiftShader, 32 on NVIDIA,
// 8–64 on others); lanes are numbered densely among the active invocations.
var<workgroup> next_block: atomic<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn bitlinear_matvec(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  stage_x(t, wg.x);
  let lanes = subgroupAdd(1u);
  let lane = subgroupExclusiveAdd(1u);
  var x_sum = 0;
  for (var c = lane; c < CHUNKS; c += lanes) { x_sum += chunk_x_sum(c); }
  loop {
    var claimed = 0u;
    if (subgroupElect()) { claimed = atomicAdd(&next_block, 1u); }
    // A new `let`: reassigning `claimed` from its own broadcast read back 0 on SwiftShader (Chromium 156).
    let block = subgroupBroadcastFirst(claimed);
    let first_row = wg.x * ROWS_PER_WG + 4u * block;
    if (block >= BLOCKS_PER_WG || first_row >= OUT) { break; }
    var acc = vec4<i32>(-x_sum);
    for (var c = lane; c < CHUNKS; c += lanes) { acc += block_dot(first_row, c); }
    let total = subgroupAdd(acc);
    if (lane == 0u) { store_rows(first_row, total); }
  }
}
//#else
// THREADS_PER_ROW invocations per 4-row block (a power of two ≤ 64), 64 / THREADS_PER_ROW blocks at a time; partial
// sums meet in workgroup memory and one invocation per block adds them (one barrier).
override THREADS_PER_ROW: u32 = 4u;
override PARTIALS: u32 = BLOCKS_PER_WG * THREADS_PER_ROW;
var<workgroup> partial_sums: array<vec4<i32>, PARTIALS>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn bitlinear_matvec(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  stage_x(t, wg.x);
  let lane = t % THREADS_PER_ROW;
  let slots = WG / THREADS_PER_ROW;
  var x_sum = 0;
  for (var c = lane; c < CHUNKS; c += THREADS_PER_ROW) { x_sum += chunk_x_sum(c); }
  for (var block = t / THREADS_PER_ROW; block < BLOCKS_PER_WG; block += slots) {
    let first_row = wg.x * ROWS_PER_WG + 4u * block;
    var acc = vec4<i32>(-x_sum);
    if (first_row < OUT) {
      for (var c = lane; c < CHUNKS; c += THREADS_PER_ROW) { acc += block_dot(first_row, c); }
    }
    partial_sums[block * THREADS_PER_ROW + lane] = acc;
  }
  workgroupBarrier();
  for (var block = t; block < BLOCKS_PER_WG; block += WG) {
    let first_row = wg.x * ROWS_PER_WG + 4u * block;
    if (first_row < OUT) {
      var total = vec4<i32>(0);
      for (var l = 0u; l < THREADS_PER_ROW; l++) { total += partial_sums[block * THREADS_PER_ROW + l]; }
      store_rows(first_row, total);
    }
  }
}
//#endif

// --- bitlinear_rows: the int8 × ternary matrix product of a prefill chunk ---------------------------------------
// Weights in the matvec layout above (rows of CHUNKS vec4<u32>; word w holds columns 16w + 4j + b at bits 8b + 2j,
// padding columns weight 0), read here as plain u32 words. xq is column-major ([IN, XQ_ROWS]: column c of tokens 4g..4g+3 is one vec4), y row-major ([tokens, OUT]), xscale
// one scale per token. A thread owns 8 output rows for 4 tokens: each vec4 of activations is loaded once for 8
// rows (on SwiftShader 8 rows × 4 tokens measured 2.3× faster than 1 row × 16 tokens). The integer sums are exact
// and each value is f32(acc) · (row_scale / xscale) as in `bitlinear`, so every output equals the one-token path's
// bit for bit. Dispatched (⌈OUT/512⌉, ⌈tokens/4⌉). This is the GPUs' kernel: CPU adapters run
// bitlinear_rows_pairs (below), 2.7–4× faster on SwiftShader, same outputs.
override XQ_ROWS: u32 = 4u; // a multiple of 4, ≥ 4 · ⌈tokens/4⌉

@group(0) @binding(2) var<storage, read> xq_tile: array<vec4<i32>>; // [IN, XQ_ROWS / 4]
@group(0) @binding(5) var<uniform> chunk: vec4<u32>;                // x: tokens in the chunk

// BITLINEAR_ROWS_PER_THREAD, BITLINEAR_TOKENS_PER_THREAD: gpu/shaders.ts KERNEL_CONSTANTS (the dispatch uses them).
const_assert BITLINEAR_ROWS_PER_THREAD == 8u; // acc[0..7] below
const_assert BITLINEAR_TOKENS_PER_THREAD == 4u; // one vec4<i32> per row

@compute @workgroup_size(WORKGROUP_SIZE)
fn bitlinear_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.x * BITLINEAR_ROWS_PER_THREAD;
  if (row0 >= OUT) { return; }
  let groups = XQ_ROWS / 4u;
  let words = (IN + 15u) / 16u; // padding columns have weight 0, whatever xq holds there
  let row_words = CHUNKS * 4u;
  var acc = array<vec4<i32>, BITLINEAR_ROWS_PER_THREAD>();
  var word = array<u32, BITLINEAR_ROWS_PER_THREAD>();
  for (var w = 0u; w < words; w++) {
    // Rows past OUT (its last thread) repeat the last row; their sums are dropped.
    for (var q = 0u; q < BITLINEAR_ROWS_PER_THREAD; q++) { word[q] = weights[min(row0 + q, OUT - 1u) * row_words + w]; }
    var at = w * 16u * groups + gid.y;
    for (var k = 0u; k < 16u; k++) {
      let x = xq_tile[at];
      let s = 8u * (k & 3u) + 2u * (k >> 2u); // column 16w + k
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
  let first = gid.y * BITLINEAR_TOKENS_PER_THREAD;
  let n = min(BITLINEAR_TOKENS_PER_THREAD, chunk.x - first);
  for (var q = 0u; q < BITLINEAR_ROWS_PER_THREAD; q++) {
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

// bitlinear_rows_pairs: the same product on CPU adapters (src/engine/gpu/layers/builder.ts chunkBitlinear), with
// bitlinear_row's two columns per i32 multiply applied to 4 tokens at a time: for columns p, q of a word and the
// invocation's 4 tokens, X = x_q + 65536·x_p is a vec4 (one lane per token) built once per chunk of 64 columns and
// shared by all the invocation's rows, C = (word >> s) & 0x00030003 is one scalar per row, and C·X adds
// c_p·x_p + c_q·x_q to each lane's high field. The lanes never mix (each is one token's i32), so each lane has
// exactly bitlinear_row's bounds: over a chunk of 64 columns of int8 x the low field stays within ±2¹³ and the high
// one within ±2¹⁴, so (S + 0x8000) >> 16 is the chunk's exact Σ c·x, and Σ w·x = Σ c·x − Σ x (Σ x per token, once
// per invocation). Same i32 sums, same f32 multiply: the same y as bitlinear_rows and the decode path, bit for bit.
// About 10 operations per 2 columns × 4 tokens (shift, mask, 4 multiplies, 4 adds) instead of 22; the operands of a
// chunk (64 vec4 loads and their pairing) are amortised over BITLINEAR_PAIRS_ROWS_PER_THREAD rows, and more rows
// per invocation kept paying off up to 64 (e2e/gpu/rows-lab.spec.ts: 64 rows in workgroups of 4 measured 2.7–4x
// bitlinear_rows at the d256 shapes on SwiftShader; 8 rows in workgroups of 64, bitlinear_rows' shape, 1.2–1.6x).
// It reads whole chunks of 64 columns, so xq must hold int8 values in every column up to CHUNKS · 64 for the
// chunk's tokens: the chunk's xq is allocated to whole chunks of columns (layers/activations.ts), and is only ever
// written by the norms' quantize() (clamped to −128..127) or left zero. Token rows past the chunk (padding) may
// hold anything: they only reach their own lanes, whose sums are not stored.
// Dispatched (⌈⌈OUT / BITLINEAR_PAIRS_ROWS_PER_THREAD⌉ / BITLINEAR_PAIRS_WORKGROUP_SIZE⌉, ⌈tokens / 4⌉).
override PAIRS_INVOCATIONS: u32 = (OUT + BITLINEAR_PAIRS_ROWS_PER_THREAD - 1u) / BITLINEAR_PAIRS_ROWS_PER_THREAD;

// word_pairs for 4 tokens: Σ code·x over the 16 columns of a word, per token, in the high fields; p[j], q[j] are the
// X of columns 4j + {0, 2} and 4j + {1, 3}.
fn word_pairs_tokens(w: i32, p0: vec4<i32>, q0: vec4<i32>, p1: vec4<i32>, q1: vec4<i32>, p2: vec4<i32>, q2: vec4<i32>, p3: vec4<i32>, q3: vec4<i32>) -> vec4<i32> {
  return (w & PAIR_MASK) * p0 + ((w >> 8u) & PAIR_MASK) * q0
       + ((w >> 2u) & PAIR_MASK) * p1 + ((w >> 10u) & PAIR_MASK) * q1
       + ((w >> 4u) & PAIR_MASK) * p2 + ((w >> 12u) & PAIR_MASK) * q2
       + ((w >> 6u) & PAIR_MASK) * p3 + ((w >> 14u) & PAIR_MASK) * q3;
}

@compute @workgroup_size(BITLINEAR_PAIRS_WORKGROUP_SIZE)
fn bitlinear_rows_pairs(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= PAIRS_INVOCATIONS) { return; }
  let row0 = gid.x * BITLINEAR_PAIRS_ROWS_PER_THREAD;
  let groups = XQ_ROWS / 4u;
  var acc = array<vec4<i32>, BITLINEAR_PAIRS_ROWS_PER_THREAD>();
  var x_sum = vec4<i32>(0);
  for (var c = 0u; c < CHUNKS; c++) {
    // The X of the chunk: p[4k + j], q[4k + j] for word k's columns 16k + 4j + {0, 2}, {1, 3} (xq_tile[column · groups + gid.y]).
    var p: array<vec4<i32>, 16>;
    var q: array<vec4<i32>, 16>;
    for (var i = 0u; i < 16u; i++) {
      let at = (64u * c + 4u * i) * groups + gid.y;
      let x0 = xq_tile[at];
      let x1 = xq_tile[at + groups];
      let x2 = xq_tile[at + 2u * groups];
      let x3 = xq_tile[at + 3u * groups];
      x_sum += x0 + x1 + x2 + x3;
      p[i] = x2 + 65536 * x0;
      q[i] = x3 + 65536 * x1;
    }
    let p0 = p[0]; let p1 = p[1]; let p2 = p[2]; let p3 = p[3]; let p4 = p[4]; let p5 = p[5]; let p6 = p[6]; let p7 = p[7];
    let p8 = p[8]; let p9 = p[9]; let p10 = p[10]; let p11 = p[11]; let p12 = p[12]; let p13 = p[13]; let p14 = p[14]; let p15 = p[15];
    let q0 = q[0]; let q1 = q[1]; let q2 = q[2]; let q3 = q[3]; let q4 = q[4]; let q5 = q[5]; let q6 = q[6]; let q7 = q[7];
    let q8 = q[8]; let q9 = q[9]; let q10 = q[10]; let q11 = q[11]; let q12 = q[12]; let q13 = q[13]; let q14 = q[14]; let q15 = q[15];
    for (var r = 0u; r < BITLINEAR_PAIRS_ROWS_PER_THREAD; r++) {
      // Rows past OUT (in the last invocation) repeat the last row; their sums are not stored.
      let w = bitcast<vec4<i32>>(matvec_weights[min(row0 + r, OUT - 1u) * CHUNKS + c]);
      let s = word_pairs_tokens(w.x, p0, q0, p1, q1, p2, q2, p3, q3) + word_pairs_tokens(w.y, p4, q4, p5, q5, p6, q6, p7, q7)
            + word_pairs_tokens(w.z, p8, q8, p9, q9, p10, q10, p11, q11) + word_pairs_tokens(w.w, p12, q12, p13, q13, p14, q14, p15, q15);
      acc[r] += (s + vec4<i32>(0x8000)) >> vec4<u32>(16u);
    }
  }
  let first = gid.y * BITLINEAR_TOKENS_PER_THREAD;
  let n = min(BITLINEAR_TOKENS_PER_THREAD, chunk.x - first);
  for (var q = 0u; q < BITLINEAR_PAIRS_ROWS_PER_THREAD; q++) {
    let row = row0 + q;
    if (row < OUT) {
      let sums = acc[q] - x_sum;
      for (var r = 0u; r < n; r++) {
        let token = first + r;
        let value = f32(sums[r]) * (row_scale[row] / xscale[token]);
        let at = token * OUT + row;
        if (ACCUMULATE) { y[at] = y[at] + value; } else { y[at] = value; }
      }
    }
  }
}
