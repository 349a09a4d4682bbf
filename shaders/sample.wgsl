// Token sampling on the GPU (docs/SAMPLING.md): repetition penalty, temperature, top-k, top-p and a draw with the
// counter-based uniform(seed, step), or the argmax at temperature 0. One workgroup does everything, so the only
// thing that leaves the GPU per token is the sampled id (4 bytes), which is also the next step's input token.
//
// The k-th largest logit (top-k) is found by a search over the logits' order-preserving u32 keys, two bits per
// pass: 16 counting passes over the vocabulary, each a chunk loop per thread and one workgroup reduction; it is
// exact, so top-k keeps what the CPU's sort keeps. When at most SMALL_SET ids remain (top-k ≤ 256, the usual
// case), they are sorted in workgroup memory and one thread does top-p and the draw in the CPU's order.
// Otherwise the top-p cut and the drawn logit are found by the same search over summed weights (16 passes each),
// which differs from the CPU's sequential sums only by summation order (a knife edge, SAMPLING.md).
// Each thread owns a contiguous chunk of ids so that ties can be broken by the lowest id, as a stable sort would.
// Ring of recent token ids for the repetition penalty (the host clamps the window to it).
const HISTORY_CAPACITY: u32 = 1024u;

struct Params {
  vocab_size: u32,
  temperature: f32,
  top_k: u32,
  top_p: f32,
  penalty: f32,
  window: u32,
  seed: u32,
  step: u32,
}

struct History {
  // Ids appended since the last reset (the ring holds the last HISTORY_CAPACITY of them).
  count: u32,
  // Ids the host queued (prompt tokens) that the next dispatch appends before sampling.
  pending_count: u32,
  ring: array<u32, HISTORY_CAPACITY>,
  pending: array<u32, HISTORY_CAPACITY>,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> work: array<f32>;   // penalised logits, dropped ids set to dropped()
@group(0) @binding(3) var<storage, read_write> history: History;
@group(0) @binding(4) var<storage, read_write> token_out: array<u32>; // [1]: the sampled id
@group(0) @binding(5) var<storage, read_write> weights: array<f32>; // exp(l / T - l_max / T) of kept ids, else 0

// The small-candidate path: when at most SMALL_SET ids survive top-k they are gathered here, sorted, and one
// thread walks them exactly as the CPU does (same order of operations, in f32).
const SMALL_SET: u32 = 256u;
var<workgroup> cand_id: array<u32, SMALL_SET>;
var<workgroup> cand_logit: array<f32, SMALL_SET>;
var<workgroup> sorted_id: array<u32, SMALL_SET>;
var<workgroup> sorted_w: array<f32, SMALL_SET>;

// Scratch of the sampler's own walks (prefix sums, argmax with ids); plain reductions are common.wgsl's.
var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

// Dropped ids (top-k / top-p) are overwritten with the lowest finite f32 (WGSL constants cannot be infinite).
const DROPPED_BITS: u32 = 0xff7fffffu;

fn dropped() -> f32 { return bitcast<f32>(DROPPED_BITS); }

// Order-preserving map f32 -> u32: a < b (as floats, no NaN) iff key(a) < key(b).
fn key_of(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}



// Kept ids of this thread's chunk with a key >= each of three thresholds (two bits of the search per pass).
fn count_at_least3(c: vec2<u32>, th: vec3<u32>) -> vec4<u32> {
  var n = vec4<u32>(0u);
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x)) {
      let k = key_of(x);
      n += vec4<u32>(select(0u, 1u, k >= th.x), select(0u, 1u, k >= th.y), select(0u, 1u, k >= th.z), 0u);
    }
  }
  return n;
}

// Mass (weights[]) of this thread's kept ids with a key >= each of three thresholds.
fn mass_at_least3(c: vec2<u32>, th: vec3<u32>) -> vec4<f32> {
  var m = vec4<f32>(0.0);
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x)) {
      let k = key_of(x);
      let w = weights[i];
      m += vec4<f32>(select(0.0, w, k >= th.x), select(0.0, w, k >= th.y), select(0.0, w, k >= th.z), 0.0);
    }
  }
  return m;
}

// Sum of `v` over the threads before t (ties are walked in id order, and thread t owns the t-th chunk of ids).
fn prefix_f(t: u32, v: f32) -> f32 {
  red_f[t] = v;
  workgroupBarrier();
  var s = 0.0;
  for (var p = 0u; p < t; p++) { s += red_f[p]; }
  workgroupBarrier();
  return s;
}

