// Attention for "attn" (a KV cache that grows) and "swa" (a ring of WINDOW slots).
// KV cache layout: slot s holds k at [s·2D, s·2D + D) and v at [s·2D + D, s·2D + 2D), so growing the cache is
// one contiguous copy. Positions past the cache are refused by the host before anything is encoded.
//
// Both paths run every query through one function, attend_span: a single thread's online softmax over a span of
// key positions in position order. No barrier, no reduction per key: on SwiftShader (CPU Vulkan) a workgroup
// barrier costs tens of µs, far more than the ~2·f multiply-adds a key costs.
//   decode (attend_step[_conv]): one dispatch per layer, a workgroup per head: conv (with CONV_K > 0), RoPE and the
//     append of the token's k, v, one barrier, then the head's keys split into spans over the threads (split-K) and
//     the partial softmaxes merged after a second barrier.
//   chunk (rope_rows, [append_rows,] [window_rows,] attend_rows, [append_rows]): a thread per (token, head) runs
//     attend_span over the same spans and merges them in the same order, so both paths give bitwise the same
//     outputs. attend_span reads every key from one buffer (att_cache): for "attn" the chunk's k, v are appended
//     first (slot = position, nothing is overwritten); for "swa", whose ring the chunk would overwrite, window_rows
//     first gathers the window before the chunk and the chunk's own rows into one buffer in position order.
override D: u32;
override H: u32;
override WINDOW: u32 = 0u; // 0: "attn" (slot = position); > 0: "swa" ring (slot = position mod WINDOW)
override QKV_STRIDE: u32 = 0u; // chunk kernels: floats per token row of the q, k, v input
override CONV_K: u32 = 0u; // attend_step_conv: the attention conv's kernel size (> 0)
override GATHERED: bool = false; // attend_rows of "swa": att_cache is window_rows' output (positions base, base + 1, …)

// MAX_HEAD (gpu/shaders.ts KERNEL_CONSTANTS): GpuModel refuses larger heads.

// RoPE angles: pos·theta^(−2i/f) is evaluated as a 32-bit fixed-point fraction of a turn, phase = pos · step_i
// mod 2³² (exact in u32 arithmetic), so the angle stays accurate at any position and falls in [−π, π), where
// WGSL's sin/cos are accurate. rope_steps[i] = round(theta^(−2i/f) / 2π · 2³²) mod 2³², computed on the host.
fn rope_angle(step: u32, pos: u32) -> vec2<f32> {
  let angle = f32(bitcast<i32>(pos * step)) * (6.283185307179586 / 4294967296.0);
  return vec2<f32>(cos(angle), sin(angle));
}

fn rotate(x: vec2<f32>, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x.x * cs.x - x.y * cs.y, x.x * cs.y + x.y * cs.x);
}

fn cache_slot(pos: u32) -> u32 {
  if (WINDOW > 0u) { return pos % max(WINDOW, 1u); } // max(): WINDOW = 0 is folded at compile time
  return pos;
}

// --- Bindings shared by the attention entry points (each uses bindings 0..n−1 without gaps) -------------------
@group(0) @binding(0) var<storage, read> att_position: array<u32>;   // [0]: decode: the token's position; chunk: the first
@group(0) @binding(1) var<storage, read> att_qkv: array<f32>;        // decode: q, k, v at 0, D, 2D (pre-conv); chunk: rows
@group(0) @binding(2) var<storage, read_write> att_cache: array<f32>; // the layer's KV cache (GATHERED: the window)
@group(0) @binding(4) var<storage, read_write> att_out: array<f32>;  // [tokens, D] per-head outputs o_h

