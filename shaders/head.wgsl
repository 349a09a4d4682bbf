// LM head on the float embeddings (no quantisation, MATH.md): logits[v] = E[v] · xn, one thread per vocabulary row.
// The final RMSNorm runs before it as norm.wgsl's norm_quant_rows (its int8 output is unused there).
// The table is u32 words (gpu/model.ts FloatTable): with F16, two f16 values per word, unpacked with
// unpack2x16float (exact, core WGSL: no shader-f16 needed), rows of ROW_WORDS = ceil(D/2) words; else one f32 per
// word (bitcast), rows of D words. f16 halves the bytes the head reads per token, its largest read.
// The decode step's lm_head (ADVANCE) also bumps the GPU-side position counter, as the step's last kernel (nothing
// after it reads the position), so that several steps may be recorded into one command buffer without the host
// rewriting it in between, and without a dispatch of its own. advance_position_by does it after a chunk.
override D: u32;
override V: u32;
override F16: bool;
override ROW_WORDS: u32;

@group(0) @binding(0) var<storage, read> table: array<u32>;        // [V, ROW_WORDS]
@group(0) @binding(1) var<storage, read> xn: array<f32>;           // [D]
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // [V]
@group(0) @binding(3) var<storage, read_write> head_position: array<u32>; // [0] = position of the next token
override ADVANCE: bool = false;

@compute @workgroup_size(64)
fn lm_head(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (ADVANCE && v == 0u) { head_position[0] = head_position[0] + 1u; }
  if (v >= V) { return; }
  let base = v * ROW_WORDS;
  var acc = 0.0;
  if (F16) {
    // Same order of additions as the f32 path: element by element.
    for (var w = 0u; w < D / 2u; w++) {
      let pair = unpack2x16float(table[base + w]);
      acc += pair.x * xn[2u * w];
      acc += pair.y * xn[2u * w + 1u];
    }
    if (D % 2u == 1u) { acc += unpack2x16float(table[base + D / 2u]).x * xn[D - 1u]; }
  } else {
    for (var i = 0u; i < D; i++) { acc += bitcast<f32>(table[base + i]) * xn[i]; }
  }
  logits[v] = acc;
}

// --- Prefill chunks ---------------------------------------------------------------------------------------------
// lm_head_rows: logits for every token row of a chunk, for reading a text with its loss. xn is column-major
// ([D, XN_ROWS], written so by the final norm: column i of tokens 4g..4g+3 is one vec4), logits row-major
// ([tokens, V]). A thread owns two vocabulary rows for a tile of 16 tokens: each table word is loaded and unpacked
// once per tile, each vec4 of xn once for both rows; each token's sum runs element by element in the order of `lm_head`, so the logits are lm_head's, bit for
// bit. Dispatched (⌈V/128⌉, ⌈tokens/16⌉).
override XN_ROWS: u32 = 16u;

@group(0) @binding(0) var<storage, read> rows_table: array<u32>;        // [V, ROW_WORDS] (see lm_head)
@group(0) @binding(1) var<storage, read> rows_xn: array<vec4<f32>>;     // [D, XN_ROWS / 4]
@group(0) @binding(2) var<storage, read_write> rows_logits: array<f32>; // [tokens, V]
@group(0) @binding(3) var<uniform> rows_chunk: vec4<u32>;              // x: tokens in the chunk

// Table values (row v, columns i and i + 1 when F16 and i even; else column i twice).
fn table_pair(v: u32, i: u32) -> vec2<f32> {
  if (F16) { return unpack2x16float(rows_table[v * ROW_WORDS + i / 2u]); }
  let e = bitcast<f32>(rows_table[v * ROW_WORDS + i]);
  return vec2<f32>(e, e);
}

@compute @workgroup_size(64)
fn lm_head_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v0 = 2u * gid.x;
  if (v0 >= V) { return; }
  let v1 = min(v0 + 1u, V - 1u); // an odd last row is computed twice and stored once
  let groups = XN_ROWS / 4u;
  let g = gid.y * 4u;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  let step = select(1u, 2u, F16);
  for (var i = 0u; i < D; i += step) {
    let p = table_pair(v0, i);
    let q = table_pair(v1, i);
    for (var h = 0u; h < step && i + h < D; h++) {
      let e = select(p.x, p.y, h == 1u);
      let f = select(q.x, q.y, h == 1u);
      let at = (i + h) * groups + g;
      let x0 = rows_xn[at];
      let x1 = rows_xn[at + 1u];
      let x2 = rows_xn[at + 2u];
      let x3 = rows_xn[at + 3u];
      a0 += e * x0;
      a1 += e * x1;
      a2 += e * x2;
      a3 += e * x3;
      b0 += f * x0;
      b1 += f * x1;
      b2 += f * x2;
      b3 += f * x3;
    }
  }
  let first = gid.y * 16u;
  let n = min(16u, rows_chunk.x - first);
  let a = array<vec4<f32>, 4>(a0, a1, a2, a3);
  let b = array<vec4<f32>, 4>(b0, b1, b2, b3);
  for (var r = 0u; r < n; r++) {
    rows_logits[(first + r) * V + v0] = a[r / 4u][r % 4u];
    if (v0 + 1u < V) { rows_logits[(first + r) * V + v0 + 1u] = b[r / 4u][r % 4u]; }
  }
}

// advance_position_by: the position counter after a chunk of tokens.
@group(0) @binding(0) var<storage, read_write> advance_position_counter: array<u32>;
@group(0) @binding(1) var<uniform> advance_chunk: vec4<u32>; // x: tokens in the chunk

@compute @workgroup_size(1)
fn advance_position_by() {
  advance_position_counter[0] = advance_position_counter[0] + advance_chunk.x;
}