fn wg_sum1(t: u32, v: f32) -> f32 { return wg_sum4(t, vec4<f32>(v, 0.0, 0.0, 0.0)).x; }
fn wg_sum1u(t: u32, v: u32) -> u32 { return wg_sum4u(t, vec4<u32>(v, 0u, 0u, 0u)).x; }
fn wg_min1u(t: u32, v: u32) -> u32 { return wg_min4u(t, vec4<u32>(v, 0u, 0u, 0u)).x; }

fn weight(x: f32, max_scaled: f32) -> f32 { return exp(x / params.temperature - max_scaled); }

fn sum_prefix_u(t: u32, v: u32) -> u32 {
  red_u[t] = v;
  workgroupBarrier();
  var s = 0u;
  for (var p = 0u; p < t; p++) { s += red_u[p]; }
  workgroupBarrier();
  return s;
}

// The smallest kept key >= threshold over the workgroup (0xffffffff when none).
fn smallest_key_at_least(t: u32, c: vec2<u32>, threshold: u32) -> u32 {
  var best = 0xffffffffu;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x)) {
      let k = key_of(x);
      if (k >= threshold && k < best) { best = k; }
    }
  }
  return wg_min1u(t, best);
}

// Mass of the kept ids with a key strictly above `key`.
fn mass_above(t: u32, c: vec2<u32>, key: u32) -> f32 {
  let none_above = key == 0xffffffffu;
  let m = wg_sum1(t, mass_at_least(c, select(key + 1u, key, none_above)));
  return select(m, 0.0, none_above);
}

// Mass of this thread's kept ids whose key equals `key`.
fn tie_mass(c: vec2<u32>, key: u32) -> f32 {
  var m = 0.0;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x) && key_of(x) == key) { m += weights[i]; }
  }
  return m;
}

// The largest value and its lowest id (the CPU argmax keeps the first maximum).
fn argmax(t: u32, v: f32, id: u32) -> vec2<u32> {
  red_f[t] = v;
  red_u[t] = id;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (t < s) {
      let ov = red_f[t + s];
      let oi = red_u[t + s];
      if (ov > red_f[t] || (ov == red_f[t] && oi < red_u[t])) {
        red_f[t] = ov;
        red_u[t] = oi;
      }
    }
    workgroupBarrier();
  }
  let r = vec2<u32>(bitcast<u32>(red_f[0]), red_u[0]);
  workgroupBarrier();
  return r;
}

// Threads own ids [lo, hi) of the vocabulary.
fn chunk(t: u32) -> vec2<u32> {
  let size = (params.vocab_size + WG - 1u) / WG;
  let lo = min(t * size, params.vocab_size);
  return vec2<u32>(lo, min(lo + size, params.vocab_size));
}

fn is_kept(x: f32) -> bool { return bitcast<u32>(x) != DROPPED_BITS; }

// Ids of this thread's chunk with a key >= threshold (dropped ids excluded).
fn count_at_least(c: vec2<u32>, threshold: u32) -> u32 {
  var n = 0u;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x) && key_of(x) >= threshold) { n++; }
  }
  return n;
}

// Unnormalised probability mass (weights[])  of this thread's ids with a key >= threshold.
fn mass_at_least(c: vec2<u32>, threshold: u32) -> f32 {
  var m = 0.0;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x) && key_of(x) >= threshold) { m += weights[i]; }
  }
  return m;
}