// --- attend_span: one query, one thread ------------------------------------------------------------------------
// The online softmax of q (head offset `off`) over key positions [lo, hi) of att_cache, in position order (slots:
// key_slots, `base` the first position of a GATHERED window). Leaves the unnormalised Σ exp(s − m)·v in `acc` and
// returns (m, Σ exp(s − m)); an empty span gives (−3e38, 0) and acc = 0.
// Keys go four at a time (tiles from lo): the tile's scores as one vec4, one rescale of the running sums per tile,
// and q_j, acc_j touched once per tile instead of once per key. On SwiftShader each access of a private array by a
// loop index is a per-lane gather or scatter: per key, those dominated the cost. No branch on where a key lives:
// SwiftShader runs every side of a branch its lanes might take.
fn attend_span(q: ptr<function, array<f32, MAX_HEAD>>, acc: ptr<function, array<f32, MAX_HEAD>>, off: u32, base: u32, lo: u32, hi: u32) -> vec2<f32> {
  let f = D / H;
  let inv_sqrt_f = 1.0 / sqrt(f32(f));
  for (var j = 0u; j < f; j++) { (*acc)[j] = 0.0; }
  var m = -3.0e38;
  var l = 0.0;
  for (var p = lo; p < hi; p += 4u) {
    let keys = vec4<u32>(p, p + 1u, p + 2u, p + 3u);
    let valid = keys < vec4<u32>(hi);
    // A tile past hi repeats its last key, weighted 0.
    let at = key_slots(min(keys, vec4<u32>(hi - 1u)), base) * (2u * D) + vec4<u32>(off);
    var score = vec4<f32>(0.0);
    for (var j = 0u; j < f; j++) { score += (*q)[j] * cache4(at + vec4<u32>(j)); }
    score = select(vec4<f32>(-3.0e38), score * inv_sqrt_f, valid);
    let m_new = max(m, max(max(score.x, score.y), max(score.z, score.w)));
    let rescale = exp(m - m_new);
    let w = select(vec4<f32>(0.0), exp(score - vec4<f32>(m_new)), valid);
    l = l * rescale + ((w.x + w.y) + (w.z + w.w));
    m = m_new;
    let v = at + vec4<u32>(D);
    for (var j = 0u; j < f; j++) { (*acc)[j] = (*acc)[j] * rescale + dot(w, cache4(v + vec4<u32>(j))); }
  }
  return vec2<f32>(m, l);
}

// Four floats of att_cache at four offsets.
fn cache4(at: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(att_cache[at.x], att_cache[at.y], att_cache[at.z], att_cache[at.w]);
}

// Slots of key positions in att_cache: the ring of an "swa" cache, a GATHERED window from `base`, or the position.
fn key_slots(pos: vec4<u32>, base: u32) -> vec4<u32> {
  if (GATHERED) { return pos - vec4<u32>(base); }
  if (WINDOW > 0u) { return pos % vec4<u32>(max(WINDOW, 1u)); } // as cache_slot
  return pos;
}

// The first key position the token at `pos` attends: 0 for "attn", the window's start for "swa".
fn first_key(pos: u32) -> u32 {
  if (WINDOW > 0u && pos + 1u > WINDOW) { return pos + 1u - WINDOW; }
  return 0u;
}

// --- decode: attend_step / attend_step_conv, one workgroup per head, dispatched (H) ----------------------------
@group(0) @binding(5) var<storage, read> step_rope_steps: array<u32>;      // [f/2]
@group(0) @binding(6) var<storage, read> step_conv_params: array<f32>;     // attend_step_conv: kernels [3, D, CONV_K]
@group(0) @binding(7) var<storage, read_write> step_conv_history: array<f32>; // [3, CONV_K − 1, D] pre-conv inputs

// Partial softmaxes of the split-K: SPLIT_FLOATS floats of workgroup memory hold every span's acc (f each).
const SPLIT_FLOATS: u32 = 2048u;
var<workgroup> step_q: array<f32, MAX_HEAD>;
var<workgroup> split_acc: array<f32, SPLIT_FLOATS>;
var<workgroup> split_ml: array<vec2<f32>, WORKGROUP_SIZE>;

// Head h's channel pairs first, first + stride, … (a workgroup's threads, or one invocation's all): q, k, v of the
// token, rotated, q into workgroup memory, k and v into the cache.
fn append_pairs(h: u32, first: u32, stride: u32, pos: u32) {
  let f = D / H;
  for (var i = first; i < f / 2u; i += stride) {
    let c = h * f + 2u * i;
    let q = vec2<f32>(att_qkv[c], att_qkv[c + 1u]);
    let k = vec2<f32>(att_qkv[D + c], att_qkv[D + c + 1u]);
    let v = vec2<f32>(att_qkv[2u * D + c], att_qkv[2u * D + c + 1u]);
    rope_append_pair(h, i, pos, q, k, v);
  }
}

