// LM head on the float embeddings (no quantisation, MATH.md): logits[v] = E[v] · xn.
// The final RMSNorm runs before it as norm.wgsl's norm_quant_rows (its int8 output is unused there).
// The table is u32 words (gpu/layers/embedding.ts FloatTableGpu): with F16, two f16 values per word, unpacked with
// unpack2x16float (exact, core WGSL: no shader-f16 needed), rows of ROW_WORDS = ceil(D/2) words; else one f32 per
// word (bitcast), rows of D words. f16 halves the bytes the head reads per token, its largest read.
// The decode step's lm_head (ADVANCE) also bumps the GPU-side position counter, as the step's last kernel (nothing
// after it reads the position), so that several steps may be recorded into one command buffer without the host
// rewriting it in between, and without a dispatch of its own. advance_position_by does it after a chunk.
// HEAD_ROWS_PER_THREAD, HEAD_CHUNK_ROWS_PER_THREAD, HEAD_TOKENS_PER_THREAD: gpu/shaders.ts KERNEL_CONSTANTS (the
// dispatches use them).
const_assert HEAD_ROWS_PER_THREAD == 4u; // rows v0..v3 below, in the lanes of a vec4 (lm_head)
const_assert HEAD_TOKENS_PER_THREAD == 16u; // a mat4x4 per row (lm_head_rows)
override D: u32;
override V: u32;
override F16: bool;
override ROW_WORDS: u32;

@group(0) @binding(0) var<storage, read> table: array<u32>;        // [V, ROW_WORDS]
@group(0) @binding(1) var<storage, read> xn: array<f32>;           // [D]
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // [V]
@group(0) @binding(3) var<storage, read_write> head_position: array<u32>; // [0] = position of the next token
override ADVANCE: bool = false;

// The decode step's head: a thread owns four vocabulary rows, as lm_head_rows does, their sums in the lanes of one
// vec4 (lane r: row v0 + r). Each value of xn (the same for every lane: the loads that cost on SwiftShader) is
// loaded once for the four rows, each table word once. Each row's sum runs element by element from 0, the order
// of one thread per row (and of lm_head_rows), so the logits are the same bits. Dispatched ⌈V/256⌉.
@compute @workgroup_size(WORKGROUP_SIZE)
fn lm_head(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (ADVANCE && gid.x == 0u) { head_position[0] = head_position[0] + 1u; }
  let v0 = HEAD_ROWS_PER_THREAD * gid.x;
  if (v0 >= V) { return; }
  // Rows past V (the last thread's) repeat row V − 1 and are not stored.
  let v1 = min(v0 + 1u, V - 1u);
  let v2 = min(v0 + 2u, V - 1u);
  let v3 = min(v0 + 3u, V - 1u);
  var acc = vec4<f32>();
  if (F16) {
    // Word w holds columns 2w and 2w + 1 of a row: one load and unpack per word and row.
    for (var w = 0u; w < D / 2u; w++) {
      let pa = unpack2x16float(table[v0 * ROW_WORDS + w]);
      let pb = unpack2x16float(table[v1 * ROW_WORDS + w]);
      let pc = unpack2x16float(table[v2 * ROW_WORDS + w]);
      let pd = unpack2x16float(table[v3 * ROW_WORDS + w]);
      acc += vec4<f32>(pa.x, pb.x, pc.x, pd.x) * xn[2u * w];
      acc += vec4<f32>(pa.y, pb.y, pc.y, pd.y) * xn[2u * w + 1u];
    }
    if (D % 2u == 1u) {
      let w = D / 2u;
      let e = vec4<f32>(unpack2x16float(table[v0 * ROW_WORDS + w]).x, unpack2x16float(table[v1 * ROW_WORDS + w]).x,
                        unpack2x16float(table[v2 * ROW_WORDS + w]).x, unpack2x16float(table[v3 * ROW_WORDS + w]).x);
      acc += e * xn[D - 1u];
    }
  } else {
    for (var i = 0u; i < D; i++) {
      let e = vec4<f32>(bitcast<f32>(table[v0 * ROW_WORDS + i]), bitcast<f32>(table[v1 * ROW_WORDS + i]),
                        bitcast<f32>(table[v2 * ROW_WORDS + i]), bitcast<f32>(table[v3 * ROW_WORDS + i]));
      acc += e * xn[i];
    }
  }
  logits[v0] = acc.x;
  if (v0 + 1u < V) { logits[v0 + 1u] = acc.y; }
  if (v0 + 2u < V) { logits[v0 + 2u] = acc.z; }
  if (v0 + 3u < V) { logits[v0 + 3u] = acc.w; }
}