// The counter-based uniform of docs/SAMPLING.md (src/engine/sampling/rng.ts): PCG-RXS-M-XS hashes,
// uniform = (pcg(seed ^ pcg(step)) >> 8) / 2^24, exact in f32.
fn pcg_hash(input: u32) -> u32 {
  let state = input * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn uniform01(seed: u32, step: u32) -> f32 {
  return f32(pcg_hash(seed ^ pcg_hash(step)) >> 8u) / 16777216.0;
}

// Steps 6–8 of SAMPLING.md over the sorted candidates (sorted_w holds their logits on entry), as the CPU does them.
fn walk_sorted(n: u32) -> u32 {
  let max_scaled = sorted_w[0] / params.temperature;
  var total = 0.0;
  for (var i = 0u; i < n; i++) {
    let w = weight(sorted_w[i], max_scaled);
    sorted_w[i] = w;
    total += w;
  }
  var kept = 0u;
  var mass = 0.0;
  loop {
    if (kept >= n) { break; }
    mass += sorted_w[kept] / total;
    kept++;
    if (mass >= params.top_p) { break; }
  }
  var kept_total = 0.0;
  for (var i = 0u; i < kept; i++) { kept_total += sorted_w[i]; }
  let u = uniform01(params.seed, params.step);
  var cumulative = 0.0;
  for (var i = 0u; i < kept; i++) {
    cumulative += sorted_w[i] / kept_total;
    if (u < cumulative) { return sorted_id[i]; }
  }
  return sorted_id[kept - 1u];
}

// Steps 7–8 of SAMPLING.md over the whole vocabulary (more candidates than SMALL_SET), by threshold searches.
fn top_p_and_draw(t: u32, c: vec2<u32>) -> u32 {
  // 7. Top-p: the largest key whose mass-at-or-above reaches top_p of the total (the smallest sorted prefix).
  if (params.top_p < 1.0) {
    let total = wg_sum1(t, mass_at_least(c, 0u));
    let goal = params.top_p * total;
    var th = 0u;
    for (var b = 30i; b >= 0i; b -= 2i) {
      let cands = vec3<u32>(th | (1u << u32(b)), th | (2u << u32(b)), th | (3u << u32(b)));
      let m = wg_sum4(t, mass_at_least3(c, cands));
      if (m.z >= goal) { th = cands.z; } else if (m.y >= goal) { th = cands.y; } else if (m.x >= goal) { th = cands.x; }
    }
    // Ids at the cut key are walked in id order: each is kept while the mass before it is still short of goal.
    let cut_key = smallest_key_at_least(t, c, th);
    var run = mass_above(t, c, cut_key) + prefix_f(t, tie_mass(c, cut_key));
    for (var i = c.x; i < c.y; i++) {
      let x = work[i];
      if (!is_kept(x)) { continue; }
      let kx = key_of(x);
      if (kx < cut_key) { work[i] = dropped(); }
      else if (kx == cut_key) {
        if (run >= goal) { work[i] = dropped(); }
        run += weights[i];
      }
    }
    storageBarrier();
    workgroupBarrier();
  }

  // 8. The draw: walking ids in descending logit order, the first whose cumulative mass exceeds u * total.
  let kept_total = wg_sum1(t, mass_at_least(c, 0u));
  let draw_mass = uniform01(params.seed, params.step) * kept_total;
  var th = 0u;
  for (var b = 30i; b >= 0i; b -= 2i) {
    let cands = vec3<u32>(th | (1u << u32(b)), th | (2u << u32(b)), th | (3u << u32(b)));
    let m = wg_sum4(t, mass_at_least3(c, cands));
    if (m.z > draw_mass) { th = cands.z; } else if (m.y > draw_mass) { th = cands.y; } else if (m.x > draw_mass) { th = cands.x; }
  }
  // The drawn key is the smallest kept key >= th (th = 0 when rounding left the draw past the total: the last id
  // in the order). Ids sharing that key are walked in id order, the first whose cumulative mass exceeds the draw.
  let pick_key = smallest_key_at_least(t, c, th);
  var run = mass_above(t, c, pick_key) + prefix_f(t, tie_mass(c, pick_key));
  var crossing = 0xffffffffu;
  var last_inverted = 0xffffffffu;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (!is_kept(x) || key_of(x) != pick_key) { continue; }
    run += weights[i];
    if (run > draw_mass && crossing == 0xffffffffu) { crossing = i; }
    last_inverted = 0xffffffffu - i;
  }
  let first_crossing = wg_min1u(t, crossing);
  let last_tie = 0xffffffffu - wg_min1u(t, last_inverted);
  return select(first_crossing, last_tie, first_crossing == 0xffffffffu);
}