// The same with the attention conv (config.attn.convKernel > 0) on q, k, v before RoPE (common.wgsl's
// causal_conv, as ttt.wgsl's conv), each invocation owning its channels' histories.
fn append_pairs_conv(h: u32, first: u32, stride: u32, pos: u32) {
  let f = D / H;
  for (var i = first; i < f / 2u; i += stride) {
    let c = h * f + 2u * i;
    let q = vec2<f32>(step_convolve(0u, c, att_qkv[c]), step_convolve(0u, c + 1u, att_qkv[c + 1u]));
    let k = vec2<f32>(step_convolve(1u, c, att_qkv[D + c]), step_convolve(1u, c + 1u, att_qkv[D + c + 1u]));
    let v = vec2<f32>(step_convolve(2u, c, att_qkv[2u * D + c]), step_convolve(2u, c + 1u, att_qkv[2u * D + c + 1u]));
    rope_append_pair(h, i, pos, q, k, v);
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attend_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let pos = att_position[0];
  append_pairs(wid.x, t, WORKGROUP_SIZE, pos);
  attend_after_append(wid.x, t, pos);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attend_step_conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let pos = att_position[0];
  append_pairs_conv(wid.x, t, WORKGROUP_SIZE, pos);
  attend_after_append(wid.x, t, pos);
}

// --- attend_step_serial / attend_step_conv_serial: the decode step as one invocation per head, for CPU adapters ---
// attend_step's three barriers cost more on SwiftShader than the head's keys (at most a window, or a prompt's
// worth): one invocation does the head's conv, RoPE and append, then attend_rows' spans and merge order (those of
// attend_after_append): the same outputs, bitwise. Dispatched (H).
@compute @workgroup_size(1)
fn attend_step_serial(@builtin(workgroup_id) wid: vec3<u32>) {
  let pos = att_position[0];
  append_pairs(wid.x, 0u, 1u, pos);
  attend_serial(wid.x, pos);
}

@compute @workgroup_size(1)
fn attend_step_conv_serial(@builtin(workgroup_id) wid: vec3<u32>) {
  let pos = att_position[0];
  append_pairs_conv(wid.x, 0u, 1u, pos);
  attend_serial(wid.x, pos);
}

// The head's rotated q (step_q, written by this invocation) over its keys, the token's own included: the spans of
// key_spans folded in order, as attend_rows does.
fn attend_serial(h: u32, pos: u32) {
  let f = D / H;
  var q: array<f32, MAX_HEAD>;
  for (var j = 0u; j < f; j++) { q[j] = step_q[j]; }
  attend_query(&q, h * f, 0u, pos, 0u);
}

// Causal depthwise conv of channel c of stream s (0 q, 1 k, 2 v): common.wgsl's causal_conv over the channel's
// taps and history, which then shifts by one token.
fn step_convolve(s: u32, c: u32, current: f32) -> f32 {
  let kernel = s * D * CONV_K + c * CONV_K;
  let hist = s * (CONV_K - 1u) * D;
  var taps: array<f32, MAX_CONV_KERNEL>;
  var history: array<f32, MAX_CONV_KERNEL>;
  for (var j = 0u; j < CONV_K; j++) { taps[j] = step_conv_params[kernel + j]; }
  for (var j = 0u; j + 1u < CONV_K; j++) { history[j] = step_conv_history[hist + j * D + c]; }
  for (var j = 0u; j + 2u < CONV_K; j++) { step_conv_history[hist + j * D + c] = history[j + 1u]; }
  if (CONV_K > 1u) { step_conv_history[hist + (CONV_K - 2u) * D + c] = current; } // K = 1: no history
  return causal_conv(taps, history, current, CONV_K);
}

// Pair i of head h: rotated q into workgroup memory, rotated k and v into the position's cache slot.
fn rope_append_pair(h: u32, i: u32, pos: u32, q: vec2<f32>, k: vec2<f32>, v: vec2<f32>) {
  let cs = rope_angle(step_rope_steps[i], pos);
  let qr = rotate(q, cs);
  step_q[2u * i] = qr.x;
  step_q[2u * i + 1u] = qr.y;
  let kr = rotate(k, cs);
  let at = cache_slot(pos) * 2u * D + h * (D / H) + 2u * i;
  att_cache[at] = kr.x;
  att_cache[at + 1u] = kr.y;
  att_cache[at + D] = v.x;
  att_cache[at + D + 1u] = v.y;
}

// Split-K over the head's keys: thread t < splits runs attend_span over the t-th span of positions; then thread j
// folds the spans' partial softmaxes in span order into o_j (merge_span). attend_rows runs the same spans and folds
// through one thread, so the chunk path's outputs are bitwise those of the decode step.
fn attend_after_append(h: u32, t: u32, pos: u32) {
  storageBarrier(); // the token's k, v (written by other threads of this workgroup) are read below
  workgroupBarrier(); // step_q
  let f = D / H;
  let off = h * f;
  let lo = first_key(pos);
  let split = key_spans(pos + 1u - lo);
  if (t < split.x) {
    var q: array<f32, MAX_HEAD>;
    for (var j = 0u; j < f; j++) { q[j] = step_q[j]; }
    var acc: array<f32, MAX_HEAD>;
    let a = min(lo + t * split.y, pos + 1u);
    split_ml[t] = attend_span(&q, &acc, off, 0u, a, min(a + split.y, pos + 1u));
    for (var j = 0u; j < f; j++) { split_acc[t * f + j] = acc[j]; }
  }
  workgroupBarrier();
  for (var j = t; j < f; j += WORKGROUP_SIZE) {
    var ml = vec2<f32>(-3.0e38, 0.0);
    var o = 0.0;
    for (var s = 0u; s < split.x; s++) {
      let merged = merge_span(ml, split_ml[s]);
      o = o * merged.z + split_acc[s * f + j] * merged.w;
      ml = merged.xy;
    }
    att_out[off + j] = o / ml.y;
  }
}

// Keys per span and spans, from the number of keys: spans of ≥ MIN_SPAN keys (a merge costs about as much as a
// key), at most 64 (threads) and at most SPLIT_FLOATS / f (the partials' workgroup memory). (spans, keys per span).
const MIN_SPAN: u32 = 16u;
fn key_spans(count: u32) -> vec2<u32> {
  let splits = clamp((count + MIN_SPAN - 1u) / MIN_SPAN, 1u, min(WORKGROUP_SIZE, SPLIT_FLOATS / (D / H)));
  let span = (count + splits - 1u) / splits;
  return vec2<u32>((count + span - 1u) / span, span);
}

// Folds a span's partial softmax (m_s, l_s) into the running (m, l): returns (m', l', factor of the running
// accumulator, factor of the span's). The first span enters exactly (factors 0 and 1).
fn merge_span(running: vec2<f32>, part: vec2<f32>) -> vec4<f32> {
  let m = max(running.x, part.x);
  let a = exp(running.x - m);
  let b = exp(part.x - m);
  return vec4<f32>(m, running.y * a + part.y * b, a, b);
}

// --- chunk: rope_rows, attend_rows, append_rows ------------------------------------------------------------------
// rope_rows, dispatched (⌈D/128⌉, tokens): rotates q in place in row r of qkv (q, k, v at QKV_STRIDE floats per
// row) for position first + r and stores its k and v in row r of `rows_kv`, the chunk's own [tokens, 2D] buffer:
// appending to the real cache now would overwrite, in an "swa" ring, slots the chunk's earlier tokens still need.
@group(0) @binding(0) var<storage, read> rope_position: array<u32>;
@group(0) @binding(1) var<storage, read> rope_steps: array<u32>;   // [f/2]
@group(0) @binding(2) var<storage, read_write> rope_qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> rope_kv: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn rope_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  if (pair >= D / 2u) { return; }
  let row = gid.y;
  let pos = rope_position[0] + row;
  let i = pair % (D / H / 2u);
  let p = row * QKV_STRIDE + 2u * pair; // x[2i] of this head in row `row`
  let cs = rope_angle(rope_steps[i], pos);
  let qr = rotate(vec2<f32>(rope_qkv[p], rope_qkv[p + 1u]), cs);
  rope_qkv[p] = qr.x;
  rope_qkv[p + 1u] = qr.y;
  let kr = rotate(vec2<f32>(rope_qkv[D + p], rope_qkv[D + p + 1u]), cs);
  let at = row * 2u * D + 2u * pair;
  rope_kv[at] = kr.x;
  rope_kv[at + 1u] = kr.y;
  rope_kv[at + D] = rope_qkv[2u * D + p];
  rope_kv[at + D + 1u] = rope_qkv[2u * D + p + 1u];
}

