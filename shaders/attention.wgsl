// Decode-time attention for "attn" (a KV cache that grows) and "swa" (a ring of WINDOW slots).
// KV cache layout: slot s holds k at [s·2D, s·2D + D) and v at [s·2D + D, s·2D + 2D), so growing the cache is
// one contiguous copy. Positions past the cache are refused by the host before anything is encoded.
override D: u32;
override H: u32;
override WINDOW: u32 = 0u; // 0: "attn" (slot = position); > 0: "swa" ring (slot = position mod WINDOW)
override QKV_STRIDE: u32 = 0u; // chunk kernels: floats per token row of the q, k, v input

// --- rope_append: rotate q and k in place, then store k and v in the position's slot --------------------------
// RoPE angles: pos·theta^(−2i/f) is evaluated as a 32-bit fixed-point fraction of a turn, phase = pos · step_i
// mod 2³² (exact in u32 arithmetic), so the angle stays accurate at any position and falls in [−π, π), where
// WGSL's sin/cos are accurate. rope_steps[i] = round(theta^(−2i/f) / 2π · 2³²) mod 2³², computed on the host.
@group(0) @binding(0) var<storage, read> step_position: array<u32>;
@group(0) @binding(1) var<storage, read> rope_steps: array<u32>;   // [f/2]
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;    // [3D]: q, k, v
@group(0) @binding(3) var<storage, read_write> kv_cache: array<f32>;

@compute @workgroup_size(64)
fn rope_append(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  if (pair >= D / 2u) { return; }
  let pos = step_position[0];
  var slot = pos;
  if (WINDOW > 0u) { slot = pos % max(WINDOW, 1u); } // max(): WINDOW = 0 is folded at compile time
  rope_token(pair, pos, 0u, slot * 2u * D);
}

// A prefill chunk, dispatched (⌈D/128⌉, tokens): rotates row r of qkv (q, k, v at QKV_STRIDE floats per row) for
// position first + r and stores its k and v in row r of `kv_cache`, bound to the chunk's own [tokens, 2D] buffer:
// appending to the real cache now would overwrite, in an "swa" ring, slots the chunk's earlier tokens still need.
@compute @workgroup_size(64)
fn rope_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  if (pair >= D / 2u) { return; }
  let row = gid.y;
  rope_token(pair, step_position[0] + row, row * QKV_STRIDE, row * 2u * D);
}

fn rope_token(pair: u32, pos: u32, at: u32, base: u32) {
  let half_f = D / H / 2u;
  let i = pair % half_f;
  let p = at + 2u * pair; // index of x[2i] of this head in the [D] vector of this row
  let phase = bitcast<i32>(pos * rope_steps[i]);
  let angle = f32(phase) * (6.283185307179586 / 4294967296.0);
  let c = cos(angle);
  let s = sin(angle);
  let q0 = qkv[p];
  let q1 = qkv[p + 1u];
  qkv[p] = q0 * c - q1 * s;
  qkv[p + 1u] = q0 * s + q1 * c;
  let k0 = qkv[D + p];
  let k1 = qkv[D + p + 1u];
  let kr0 = k0 * c - k1 * s;
  let kr1 = k0 * s + k1 * c;
  let c_at = base + 2u * pair;
  kv_cache[c_at] = kr0;
  kv_cache[c_at + 1u] = kr1;
  kv_cache[c_at + D] = qkv[2u * D + p];
  kv_cache[c_at + D + 1u] = qkv[2u * D + p + 1u];
}

// --- attend: one workgroup per head; an online softmax over chunks of 64 cached positions -------------------
const MAX_DIMS_PER_THREAD: u32 = 4u; // head size ≤ 256

@group(0) @binding(0) var<storage, read> attend_position: array<u32>;
@group(0) @binding(1) var<storage, read> attend_qkv: array<f32>;
@group(0) @binding(2) var<storage, read> attend_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> attend_out: array<f32>; // [D]

var<workgroup> chunk_weights: array<f32, 64>;
var<workgroup> head_q: array<f32, 256>;

@compute @workgroup_size(64)
fn attend(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let f = D / H;
  let off = h * f;
  let pos = attend_position[0];
  var count = pos + 1u;
  if (WINDOW > 0u) { count = min(count, WINDOW); }
  let inv_sqrt_f = 1.0 / sqrt(f32(f));
  for (var j = t; j < f; j += WG) { head_q[j] = attend_qkv[off + j]; }
  workgroupBarrier();

  var running_max = -3.0e38;
  var running_sum = 0.0;
  var acc: array<f32, MAX_DIMS_PER_THREAD>;
  for (var start = 0u; start < count; start += WG) {
    // Each thread scores one cached slot of the chunk.
    let slot = start + t;
    var score = -3.0e38;
    if (slot < count) {
      let base = slot * 2u * D + off;
      var dot = 0.0;
      for (var j = 0u; j < f; j++) { dot += head_q[j] * attend_cache[base + j]; }
      score = dot * inv_sqrt_f;
    }
    let chunk_max = wg_max4(t, vec4<f32>(score, 0.0, 0.0, 0.0)).x;
    let new_max = max(running_max, chunk_max);
    var weight = 0.0;
    if (slot < count) { weight = exp(score - new_max); }
    chunk_weights[t] = weight;
    let chunk_sum = wg_sum4(t, vec4<f32>(weight, 0.0, 0.0, 0.0)).x; // its barriers publish chunk_weights too
    let rescale = exp(running_max - new_max);
    running_sum = running_sum * rescale + chunk_sum;
    running_max = new_max;
    let n = min(WG, count - start);
    for (var r = 0u; r < MAX_DIMS_PER_THREAD; r++) {
      let j = t + r * WG;
      if (j < f) {
        var a = acc[r] * rescale;
        for (var s = 0u; s < n; s++) {
          a += chunk_weights[s] * attend_cache[(start + s) * 2u * D + D + off + j];
        }
        acc[r] = a;
      }
    }
    workgroupBarrier(); // chunk_weights is rewritten by the next chunk
  }
  for (var r = 0u; r < MAX_DIMS_PER_THREAD; r++) {
    let j = t + r * WG;
    if (j < f) { attend_out[off + j] = acc[r] / running_sum; }
  }
}