@compute @workgroup_size(WG)
fn sample(@builtin(local_invocation_index) t: u32) {
  let V = params.vocab_size;
  let c = chunk(t);

  // 1. Queued prompt ids join the history ring.
  let queued = history.pending_count;
  let start = history.count;
  for (var j = t; j < queued; j += WG) {
    history.ring[(start + j) % HISTORY_CAPACITY] = history.pending[j];
  }
  storageBarrier();
  workgroupBarrier();
  if (t == 0u) {
    history.count = start + queued;
    history.pending_count = 0u;
  }
  storageBarrier();
  workgroupBarrier();

  // 2. Working copy of the logits.
  for (var i = c.x; i < c.y; i++) { work[i] = logits[i]; }
  storageBarrier();
  workgroupBarrier();

  // 3. Repetition penalty, once per distinct id among the last `window` ids.
  let count = history.count;
  let n_recent = min(min(params.window, count), HISTORY_CAPACITY);
  if (params.penalty != 1.0) {
    for (var j = t; j < n_recent; j += WG) {
      let id = history.ring[(count - 1u - j) % HISTORY_CAPACITY];
      var first = true;
      for (var k = 0u; k < j; k++) {
        if (history.ring[(count - 1u - k) % HISTORY_CAPACITY] == id) { first = false; break; }
      }
      if (first && id < V) {
        let x = work[id];
        work[id] = select(x * params.penalty, x / params.penalty, x > 0.0);
      }
    }
  }
  storageBarrier();
  workgroupBarrier();

  // 4. Argmax (the answer at temperature 0, and the softmax shift otherwise).
  var best = dropped();
  var best_id = 0xffffffffu;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (x > best || best_id == 0xffffffffu) { best = x; best_id = i; }
  }
  let top = argmax(t, best, best_id);
  let max_logit = bitcast<f32>(top.x);
  var chosen = top.y;

  if (params.temperature > 0.0) {
    let max_scaled = max_logit / params.temperature;

    // 5. Top-k: the exact key of the k-th largest logit, then ties at it kept by lowest id.
    if (params.top_k > 0u && params.top_k < V) {
      let k = params.top_k;
      var th = 0u;
      for (var b = 30i; b >= 0i; b -= 2i) {
        let cands = vec3<u32>(th | (1u << u32(b)), th | (2u << u32(b)), th | (3u << u32(b)));
        let n = wg_sum4u(t, count_at_least3(c, cands));
        if (n.z >= k) { th = cands.z; } else if (n.y >= k) { th = cands.y; } else if (n.x >= k) { th = cands.x; }
      }
      let at_least = wg_sum1u(t, count_at_least(c, th));
      let local_ties = count_equal(c, th);
      let ties = wg_sum1u(t, local_ties);
      let ties_needed = k - (at_least - ties);
      // Ties in lower-id chunks come first, as in a stable sort by descending logit.
      red_u[t] = local_ties;
      workgroupBarrier();
      var ties_before = 0u;
      for (var p = 0u; p < t; p++) { ties_before += red_u[p]; }
      workgroupBarrier();
      var tie_rank = ties_before;
      for (var i = c.x; i < c.y; i++) {
        let x = work[i];
        if (!is_kept(x)) { continue; }
        let kx = key_of(x);
        if (kx < th) { work[i] = dropped(); }
        else if (kx == th) {
          if (tie_rank >= ties_needed) { work[i] = dropped(); }
          tie_rank++;
        }
      }
      storageBarrier();
      workgroupBarrier();
    }

    let n_kept = select(V, min(params.top_k, V), params.top_k > 0u);
    if (n_kept <= SMALL_SET) {
      // 6s. Gather the kept ids (in id order), sort them by (logit desc, id asc), walk them on one thread.
      let offset = sum_prefix_u(t, count_at_least(c, 0u));
      var at = offset;
      for (var i = c.x; i < c.y; i++) {
        let x = work[i];
        if (is_kept(x)) {
          cand_id[at] = i;
          cand_logit[at] = x;
          at++;
        }
      }
      workgroupBarrier();
      for (var j = t; j < n_kept; j += WG) {
        let lj = cand_logit[j];
        let ij = cand_id[j];
        var rank = 0u;
        for (var m = 0u; m < n_kept; m++) {
          let lm = cand_logit[m];
          if (lm > lj || (lm == lj && cand_id[m] < ij)) { rank++; }
        }
        sorted_id[rank] = ij;
        sorted_w[rank] = lj;
      }
      workgroupBarrier();
      if (t == 0u) { chosen = walk_sorted(n_kept); }
    } else {
      // 6. Weights of the kept ids, computed once for the summing passes below.
      for (var i = c.x; i < c.y; i++) {
        let x = work[i];
        weights[i] = select(0.0, weight(x, max_scaled), is_kept(x));
      }
      storageBarrier();
      workgroupBarrier();
      chosen = top_p_and_draw(t, c);
    }
  }

  // 8. Publish the id and remember it for the penalty.
  if (t == 0u) {
    token_out[0] = chosen;
    let n = history.count;
    history.ring[n % HISTORY_CAPACITY] = chosen;
    history.count = n + 1u;
  }
}

fn count_equal(c: vec2<u32>, threshold: u32) -> u32 {
  var n = 0u;
  for (var i = c.x; i < c.y; i++) {
    let x = work[i];
    if (is_kept(x) && key_of(x) == threshold) { n++; }
  }
  return n;
}