// attend_rows, dispatched (H, ⌈tokens/64⌉): thread t of workgroup (h, g) is token r = 64g + t of head h; it attends
// the positions the decode step would see after appending it, with the decode step's spans and merge order: the
// same outputs, bitwise. Binding 1 is rope_rows' qkv (q rotated in place); binding 2 the layer's cache after
// append_rows ("attn"), or window_rows' gathered window (GATHERED, "swa").
@group(0) @binding(5) var<uniform> rows_chunk: vec4<u32>; // x: tokens in the chunk

@compute @workgroup_size(WORKGROUP_SIZE)
fn attend_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.y * WORKGROUP_SIZE + t;
  if (row >= rows_chunk.x) { return; } // no barrier below
  let h = wid.x;
  let f = D / H;
  let off = h * f;
  let first = att_position[0];
  let pos = first + row;
  var q: array<f32, MAX_HEAD>;
  for (var j = 0u; j < f; j++) { q[j] = att_qkv[row * QKV_STRIDE + off + j]; }
  attend_query(&q, off, window_base(first), pos, row * D);
}

// One query (head offset `off`) of the token at `pos` over its keys: the decode step's spans (attend_after_append),
// folded in the same order, o / l into att_out at `out` + off (`out`: the token's row, row · D). `base`: the first position of a GATHERED window.
fn attend_query(q: ptr<function, array<f32, MAX_HEAD>>, off: u32, base: u32, pos: u32, out: u32) {
  let f = D / H;
  let lo = first_key(pos);
  let split = key_spans(pos + 1u - lo);
  var o: array<f32, MAX_HEAD>;
  var acc: array<f32, MAX_HEAD>;
  var ml = vec2<f32>(-3.0e38, 0.0);
  for (var s = 0u; s < split.x; s++) {
    let a = lo + s * split.y;
    let merged = merge_span(ml, attend_span(q, &acc, off, base, a, min(a + split.y, pos + 1u)));
    for (var j = 0u; j < f; j++) { o[j] = o[j] * merged.z + acc[j] * merged.w; }
    ml = merged.xy;
  }
  for (var j = 0u; j < f; j++) { att_out[out + off + j] = o[j] / ml.y; }
}