// --- attend_rows: a prefill chunk, one workgroup per (head, token) -----------------------------------------------
// Token r (position first + r) attends exactly the positions `attend` would see after appending it, in the same
// order (slot order of the cache), so each output equals the one-token path's: positions before the chunk come from
// the cache, the chunk's own from `rows_kv` (rope_rows' output). Dispatched (H, tokens).
@group(0) @binding(0) var<storage, read> rows_position: array<u32>;
@group(0) @binding(1) var<storage, read> rows_qkv: array<f32>;       // [tokens, QKV_STRIDE]
@group(0) @binding(2) var<storage, read> rows_cache: array<f32>;     // the layer's KV cache (positions < first)
@group(0) @binding(3) var<storage, read> rows_kv: array<f32>;        // [tokens, 2D]: the chunk's rotated k, v
@group(0) @binding(4) var<storage, read_write> rows_out: array<f32>; // [tokens, D]

// Float index of k (v: + D) of head offset `off` at `position`, and whether it lives in rows_kv.
fn kv_at(position: u32, first: u32, off: u32) -> vec2<u32> {
  if (position >= first) { return vec2<u32>((position - first) * 2u * D + off, 1u); }
  var slot = position;
  if (WINDOW > 0u) { slot = position % max(WINDOW, 1u); }
  return vec2<u32>(slot * 2u * D + off, 0u);
}

fn kv_load(at: vec2<u32>, j: u32) -> f32 {
  if (at.y == 1u) { return rows_kv[at.x + j]; }
  return rows_cache[at.x + j];
}

@compute @workgroup_size(64)
fn attend_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let row = wid.y;
  let f = D / H;
  let off = h * f;
  let first = rows_position[0];
  let pos = first + row;
  var count = pos + 1u;
  if (WINDOW > 0u) { count = min(count, WINDOW); }
  let inv_sqrt_f = 1.0 / sqrt(f32(f));
  for (var j = t; j < f; j += WG) { head_q[j] = rows_qkv[row * QKV_STRIDE + off + j]; }
  workgroupBarrier();

  var running_max = -3.0e38;
  var running_sum = 0.0;
  var acc: array<f32, MAX_DIMS_PER_THREAD>;
  for (var start = 0u; start < count; start += WG) {
    let slot = start + t;
    var score = -3.0e38;
    if (slot < count) {
      let at = kv_at(slot_position(slot, pos), first, off);
      var dot = 0.0;
      for (var j = 0u; j < f; j++) { dot += head_q[j] * kv_load(at, j); }
      score = dot * inv_sqrt_f;
    }
    let chunk_max = wg_max4(t, vec4<f32>(score, 0.0, 0.0, 0.0)).x;
    let new_max = max(running_max, chunk_max);
    var weight = 0.0;
    if (slot < count) { weight = exp(score - new_max); }
    chunk_weights[t] = weight;
    let chunk_sum = wg_sum4(t, vec4<f32>(weight, 0.0, 0.0, 0.0)).x;
    let rescale = exp(running_max - new_max);
    running_sum = running_sum * rescale + chunk_sum;
    running_max = new_max;
    let n = min(WG, count - start);
    for (var r = 0u; r < MAX_DIMS_PER_THREAD; r++) {
      let j = t + r * WG;
      if (j < f) {
        var a = acc[r] * rescale;
        for (var s = 0u; s < n; s++) {
          a += chunk_weights[s] * kv_load(kv_at(slot_position(start + s, pos), first, off), D + j);
        }
        acc[r] = a;
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < MAX_DIMS_PER_THREAD; r++) {
    let j = t + r * WG;
    if (j < f) { rows_out[row * D + off + j] = acc[r] / running_sum; }
  }
}

// The position held by cache slot `slot` once the token at `pos` is appended: the slot itself for "attn", and for
// the "swa" ring the latest position ≤ pos congruent to the slot modulo WINDOW.
fn slot_position(slot: u32, pos: u32) -> u32 {
  if (WINDOW == 0u) { return slot; }
  return pos - (pos + WINDOW - slot) % max(WINDOW, 1u);
}

// --- append_rows: the chunk's k, v into the cache, after attend_rows --------------------------------------------
// Dispatched (⌈2D/64⌉, tokens). In an "swa" ring only the last WINDOW tokens are stored (earlier ones would be
// overwritten by later tokens of the same chunk, and writing both would race).
@group(0) @binding(0) var<storage, read> append_position: array<u32>;
@group(0) @binding(1) var<storage, read> append_kv: array<f32>;           // [tokens, 2D]
@group(0) @binding(2) var<storage, read_write> append_cache: array<f32>;
@group(0) @binding(3) var<uniform> append_chunk: vec4<u32>;               // x: tokens in the chunk

@compute @workgroup_size(64)
fn append_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let row = gid.y;
  if (i >= 2u * D) { return; }
  if (WINDOW > 0u && row + WINDOW < append_chunk.x) { return; }
  let pos = append_position[0] + row;
  var slot = pos;
  if (WINDOW > 0u) { slot = pos % max(WINDOW, 1u); }
  append_cache[slot * 2u * D + i] = append_kv[row * 2u * D + i];
}
