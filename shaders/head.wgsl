// LM head on the float embeddings (no quantisation, MATH.md): logits[v] = E[v] · xn.
// The final RMSNorm runs before it as norm.wgsl's norm_quant_rows (its int8 output is unused there).
// The table is u32 words (gpu/layers/embedding.ts FloatTableGpu): with F16, two f16 values per word, unpacked with
// unpack2x16float (exact, core WGSL: no shader-f16 needed), rows of ROW_WORDS = ceil(D/2) words; else one f32 per
// word (bitcast), rows of D words. f16 halves the bytes the head reads per token, its largest read.
// The decode step's lm_head (ADVANCE) also bumps the GPU-side position counter, as the step's last kernel (nothing
// after it reads the position), so that several steps may be recorded into one command buffer without the host
// rewriting it in between, and without a dispatch of its own. advance_position_by does it after a chunk.
// HEAD_ROWS_PER_THREAD, HEAD_TOKENS_PER_THREAD: gpu/shaders.ts KERNEL_CONSTANTS (the dispatches use them).
const_assert HEAD_ROWS_PER_THREAD == 4u; // rows v0..v3 below, in the lanes of a vec4 (lm_head) or sums a..d (lm_head_rows)
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
// ([tokens, V]). A thread owns four vocabulary rows for a tile of 16 tokens, each row's sums in a mat4x4 (column c:
// tokens 4c..4c+3): each table word is loaded and unpacked once per tile, each vec4 of xn once for the four rows
// (the loads of xn, the same for every lane, are what costs on SwiftShader); each token's sum runs element by
// element in the order of `lm_head`'s lanes, so the logits are lm_head's, bit for bit. Dispatched (⌈V/256⌉, ⌈tokens/16⌉).
override XN_ROWS: u32 = 16u;

@group(0) @binding(0) var<storage, read> rows_table: array<u32>;        // [V, ROW_WORDS] (see lm_head)
@group(0) @binding(1) var<storage, read> rows_xn: array<vec4<f32>>;     // [D, XN_ROWS / 4]
@group(0) @binding(2) var<storage, read_write> rows_logits: array<f32>; // [tokens, V]
@group(0) @binding(3) var<uniform> rows_chunk: vec4<u32>;              // x: tokens in the chunk

@compute @workgroup_size(WORKGROUP_SIZE)
fn lm_head_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v0 = HEAD_ROWS_PER_THREAD * gid.x;
  if (v0 >= V) { return; }
  // Rows past V (the last thread's) repeat row V − 1 and are not stored.
  let v1 = min(v0 + 1u, V - 1u);
  let v2 = min(v0 + 2u, V - 1u);
  let v3 = min(v0 + 3u, V - 1u);
  let groups = XN_ROWS / 4u;
  let g = gid.y * 4u;
  var a = mat4x4<f32>();
  var b = mat4x4<f32>();
  var c = mat4x4<f32>();
  var d = mat4x4<f32>();
  if (F16) {
    // Word w holds columns 2w and 2w + 1 of a row: one load and unpack per word, no inner loop.
    for (var w = 0u; w < D / 2u; w++) {
      let pa = unpack2x16float(rows_table[v0 * ROW_WORDS + w]);
      let pb = unpack2x16float(rows_table[v1 * ROW_WORDS + w]);
      let pc = unpack2x16float(rows_table[v2 * ROW_WORDS + w]);
      let pd = unpack2x16float(rows_table[v3 * ROW_WORDS + w]);
      let at = 2u * w * groups + g;
      let x = mat4x4<f32>(rows_xn[at], rows_xn[at + 1u], rows_xn[at + 2u], rows_xn[at + 3u]);
      a += x * pa.x;
      b += x * pb.x;
      c += x * pc.x;
      d += x * pd.x;
      let y = mat4x4<f32>(rows_xn[at + groups], rows_xn[at + groups + 1u], rows_xn[at + groups + 2u], rows_xn[at + groups + 3u]);
      a += y * pa.y;
      b += y * pb.y;
      c += y * pc.y;
      d += y * pd.y;
    }
    if (D % 2u == 1u) {
      let w = D / 2u;
      let at = (D - 1u) * groups + g;
      let x = mat4x4<f32>(rows_xn[at], rows_xn[at + 1u], rows_xn[at + 2u], rows_xn[at + 3u]);
      a += x * unpack2x16float(rows_table[v0 * ROW_WORDS + w]).x;
      b += x * unpack2x16float(rows_table[v1 * ROW_WORDS + w]).x;
      c += x * unpack2x16float(rows_table[v2 * ROW_WORDS + w]).x;
      d += x * unpack2x16float(rows_table[v3 * ROW_WORDS + w]).x;
    }
  } else {
    for (var i = 0u; i < D; i++) {
      let at = i * groups + g;
      let x = mat4x4<f32>(rows_xn[at], rows_xn[at + 1u], rows_xn[at + 2u], rows_xn[at + 3u]);
      a += x * bitcast<f32>(rows_table[v0 * ROW_WORDS + i]);
      b += x * bitcast<f32>(rows_table[v1 * ROW_WORDS + i]);
      c += x * bitcast<f32>(rows_table[v2 * ROW_WORDS + i]);
      d += x * bitcast<f32>(rows_table[v3 * ROW_WORDS + i]);
    }
  }
  let first = gid.y * HEAD_TOKENS_PER_THREAD;
  let n = min(HEAD_TOKENS_PER_THREAD, rows_chunk.x - first);
  for (var r = 0u; r < n; r++) {
    let out = (first + r) * V + v0;
    let col = r / 4u;
    let k = r % 4u;
    rows_logits[out] = a[col][k];
    if (v0 + 1u < V) { rows_logits[out + 1u] = b[col][k]; }
    if (v0 + 2u < V) { rows_logits[out + 2u] = c[col][k]; }
    if (v0 + 3u < V) { rows_logits[out + 3u] = d[col][k]; }
  }
}

// advance_position_by: the position counter after a chunk of tokens.
@group(0) @binding(0) var<storage, read_write> advance_position_counter: array<u32>;
@group(0) @binding(1) var<uniform> advance_chunk: vec4<u32>; // x: tokens in the chunk

@compute @workgroup_size(1)
fn advance_position_by() {
  advance_position_counter[0] = advance_position_counter[0] + advance_chunk.x;
}