// The first position of an "swa" chunk's gathered window: WINDOW positions before the chunk (fewer at the start).
fn window_base(first: u32) -> u32 {
  return first - min(first, WINDOW);
}

// window_rows ("swa" only), dispatched (⌈2D/64⌉, WINDOW + tokens): row i of the window is position
// window_base(first) + i, from the ring before the chunk, from rope_rows' rows after: attend_rows' keys in position
// order, so that no key of the ring is overwritten before the chunk's last token has read it.
@group(0) @binding(0) var<storage, read> window_position: array<u32>;
@group(0) @binding(1) var<storage, read> window_ring: array<f32>;           // the layer's ring
@group(0) @binding(2) var<storage, read> window_kv: array<f32>;             // [tokens, 2D] (rope_rows)
@group(0) @binding(3) var<storage, read_write> window_out: array<f32>;      // [WINDOW + tokens, 2D]
@group(0) @binding(4) var<uniform> window_chunk: vec4<u32>;                 // x: tokens in the chunk

@compute @workgroup_size(WORKGROUP_SIZE)
fn window_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let first = window_position[0];
  let p = window_base(first) + gid.y;
  if (i >= 2u * D || p >= first + window_chunk.x) { return; }
  var value: f32;
  if (p < first) { value = window_ring[cache_slot(p) * 2u * D + i]; } else { value = window_kv[(p - first) * 2u * D + i]; }
  window_out[gid.y * 2u * D + i] = value;
}

// append_rows: the chunk's k, v into the cache: before attend_rows for "attn", after it for "swa". Dispatched (⌈2D/64⌉, tokens). In an "swa" ring
// only the last WINDOW tokens are stored (earlier ones would be overwritten by later tokens of the same chunk, and
// writing both would race).
@group(0) @binding(0) var<storage, read> append_position: array<u32>;
@group(0) @binding(1) var<storage, read> append_kv: array<f32>;           // [tokens, 2D]
@group(0) @binding(2) var<storage, read_write> append_cache: array<f32>;
@group(0) @binding(3) var<uniform> append_chunk: vec4<u32>;               // x: tokens in the chunk

@compute @workgroup_size(WORKGROUP_SIZE)
fn append_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let row = gid.y;
  if (i >= 2u * D) { return; }
  if (WINDOW > 0u && row + WINDOW < append_chunk.x) { return; }
  let pos = append_position[0] + row;
  append_cache[cache_slot(pos) * 2u * D + i] = append_kv[row * 2u * D + i];
}