// --- Prefill chunks ---------------------------------------------------------------------------------------------
// lm_head_rows: logits for every token row of a chunk, for reading a text with its loss. xn is column-major
// ([D, XN_ROWS], written so by the final norm: column i of tokens 4g..4g+3 is one vec4), logits row-major
// ([tokens, V]). A thread owns HEAD_CHUNK_ROWS_PER_THREAD (16) vocabulary rows for a tile of 16 tokens, each row's
// sums in a mat4x4 (column c: tokens 4c..4c+3). On SwiftShader the loads of xn (the same for every lane, so each is
// a gather of one address) are what costs: each vec4 of xn is loaded once per word for the 16 rows, and bigger
// tiles kept paying off (e2e/gpu/head-lab.spec.ts: 16 rows × 16 tokens measured 1.5-1.7x the former 4 × 16 at
// 4096 × 256; 16 × 32 and 32 × 16 another 1.1-1.25x, but longer to write and compile). Named accumulators, not
// an array: a private array indexed in a loop is a per-lane gather/scatter there (4-6x slower). Each token's sum
// runs element by element in the order of `lm_head`'s lanes, so the logits are lm_head's, bit for bit.
// Dispatched (⌈V/(64 · 16)⌉, ⌈tokens/16⌉).
override XN_ROWS: u32 = 16u;
const_assert HEAD_CHUNK_ROWS_PER_THREAD == 16u; // a0..a15 below

@group(0) @binding(0) var<storage, read> rows_table: array<u32>;        // [V, ROW_WORDS] (see lm_head)
@group(0) @binding(1) var<storage, read> rows_xn: array<vec4<f32>>;     // [D, XN_ROWS / 4]
@group(0) @binding(2) var<storage, read_write> rows_logits: array<f32>; // [tokens, V]
@group(0) @binding(3) var<uniform> rows_chunk: vec4<u32>;              // x: tokens in the chunk

// Columns 2w and 2w + 1 of the row whose first word is `at`.
fn table_pair(at: u32, w: u32) -> vec2<f32> {
  if (F16) { return unpack2x16float(rows_table[at + w]); }
  return vec2<f32>(bitcast<f32>(rows_table[at + 2u * w]), bitcast<f32>(rows_table[at + 2u * w + 1u]));
}

// Column D − 1 of the row whose first word is `at` (D odd).
fn table_last(at: u32) -> f32 {
  if (F16) { return unpack2x16float(rows_table[at + D / 2u]).x; }
  return bitcast<f32>(rows_table[at + D - 1u]);
}

// A row's sums after columns 2w, 2w + 1 (x, y: the tile's xn there; e: the row's two values), one column at a time.
fn add_pair(acc: mat4x4<f32>, x: mat4x4<f32>, y: mat4x4<f32>, e: vec2<f32>) -> mat4x4<f32> {
  return acc + x * e.x + y * e.y;
}

