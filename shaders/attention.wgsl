// Decode-time attention for "attn" (a KV cache that grows) and "swa" (a ring of WINDOW slots).
// KV cache layout: slot s holds k at [s·2D, s·2D + D) and v at [s·2D + D, s·2D + 2D), so growing the cache is
// one contiguous copy. Positions past the cache are refused by the host before anything is encoded.
override D: u32;
override H: u32;
override WINDOW: u32 = 0u; // 0: "attn" (slot = position); > 0: "swa" ring (slot = position mod WINDOW)

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
  let half_f = D / H / 2u;
  let i = pair % half_f;
  let p = 2u * pair; // index of x[2i] of this head in the [D] vector
  let pos = step_position[0];
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
  var slot = pos;
  if (WINDOW > 0u) { slot = pos % max(WINDOW, 1u); } // max(): WINDOW = 0 is folded at compile time
  let base = slot * 2u * D;
  kv_cache[base + p] = kr0;
  kv_cache[base + p + 1u] = kr1;
  kv_cache[base + D + p] = qkv[2u * D + p];
  kv_cache[base + D + p + 1u] = qkv[2u * D + p + 1u];
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