// Row v's logits of the tile's tokens first.. (n of them); rows past V (the last thread's repeat row V − 1) are not stored.
fn store_rows_tile(v: u32, first: u32, n: u32, acc: mat4x4<f32>) {
  if (v >= V) { return; }
  for (var r = 0u; r < n; r++) { rows_logits[(first + r) * V + v] = acc[r / 4u][r % 4u]; }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn lm_head_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v0 = HEAD_CHUNK_ROWS_PER_THREAD * gid.x;
  if (v0 >= V) { return; }
  let groups = XN_ROWS / 4u;
  let g = gid.y * 4u;
  let t0 = min(v0 + 0u, V - 1u) * ROW_WORDS; let t1 = min(v0 + 1u, V - 1u) * ROW_WORDS;
  let t2 = min(v0 + 2u, V - 1u) * ROW_WORDS; let t3 = min(v0 + 3u, V - 1u) * ROW_WORDS;
  let t4 = min(v0 + 4u, V - 1u) * ROW_WORDS; let t5 = min(v0 + 5u, V - 1u) * ROW_WORDS;
  let t6 = min(v0 + 6u, V - 1u) * ROW_WORDS; let t7 = min(v0 + 7u, V - 1u) * ROW_WORDS;
  let t8 = min(v0 + 8u, V - 1u) * ROW_WORDS; let t9 = min(v0 + 9u, V - 1u) * ROW_WORDS;
  let t10 = min(v0 + 10u, V - 1u) * ROW_WORDS; let t11 = min(v0 + 11u, V - 1u) * ROW_WORDS;
  let t12 = min(v0 + 12u, V - 1u) * ROW_WORDS; let t13 = min(v0 + 13u, V - 1u) * ROW_WORDS;
  let t14 = min(v0 + 14u, V - 1u) * ROW_WORDS; let t15 = min(v0 + 15u, V - 1u) * ROW_WORDS;
  var a0 = mat4x4<f32>(); var a1 = mat4x4<f32>(); var a2 = mat4x4<f32>(); var a3 = mat4x4<f32>();
  var a4 = mat4x4<f32>(); var a5 = mat4x4<f32>(); var a6 = mat4x4<f32>(); var a7 = mat4x4<f32>();
  var a8 = mat4x4<f32>(); var a9 = mat4x4<f32>(); var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>();
  var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>(); var a14 = mat4x4<f32>(); var a15 = mat4x4<f32>();
  for (var w = 0u; w < D / 2u; w++) {
    let at = 2u * w * groups + g;
    let x = mat4x4<f32>(rows_xn[at], rows_xn[at + 1u], rows_xn[at + 2u], rows_xn[at + 3u]);
    let y = mat4x4<f32>(rows_xn[at + groups], rows_xn[at + groups + 1u], rows_xn[at + groups + 2u], rows_xn[at + groups + 3u]);
    a0 = add_pair(a0, x, y, table_pair(t0, w)); a1 = add_pair(a1, x, y, table_pair(t1, w));
    a2 = add_pair(a2, x, y, table_pair(t2, w)); a3 = add_pair(a3, x, y, table_pair(t3, w));
    a4 = add_pair(a4, x, y, table_pair(t4, w)); a5 = add_pair(a5, x, y, table_pair(t5, w));
    a6 = add_pair(a6, x, y, table_pair(t6, w)); a7 = add_pair(a7, x, y, table_pair(t7, w));
    a8 = add_pair(a8, x, y, table_pair(t8, w)); a9 = add_pair(a9, x, y, table_pair(t9, w));
    a10 = add_pair(a10, x, y, table_pair(t10, w)); a11 = add_pair(a11, x, y, table_pair(t11, w));
    a12 = add_pair(a12, x, y, table_pair(t12, w)); a13 = add_pair(a13, x, y, table_pair(t13, w));
    a14 = add_pair(a14, x, y, table_pair(t14, w)); a15 = add_pair(a15, x, y, table_pair(t15, w));
  }
  if (D % 2u == 1u) {
    let at = (D - 1u) * groups + g;
    let x = mat4x4<f32>(rows_xn[at], rows_xn[at + 1u], rows_xn[at + 2u], rows_xn[at + 3u]);
    a0 += x * table_last(t0); a1 += x * table_last(t1); a2 += x * table_last(t2); a3 += x * table_last(t3);
    a4 += x * table_last(t4); a5 += x * table_last(t5); a6 += x * table_last(t6); a7 += x * table_last(t7);
    a8 += x * table_last(t8); a9 += x * table_last(t9); a10 += x * table_last(t10); a11 += x * table_last(t11);
    a12 += x * table_last(t12); a13 += x * table_last(t13); a14 += x * table_last(t14); a15 += x * table_last(t15);
  }
  let first = gid.y * HEAD_TOKENS_PER_THREAD;
  let n = min(HEAD_TOKENS_PER_THREAD, rows_chunk.x - first);
  store_rows_tile(v0 + 0u, first, n, a0); store_rows_tile(v0 + 1u, first, n, a1);
  store_rows_tile(v0 + 2u, first, n, a2); store_rows_tile(v0 + 3u, first, n, a3);
  store_rows_tile(v0 + 4u, first, n, a4); store_rows_tile(v0 + 5u, first, n, a5);
  store_rows_tile(v0 + 6u, first, n, a6); store_rows_tile(v0 + 7u, first, n, a7);
  store_rows_tile(v0 + 8u, first, n, a8); store_rows_tile(v0 + 9u, first, n, a9);
  store_rows_tile(v0 + 10u, first, n, a10); store_rows_tile(v0 + 11u, first, n, a11);
  store_rows_tile(v0 + 12u, first, n, a12); store_rows_tile(v0 + 13u, first, n, a13);
  store_rows_tile(v0 + 14u, first, n, a14); store_rows_tile(v0 + 15u, first, n, a15);
}

// advance_position_by: the position counter after a chunk of tokens.
@group(0) @binding(0) var<storage, read_write> advance_position_counter: array<u32>;
@group(0) @binding(1) var<uniform> advance_chunk: vec4<u32>; // x: tokens in the chunk

@compute @workgroup_size(1)
fn advance_position_by() {
  advance_position_counter[0] = advance_position_counter[0] + advance_chunk.x;
}
