// The TTT-Linear mixer of docs/MATH.md: `ttt_step` decodes a token (the primal form); a prefill chunk runs in one
// dispatch of the mini-batch dual form, `ttt_batch_rows` or, when drift statistics are asked for,
// `ttt_batch_rows_drift` (the same outputs and state, plus every token's stats). `ttt_step_rows` (the chunk's tokens
// through ttt_step's per-token function) is no longer dispatched by GpuModel: the primal reference the drift kernel
// replaced. A new TTT layer variant adds its own decode and chunk entry points beside these.
// Buffers: `uvg` = the fused BitLinear output (uq[, uk], v at the OFF_U*/OFF_V offsets[, then g]), `qk` = q and k
// after the causal convolution, `params` = the layer's float tensors packed at OFF_* (weights), `state` = this
// layer's ttt-state (W0, GW [H,f,f]; b0, Gb [H,f]; conv histories [(K−1), D] each, oldest row first).
override D: u32;
override H: u32;
override B: u32;        // mini-batch size
override K: u32;        // conv kernel (0: no conv)
override EPS: f32;
override BASE_LR: f32;
override GATE: bool;
// OFF_*: float offsets into uvg, params and state, declared by gpu/ttt-layout.ts (prepended by gpu/shaders.ts), the
// module that also packs those buffers. MAX_HEAD, MAX_CONV_KERNEL: gpu/shaders.ts KERNEL_CONSTANTS.
// ttt_step computes and writes the drift stats only in its DRIFT variant (gpu/model.ts picks it per step): they
// read all of w_init, as many bytes as the state itself, for numbers that only "See inside" shows.
override DRIFT: bool = true;
// The attention layers' conv (config.attn) runs ttt_conv too, on a third stream: v.
override CONV_V: bool = false;
override OFF_UV: u32 = 0u;
override OFF_CONV_V: u32 = 0u;
override OFF_HIST_V: u32 = 0u;
// Chunk kernels (*_rows): floats per token row of the fused BitLinear output, of the conv output and of the drift
// stats (all TTT layers' [H, 5] of one token); unused by the one-token entry points.
override UVG_STRIDE: u32 = 0u;
override QK_STRIDE: u32 = 0u;
override STATS_STRIDE: u32 = 0u;

// --- ttt_conv_rows: causal depthwise convolution of q and k (and v) over a chunk, one thread per channel
// (the decode step convolves inside ttt_step) --------------------------
@group(0) @binding(0) var<storage, read> conv_uvg: array<f32>;
@group(0) @binding(1) var<storage, read> conv_params: array<f32>;
@group(0) @binding(2) var<storage, read_write> conv_state: array<f32>;
@group(0) @binding(3) var<storage, read_write> conv_qk: array<f32>; // [2D]: q, k (or [3D]: q, k, v with CONV_V)
@group(0) @binding(4) var<uniform> conv_chunk: vec4<u32>; // ttt_conv_rows: x = tokens in the chunk

// One stream of channel c (the input at `in_off` of each conv_uvg row, the output at `out_off` of each conv_qk
// row) through the chunk's tokens: the taps and the history are loaded once, kept in registers across the
// tokens (shifted by one per token) and stored back after the last (each thread owns its channel: no races).
fn conv_stream_rows(c: u32, in_off: u32, out_off: u32, kernel_off: u32, hist_off: u32) {
  var taps: array<f32, MAX_CONV_KERNEL>;
  var history: array<f32, MAX_CONV_KERNEL>;
  for (var j = 0u; j < K; j++) { taps[j] = conv_params[kernel_off + c * K + j]; }
  for (var j = 0u; j + 1u < K; j++) { history[j] = conv_state[hist_off + j * D + c]; }
  for (var row = 0u; row < conv_chunk.x; row++) {
    let current = conv_uvg[row * UVG_STRIDE + in_off + c];
    conv_qk[row * QK_STRIDE + out_off + c] = causal_conv(taps, history, current, K);
    // Shift by one token: the oldest value out, `current` in as the newest (select, not history[K − 2u]: an
    // override-expression index out of bounds when K < 2 fails pipeline creation, even in a dead branch).
    for (var j = 0u; j + 1u < K; j++) { history[j] = select(history[j + 1u], current, j + 2u == K); }
  }
  for (var j = 0u; j + 1u < K; j++) { conv_state[hist_off + j * D + c] = history[j]; }
}

// A prefill chunk: each thread runs its channel through the chunk's tokens in order (the history carries over).
@compute @workgroup_size(WORKGROUP_SIZE)
fn ttt_conv_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= D) { return; }
  if (K == 0u) {
    for (var row = 0u; row < conv_chunk.x; row++) {
      let u = row * UVG_STRIDE;
      let o = row * QK_STRIDE;
      conv_qk[o + c] = conv_uvg[u + OFF_UQ + c];
      conv_qk[o + D + c] = conv_uvg[u + OFF_UK + c];
      if (CONV_V) { conv_qk[o + 2u * D + c] = conv_uvg[u + OFF_UV + c]; }
    }
    return;
  }
  conv_stream_rows(c, OFF_UQ, 0u, OFF_CONV_Q, OFF_HIST_Q);
  conv_stream_rows(c, OFF_UK, D, OFF_CONV_K, OFF_HIST_K);
  if (CONV_V) { conv_stream_rows(c, OFF_UV, 2u * D, OFF_CONV_V, OFF_HIST_V); }
}

// --- ttt_step: one workgroup per head ---------------------------------------------------------------------------
// Thread t owns the columns j = t + r·64 (r < R) of W0/GW/W̄ and the entries j of b0/Gb/Z: every state element is
// read and written by one thread only, so the update needs no barrier on storage memory.
const R: u32 = MAX_HEAD / WORKGROUP_SIZE; // columns per thread (MAX_HEAD, WORKGROUP_SIZE: generated by gpu/shaders.ts)

@group(0) @binding(0) var<storage, read> step_position: array<u32>;
@group(0) @binding(1) var<storage, read> step_xn: array<f32>;
@group(0) @binding(2) var<storage, read> step_uvg: array<f32>;
@group(0) @binding(3) var<storage, read_write> step_qk: array<f32>; // ttt_step writes its row (the conv's output)
@group(0) @binding(4) var<storage, read> step_params: array<f32>;
@group(0) @binding(5) var<storage, read_write> step_state: array<f32>;
@group(0) @binding(6) var<storage, read_write> step_z: array<f32>;     // [D] per-head outputs z_h
@group(0) @binding(7) var<storage, read_write> step_stats: array<f32>; // drift: norm, cos, lossBefore, lossAfter, w0Norm
// x: the inner learning rate's multiplier, 1 or 0 for "memory off" (GW, Gb stay 0: the state stays at w_init).
// A uniform, not an override, so switching needs no recompile; not a storage buffer (this entry point has 8).
@group(0) @binding(8) var<uniform> step_memory: vec4<f32>;
@group(0) @binding(9) var<uniform> step_chunk: vec4<u32>; // ttt_step_rows: x = tokens in the chunk

var<workgroup> sh_q: array<f32, MAX_HEAD>;
var<workgroup> sh_k: array<f32, MAX_HEAD>;
var<workgroup> sh_target: array<f32, MAX_HEAD>; // v − k

// The decode step: the causal conv of the head's q and k channels first (conv into the step: one dispatch, not
// two), then the token. Each thread convolves the channels j it then reads in ttt_token (j = t, t + 64, …), so
// its own writes are all it reads: no barrier. The sum is common.wgsl's causal_conv; the history shifts in
// step_state.
fn step_convolve(c: u32, current: f32, kernel_off: u32, hist_off: u32) -> f32 {
  var taps: array<f32, MAX_CONV_KERNEL>;
  var history: array<f32, MAX_CONV_KERNEL>;
  for (var j = 0u; j < K; j++) { taps[j] = step_params[kernel_off + c * K + j]; }
  for (var j = 0u; j + 1u < K; j++) { history[j] = step_state[hist_off + j * D + c]; }
  for (var j = 0u; j + 2u < K; j++) { step_state[hist_off + j * D + c] = history[j + 1u]; }
  if (K > 1u) { step_state[hist_off + (K - 2u) * D + c] = current; } // K = 1: no history
  return causal_conv(taps, history, current, K);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn ttt_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let f = D / H;
  for (var j = t; j < f; j += WG) {
    let c = wid.x * f + j;
    let uq = step_uvg[OFF_UQ + c];
    let uk = step_uvg[OFF_UK + c];
    if (K == 0u) {
      step_qk[c] = uq;
      step_qk[D + c] = uk;
    } else {
      step_qk[c] = step_convolve(c, uq, OFF_CONV_Q, OFF_HIST_Q);
      step_qk[D + c] = step_convolve(c, uk, OFF_CONV_K, OFF_HIST_K);
    }
  }
  ttt_token(wid.x, t, step_position[0], 0u);
}

// (Not dispatched by GpuModel since ttt_batch_rows_drift.) A prefill chunk, exactly as that many ttt_step
// dispatches: each head's workgroup runs the chunk's tokens in order through the same per-token update (the primal form; the state stays in `step_state` between tokens).
// Every state element belongs to one thread, and the reductions' barriers order the workgroup memory between
// tokens. Drift statistics go to row r of `step_stats` ([tokens, STATS_STRIDE]).
@compute @workgroup_size(WORKGROUP_SIZE)
fn ttt_step_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let first = step_position[0];
  for (var row = 0u; row < step_chunk.x; row++) { ttt_token(wid.x, t, first + row, row); }
}

// The token at `position`, reading row `row` of xn/uvg/qk and writing row `row` of z and the stats.
fn ttt_token(h: u32, t: u32, position: u32, row: u32) {
  let f = D / H;
  let ff = f32(f);
  let off = h * f;
  let mat = h * f * f;
  let xn_at = row * D;
  let uvg_at = row * UVG_STRIDE;
  let qk_at = row * QK_STRIDE;
  let i = position % B;
  let first = i == 0u;
  let last = i == B - 1u;
  let tok = max(1.0 / f32(i + 1u) + step_params[OFF_TOK + i], 0.0);

  var lr_dot = 0.0;
  for (var c = t; c < D; c += WG) { lr_dot += step_params[OFF_LR_W + h * D + c] * step_xn[xn_at + c]; }
  for (var j = t; j < f; j += WG) {
    let k = step_qk[qk_at + D + off + j];
    sh_q[j] = step_qk[qk_at + off + j];
    sh_k[j] = k;
    sh_target[j] = step_uvg[uvg_at + OFF_V + off + j] - k;
  }
  let lr_sum = wg_sum4(t, vec4<f32>(lr_dot, 0.0, 0.0, 0.0)).x; // its barriers also publish sh_*
  let lr = BASE_LR / (1.0 + exp(-(step_params[OFF_LR_B + h] + lr_sum))) / ff * step_memory.x;

  // Z = k W0 + b0 at the mini-batch start state.
  var z: array<f32, R>;
  var z_sum = 0.0;
  for (var r = 0u; r < R; r++) {
    let j = t + r * WG;
    if (j < f) {
      var a = 0.0;
      for (var ii = 0u; ii < f; ii++) { a += sh_k[ii] * step_state[mat + ii * f + j]; }
      z[r] = a + step_state[OFF_B0 + off + j];
      z_sum += z[r];
    }
  }
  let z_mean = wg_sum4(t, vec4<f32>(z_sum, 0.0, 0.0, 0.0)).x / ff;
  var z_var = 0.0;
  for (var r = 0u; r < R; r++) {
    if (t + r * WG < f) { let dz = z[r] - z_mean; z_var += dz * dz; }
  }
  let sigma = sqrt(wg_sum4(t, vec4<f32>(z_var, 0.0, 0.0, 0.0)).x / ff + EPS);

  // LayerNorm backward of the inner loss.
  var xhat: array<f32, R>;
  var gy: array<f32, R>;
  var partial = vec4<f32>(0.0);
  for (var r = 0u; r < R; r++) {
    let j = t + r * WG;
    if (j < f) {
      xhat[r] = (z[r] - z_mean) / sigma;
      let gamma = step_params[OFF_LN_W + off + j];
      let residual = gamma * xhat[r] + step_params[OFF_LN_B + off + j] - sh_target[j];
      gy[r] = gamma * residual;
      partial += vec4<f32>(gy[r], gy[r] * xhat[r], residual * residual, 0.0);
    }
  }
  let sums = wg_sum4(t, partial); // Σgy, Σgy·xhat, Σ residual²
  let loss_before = sums.z / ff;

  // GW += lr kᵀG, Gb += lr G; W̄ = W0 − tok GW, b̄ = b0 − tok Gb; q W̄ + b̄ and k W̄ + b̄ for the output and lossAfter.
  var zq: array<f32, R>;
  var zk: array<f32, R>;
  var drift = vec4<f32>(0.0); // Σ(W̄−W_init)², Σ W̄·W_init, Σ W̄², Σ W_init²
  var zsums = vec4<f32>(0.0); // Σ zq, Σ zk, Σ(W0−W_init)² (rides along in the same reduction), unused
  for (var r = 0u; r < R; r++) {
    let j = t + r * WG;
    if (j < f) {
      let g = lr * ((ff * gy[r] - sums.x - xhat[r] * sums.y) / (ff * sigma));
      var aq = 0.0;
      var ak = 0.0;
      for (var ii = 0u; ii < f; ii++) {
        let idx = mat + ii * f + j;
        var gw = sh_k[ii] * g;
        if (!first) { gw += step_state[OFF_GW + idx]; }
        let w0 = step_state[idx];
        let w_bar = w0 - tok * gw;
        aq += sh_q[ii] * w_bar;
        ak += sh_k[ii] * w_bar;
        if (DRIFT) {
          let w_init = step_params[OFF_W_INIT + idx];
          let dw = w_bar - w_init;
          drift += vec4<f32>(dw * dw, w_bar * w_init, w_bar * w_bar, w_init * w_init);
          let dw0 = w0 - w_init;
          zsums.z += dw0 * dw0;
        }
        if (last) {
          step_state[idx] = w_bar;
          step_state[OFF_GW + idx] = 0.0;
        } else {
          step_state[OFF_GW + idx] = gw;
        }
      }
      var gb = g;
      if (!first) { gb += step_state[OFF_GB + off + j]; }
      let b_bar = step_state[OFF_B0 + off + j] - tok * gb;
      if (last) {
        step_state[OFF_B0 + off + j] = b_bar;
        step_state[OFF_GB + off + j] = 0.0;
      } else {
        step_state[OFF_GB + off + j] = gb;
      }
      zq[r] = aq + b_bar;
      zk[r] = ak + b_bar;
      zsums += vec4<f32>(zq[r], zk[r], 0.0, 0.0);
    }
  }
  var drift_sums = vec4<f32>(0.0);
  if (DRIFT) { drift_sums = wg_sum4(t, drift); } // an override: uniform control flow for the barriers
  let means = wg_sum4(t, zsums) / ff;
  var vars = vec4<f32>(0.0);
  for (var r = 0u; r < R; r++) {
    if (t + r * WG < f) {
      let dq = zq[r] - means.x;
      let dk = zk[r] - means.y;
      vars += vec4<f32>(dq * dq, dk * dk, 0.0, 0.0);
    }
  }
  let var_sums = wg_sum4(t, vars);
  let inv_q = 1.0 / sqrt(var_sums.x / ff + EPS);
  let inv_k = 1.0 / sqrt(var_sums.y / ff + EPS);
  var loss_after_part = 0.0;
  for (var r = 0u; r < R; r++) {
    let j = t + r * WG;
    if (j < f) {
      let gamma = step_params[OFF_LN_W + off + j];
      let beta = step_params[OFF_LN_B + off + j];
      step_z[xn_at + off + j] = sh_q[j] + ((zq[r] - means.x) * inv_q * gamma + beta);
      let e = (zk[r] - means.y) * inv_k * gamma + beta - sh_target[j];
      loss_after_part += e * e;
    }
  }
  var loss_after = 0.0;
  if (DRIFT) { loss_after = wg_sum4(t, vec4<f32>(loss_after_part, 0.0, 0.0, 0.0)).x / ff; }
  if (DRIFT && t == 0u) {
    // The layer's first stats float lives in its params (not an override), so TTT layers share their pipelines.
    let s = row * STATS_STRIDE + u32(step_params[OFF_STATS_BASE]) + h * 5u;
    step_stats[s] = sqrt(drift_sums.x);
    step_stats[s + 1u] = drift_sums.y / (sqrt(drift_sums.z) * sqrt(drift_sums.w));
    step_stats[s + 2u] = loss_before;
    step_stats[s + 3u] = loss_after;
    step_stats[s + 4u] = sqrt(means.z * ff); // ‖W0 − W_init‖_F of the mini-batch start state
  }
}

// --- ttt_batch_rows: a prefill chunk in the mini-batch dual form (the chunk without drift statistics) ------------
// Within a mini-batch every token's gradient G_s is taken at W0, b0 (the state at the batch start), so the G_s of a
// batch are independent of each other, and each output needs no per-token W̄ (docs/MATH.md "TTT mixer", DESIGN.md §1):
//   q_s W̄_s + b̄_s = q_s W0 + b0 − tok_s · (q_s GW + Gb + Σ_{s'≤s} (q_s·k_s' + 1) G_s')      (G includes lr)
// where GW, Gb are what the state holds of the batch's tokens before this segment (zero at a batch start). The chunk
// runs in segments (the chunk's tokens of one mini-batch, at most SEG of them so that they fit in workgroup memory):
// six barriers per segment where the primal loop (ttt_step_rows) pays ~50 per token: for the same arithmetic it
// measured ~3× faster on SwiftShader, where barriers are what costs. One workgroup per head; each phase spreads its elements over all threads, and the per-token
// LayerNorms run one thread per token (no tree reductions).
override SEG: u32 = 16u; // tokens per segment: SEG·f ≤ SEG_FLOATS, SEG ≤ SEG_MAX (gpu/ttt-layout.ts tttSegmentTokens)
// SEG_FLOATS (floats per segment array) and SEG_MAX (most tokens per segment): generated by gpu/ttt-layout.ts.

@group(0) @binding(0) var<storage, read> batch_position: array<u32>;
@group(0) @binding(1) var<storage, read> batch_xn: array<f32>;
@group(0) @binding(2) var<storage, read> batch_uvg: array<f32>;
@group(0) @binding(3) var<storage, read> batch_qk: array<f32>;
@group(0) @binding(4) var<storage, read> batch_params: array<f32>;
@group(0) @binding(5) var<storage, read_write> batch_state: array<f32>;
@group(0) @binding(6) var<storage, read_write> batch_z: array<f32>; // [tokens, D]: z_h of every head
@group(0) @binding(7) var<uniform> batch_memory: vec4<f32>;       // as step_memory
@group(0) @binding(8) var<uniform> batch_chunk: vec4<u32>;        // x = tokens in the chunk

var<workgroup> seg_q: array<f32, SEG_FLOATS>;          // [n, f]: the segment's q rows
var<workgroup> seg_k: array<f32, SEG_FLOATS>;          // [n, f]: the segment's k rows
var<workgroup> seg_g: array<f32, SEG_FLOATS>;          // [n, f]: Z = k W0 + b0, then G
var<workgroup> seg_a: array<f32, SEG_MAX * SEG_MAX>;   // [n, n]: q_s·k_s' + 1 for s' ≤ s
var<workgroup> seg_lr: array<f32, SEG_MAX>;
var<workgroup> seg_tok: array<f32, SEG_MAX>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn ttt_batch_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let f = D / H;
  let ff = f32(f);
  let off = h * f;
  let mat = h * f * f;
  let first = batch_position[0];
  let count = batch_chunk.x;
  var row0 = 0u;
  while (row0 < count) {
    let i0 = (first + row0) % B; // index in the mini-batch of the segment's first token
    let n = min(min(B - i0, SEG), count - row0);
    let carried = i0 > 0u;       // GW, Gb hold the batch's earlier tokens
    let ends_batch = i0 + n == B;

    // 1. The q and k rows to workgroup memory; each token's lr and tok.
    for (var e = t; e < n * f; e += WG) {
      let at = (row0 + e / f) * QK_STRIDE + off + e % f;
      seg_q[e] = batch_qk[at];
      seg_k[e] = batch_qk[at + D];
    }
    if (t < n) {
      let xn_at = (row0 + t) * D;
      var lr_dot = 0.0;
      for (var c = 0u; c < D; c++) { lr_dot += batch_params[OFF_LR_W + h * D + c] * batch_xn[xn_at + c]; }
      seg_lr[t] = BASE_LR / (1.0 + exp(-(batch_params[OFF_LR_B + h] + lr_dot))) / ff * batch_memory.x;
      let i = i0 + t;
      seg_tok[t] = max(1.0 / f32(i + 1u) + batch_params[OFF_TOK + i], 0.0);
    }
    workgroupBarrier();

    // 2. Z = k W0 + b0 of every token, and the scores q_s·k_s' + 1. (Per element, no per-thread tiles: on
    // SwiftShader private arrays live in memory and a register tile measured 1.3× slower.)
    for (var e = t; e < n * f; e += WG) {
      let s = e / f;
      let j = e % f;
      var a = 0.0;
      for (var ii = 0u; ii < f; ii++) { a += seg_k[s * f + ii] * batch_state[mat + ii * f + j]; }
      seg_g[e] = a + batch_state[OFF_B0 + off + j];
    }
    for (var e = t; e < n * n; e += WG) {
      let s = e / n;
      let s2 = e % n;
      if (s2 <= s) {
        var a = 0.0;
        for (var ii = 0u; ii < f; ii++) { a += seg_q[s * f + ii] * seg_k[s2 * f + ii]; }
        seg_a[e] = a + 1.0;
      }
    }
    workgroupBarrier();

    // 3. G = lr · ∂ℓ/∂Z, the LayerNorm backward of each token's inner loss, one thread per token (in place).
    if (t < n) {
      let z_at = t * f;
      let v_at = (row0 + t) * UVG_STRIDE + OFF_V + off;
      var mean = 0.0;
      for (var j = 0u; j < f; j++) { mean += seg_g[z_at + j]; }
      mean /= ff;
      var v = 0.0;
      for (var j = 0u; j < f; j++) { let dz = seg_g[z_at + j] - mean; v += dz * dz; }
      let sigma = sqrt(v / ff + EPS);
      var sum_gy = 0.0;
      var sum_gy_xhat = 0.0;
      for (var j = 0u; j < f; j++) {
        let xhat = (seg_g[z_at + j] - mean) / sigma;
        let gamma = batch_params[OFF_LN_W + off + j];
        let residual = gamma * xhat + batch_params[OFF_LN_B + off + j] - (batch_uvg[v_at + j] - seg_k[z_at + j]);
        let gy = gamma * residual;
        sum_gy += gy;
        sum_gy_xhat += gy * xhat;
      }
      let lr = seg_lr[t];
      for (var j = 0u; j < f; j++) {
        let xhat = (seg_g[z_at + j] - mean) / sigma;
        let gamma = batch_params[OFF_LN_W + off + j];
        let residual = gamma * xhat + batch_params[OFF_LN_B + off + j] - (batch_uvg[v_at + j] - seg_k[z_at + j]);
        seg_g[z_at + j] = lr * ((ff * gamma * residual - sum_gy - xhat * sum_gy_xhat) / (ff * sigma));
      }
    }
    workgroupBarrier();

    // 4. Every token's output before its LayerNorm (the formula above), to batch_z.
    for (var e = t; e < n * f; e += WG) {
      let s = e / f;
      let j = e % f;
      var qw = 0.0;
      var delta = 0.0;
      for (var ii = 0u; ii < f; ii++) { qw += seg_q[s * f + ii] * batch_state[mat + ii * f + j]; }
      if (carried) {
        for (var ii = 0u; ii < f; ii++) { delta += seg_q[s * f + ii] * batch_state[OFF_GW + mat + ii * f + j]; }
        delta += batch_state[OFF_GB + off + j];
      }
      for (var s2 = 0u; s2 <= s; s2++) { delta += seg_a[s * n + s2] * seg_g[s2 * f + j]; }
      batch_z[(row0 + s) * D + off + j] = qw + batch_state[OFF_B0 + off + j] - seg_tok[s] * delta;
    }
    storageBarrier(); // the outputs are read back below, W0/GW are rewritten below

    // 5. z = q + LN(q W̄ + b̄), one thread per token; the state after the segment.
    if (t < n) {
      let z_at = (row0 + t) * D + off;
      var mean = 0.0;
      for (var j = 0u; j < f; j++) { mean += batch_z[z_at + j]; }
      mean /= ff;
      var v = 0.0;
      for (var j = 0u; j < f; j++) { let dz = batch_z[z_at + j] - mean; v += dz * dz; }
      let inv = 1.0 / sqrt(v / ff + EPS);
      for (var j = 0u; j < f; j++) {
        let y = (batch_z[z_at + j] - mean) * inv * batch_params[OFF_LN_W + off + j] + batch_params[OFF_LN_B + off + j];
        batch_z[z_at + j] = seg_q[t * f + j] + y;
      }
    }
    // GW += Σ kᵀG, Gb += Σ G (in token order, as the primal loop adds them); at the batch end W0 −= tok GW, b0 −= tok Gb.
    let tok_end = seg_tok[n - 1u];
    for (var e = t; e < f * f; e += WG) {
      let ii = e / f;
      let j = e % f;
      var gw = 0.0;
      if (carried) { gw = batch_state[OFF_GW + mat + e]; }
      for (var s = 0u; s < n; s++) { gw += seg_k[s * f + ii] * seg_g[s * f + j]; }
      if (ends_batch) {
        batch_state[mat + e] = batch_state[mat + e] - tok_end * gw;
        batch_state[OFF_GW + mat + e] = 0.0;
      } else {
        batch_state[OFF_GW + mat + e] = gw;
      }
    }
    for (var j = t; j < f; j += WG) {
      var gb = 0.0;
      if (carried) { gb = batch_state[OFF_GB + off + j]; }
      for (var s = 0u; s < n; s++) { gb += seg_g[s * f + j]; }
      if (ends_batch) {
        batch_state[OFF_B0 + off + j] = batch_state[OFF_B0 + off + j] - tok_end * gb;
        batch_state[OFF_GB + off + j] = 0.0;
      } else {
        batch_state[OFF_GB + off + j] = gb;
      }
    }
    storageBarrier();   // the next segment reads the new state
    workgroupBarrier(); // and rewrites seg_*
    row0 += n;
  }
}

// --- ttt_batch_rows_drift: ttt_batch_rows with the drift statistics of every token (a chunk read with drift) ------
// The same dual-form arithmetic for the outputs and the state (bit for bit the outputs of ttt_batch_rows), plus
// each token's drift stats without forming its W̄_s (docs/MATH.md "Drift statistics in the chunk"). With D0 = W0 −
// W_init, GW_s = GWc + Σ_{s'≤s} k_s'ᵀG_s' (GWc: the carried GW) and D̄_s = W̄_s − W_init = D0 − tok_s GW_s:
//   ‖D̄_s‖²       = ‖D0‖² − 2 tok_s ⟨D0, GW_s⟩ + tok_s² ‖GW_s‖²                         (norm²)
//   ⟨W̄_s, W_init⟩ = ‖W_init‖² + ⟨W_init, D0⟩ − tok_s ⟨W_init, GW_s⟩,  ‖W̄_s‖² = ‖W_init‖² + 2⟨W_init, D̄_s⟩ + ‖D̄_s‖²
//   ⟨X, GW_s⟩     = ⟨X, GWc⟩ + Σ_{s'≤s} (k_s' X)·G_s'      (X = D0, W_init: the token's matvec k X, dotted with G)
//   ‖GW_s‖²       = ‖GWc‖² + 2 Σ_{s'≤s} (k_s' GWc)·G_s' + Σ_{s',s''≤s} (k_s'·k_s'')(G_s'·G_s'')
// D0 is formed element by element (w0 − w_init), never as a difference of two large dot products: early in a text
// it is small against W0, and ⟨D0, GW_s⟩ carries the norm. At a reset D0 is exactly 0 and so are its terms.
// The segment scalars (‖D0‖², ⟨W_init, D0⟩, ‖W_init‖², ⟨·, GWc⟩, ‖GWc‖²) ride in phase 5's pass over the state;
// lossBefore comes from phase 3's residuals; lossAfter from k W̄_s + b̄_s by the formula of q's in phase 4.
// Phases 2 and 4 run tp = ⌊64/n⌋ threads per token (each with every tp-th column), so that a token's dot products
// are partial sums of its own threads, combined through drift_scratch; phase 2's pass over W0 also forms k_s D0.
// Extra workgroup memory: ~2.5 KiB (with seg_* ~15.6 KiB of the 16 KiB every WebGPU device has); one more storage
// binding (8 of the 10 context.ts asks for).
@group(0) @binding(9) var<storage, read_write> batch_stats: array<f32>; // [tokens, STATS_STRIDE], as step_stats

// Columns per thread in phases 2 and 4: ⌈f/⌊64/n⌋⌉ with n·f ≤ SEG_FLOATS = 1024, n ≤ 16, is at most 1024/(65 − n) < 22.
const DRIFT_COLS: u32 = 32u;
var<workgroup> drift_kk: array<f32, SEG_MAX * SEG_MAX>; // [n, n]: k_s·k_s' for s' ≤ s
var<workgroup> drift_scratch: array<vec4<f32>, WG>;    // per-thread partial sums
var<workgroup> drift_tok: array<vec4<f32>, SEG_MAX>;    // per token: (k D0)·G, (k W0)·G, (k GWc)·G, lossAfter
var<workgroup> drift_loss: array<f32, SEG_MAX>;         // per token: lossBefore

@compute @workgroup_size(WORKGROUP_SIZE)
fn ttt_batch_rows_drift(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let f = D / H;
  let ff = f32(f);
  let off = h * f;
  let mat = h * f * f;
  let first = batch_position[0];
  let count = batch_chunk.x;
  var row0 = 0u;
  while (row0 < count) {
    let i0 = (first + row0) % B;
    let n = min(min(B - i0, SEG), count - row0);
    let carried = i0 > 0u;
    let ends_batch = i0 + n == B;

    // 1. As ttt_batch_rows.
    for (var e = t; e < n * f; e += WG) {
      let at = (row0 + e / f) * QK_STRIDE + off + e % f;
      seg_q[e] = batch_qk[at];
      seg_k[e] = batch_qk[at + D];
    }
    if (t < n) {
      let xn_at = (row0 + t) * D;
      var lr_dot = 0.0;
      for (var c = 0u; c < D; c++) { lr_dot += batch_params[OFF_LR_W + h * D + c] * batch_xn[xn_at + c]; }
      seg_lr[t] = BASE_LR / (1.0 + exp(-(batch_params[OFF_LR_B + h] + lr_dot))) / ff * batch_memory.x;
      let i = i0 + t;
      seg_tok[t] = max(1.0 / f32(i + 1u) + batch_params[OFF_TOK + i], 0.0);
    }
    workgroupBarrier();

    // 2. As ttt_batch_rows (each Z the same sum), but tp = ⌊64/n⌋ threads per token, each with every tp-th column
    // (so that a token's dot products are partial sums of its own threads, combined through drift_scratch); beside
    // k_s W0 the same pass forms k_s D0, both kept in registers for phase 4. And the keys' Gram k_s·k_s'.
    let tp = WG / n;
    let s = t / tp;
    let lane = t % tp;
    let in_token = s < n;
    var kw: array<f32, DRIFT_COLS>; // k_s W0, column lane + c·tp
    var kd: array<f32, DRIFT_COLS>; // k_s D0
    if (in_token) {
      var c = 0u;
      for (var j = lane; j < f; j += tp) {
        var a = 0.0;
        var ad = 0.0;
        for (var ii = 0u; ii < f; ii++) {
          let k = seg_k[s * f + ii];
          let w0 = batch_state[mat + ii * f + j];
          a += k * w0;
          ad += k * (w0 - batch_params[OFF_W_INIT + mat + ii * f + j]);
        }
        seg_g[s * f + j] = a + batch_state[OFF_B0 + off + j];
        kw[c] = a;
        kd[c] = ad;
        c++;
      }
    }
    for (var e = t; e < n * n; e += WG) {
      let s = e / n;
      let s2 = e % n;
      if (s2 <= s) {
        var a = 0.0;
        var kk = 0.0;
        for (var ii = 0u; ii < f; ii++) {
          a += seg_q[s * f + ii] * seg_k[s2 * f + ii];
          kk += seg_k[s * f + ii] * seg_k[s2 * f + ii];
        }
        seg_a[e] = a + 1.0;
        drift_kk[e] = kk;
      }
    }
    workgroupBarrier();

    // 3. As ttt_batch_rows; lossBefore from the residuals.
    if (t < n) {
      let z_at = t * f;
      let v_at = (row0 + t) * UVG_STRIDE + OFF_V + off;
      var mean = 0.0;
      for (var j = 0u; j < f; j++) { mean += seg_g[z_at + j]; }
      mean /= ff;
      var v = 0.0;
      for (var j = 0u; j < f; j++) { let dz = seg_g[z_at + j] - mean; v += dz * dz; }
      let sigma = sqrt(v / ff + EPS);
      var sum_gy = 0.0;
      var sum_gy_xhat = 0.0;
      var sum_r2 = 0.0;
      for (var j = 0u; j < f; j++) {
        let xhat = (seg_g[z_at + j] - mean) / sigma;
        let gamma = batch_params[OFF_LN_W + off + j];
        let residual = gamma * xhat + batch_params[OFF_LN_B + off + j] - (batch_uvg[v_at + j] - seg_k[z_at + j]);
        let gy = gamma * residual;
        sum_gy += gy;
        sum_gy_xhat += gy * xhat;
        sum_r2 += residual * residual;
      }
      drift_loss[t] = sum_r2 / ff;
      let lr = seg_lr[t];
      for (var j = 0u; j < f; j++) {
        let xhat = (seg_g[z_at + j] - mean) / sigma;
        let gamma = batch_params[OFF_LN_W + off + j];
        let residual = gamma * xhat + batch_params[OFF_LN_B + off + j] - (batch_uvg[v_at + j] - seg_k[z_at + j]);
        seg_g[z_at + j] = lr * ((ff * gamma * residual - sum_gy - xhat * sum_gy_xhat) / (ff * sigma));
      }
    }
    workgroupBarrier();

    // 4. The outputs (each element exactly as ttt_batch_rows computes it), in phase 2's layout; beside them the
    // partial dot products (k_s D0)·G_s, (k_s W0)·G_s, (k_s GWc)·G_s and zk = k_s W̄_s + b̄_s (kept for its LayerNorm).
    var zk: array<f32, DRIFT_COLS>;
    var part = vec4<f32>(0.0); // (k D0)·G, (k W0)·G, (k GWc)·G, Σ zk
    if (in_token) {
      var c = 0u;
      for (var j = lane; j < f; j += tp) {
        var qw = 0.0;
        var delta = 0.0;
        var kc = 0.0;
        for (var ii = 0u; ii < f; ii++) { qw += seg_q[s * f + ii] * batch_state[mat + ii * f + j]; }
        var kdelta = 0.0;
        if (carried) {
          for (var ii = 0u; ii < f; ii++) {
            let gw = batch_state[OFF_GW + mat + ii * f + j];
            delta += seg_q[s * f + ii] * gw;
            kc += seg_k[s * f + ii] * gw;
          }
          delta += batch_state[OFF_GB + off + j];
          kdelta = kc + batch_state[OFF_GB + off + j];
        }
        for (var s2 = 0u; s2 <= s; s2++) {
          delta += seg_a[s * n + s2] * seg_g[s2 * f + j];
          kdelta += (drift_kk[s * n + s2] + 1.0) * seg_g[s2 * f + j];
        }
        let b0 = batch_state[OFF_B0 + off + j];
        batch_z[(row0 + s) * D + off + j] = qw + b0 - seg_tok[s] * delta;
        zk[c] = kw[c] + b0 - seg_tok[s] * kdelta;
        let g = seg_g[s * f + j];
        part += vec4<f32>(kd[c] * g, kw[c] * g, kc * g, zk[c]);
        c++;
      }
    }
    drift_scratch[t] = part;
    storageBarrier(); // the outputs are read back below, W0/GW are rewritten below
    workgroupBarrier();
    // The token's sums (its tp threads'), then its zk's LayerNorm in two passes as ttt_step (mean, then variance).
    var sums = vec4<f32>(0.0);
    if (in_token) {
      for (var l = 0u; l < tp; l++) { sums += drift_scratch[s * tp + l]; }
    }
    let zk_mean = sums.w / ff;
    workgroupBarrier();
    var zk_var = 0.0;
    if (in_token) {
      var c = 0u;
      for (var j = lane; j < f; j += tp) { let dz = zk[c] - zk_mean; zk_var += dz * dz; c++; }
    }
    drift_scratch[t] = vec4<f32>(zk_var, 0.0, 0.0, 0.0);
    workgroupBarrier();
    var var_sum = 0.0;
    if (in_token) {
      for (var l = 0u; l < tp; l++) { var_sum += drift_scratch[s * tp + l].x; }
    }
    let inv_k = 1.0 / sqrt(var_sum / ff + EPS);
    workgroupBarrier();
    var loss_part = 0.0;
    if (in_token) {
      var c = 0u;
      let v_at = (row0 + s) * UVG_STRIDE + OFF_V + off;
      for (var j = lane; j < f; j += tp) {
        let target_j = batch_uvg[v_at + j] - seg_k[s * f + j];
        let e = (zk[c] - zk_mean) * inv_k * batch_params[OFF_LN_W + off + j] + batch_params[OFF_LN_B + off + j] - target_j;
        loss_part += e * e;
        c++;
      }
    }
    drift_scratch[t] = vec4<f32>(loss_part, 0.0, 0.0, 0.0);
    workgroupBarrier();
    if (in_token && lane == 0u) {
      var loss_after = 0.0;
      for (var l = 0u; l < tp; l++) { loss_after += drift_scratch[s * tp + l].x; }
      drift_tok[s] = vec4<f32>(sums.x, sums.y, sums.z, loss_after / ff);
    }
    // (k_s·k_s')(G_s·G_s') into seg_a (its scores are spent), for ‖GW_s‖².
    for (var e = t; e < n * n; e += WG) {
      let s1 = e / n;
      let s2 = e % n;
      if (s2 <= s1) {
        var gg = 0.0;
        for (var j = 0u; j < f; j++) { gg += seg_g[s1 * f + j] * seg_g[s2 * f + j]; }
        seg_a[e] = drift_kk[e] * gg;
      }
    }

    // 5. As ttt_batch_rows; the pass over the state also sums the segment scalars.
    if (t < n) {
      let z_at = (row0 + t) * D + off;
      var mean = 0.0;
      for (var j = 0u; j < f; j++) { mean += batch_z[z_at + j]; }
      mean /= ff;
      var v = 0.0;
      for (var j = 0u; j < f; j++) { let dz = batch_z[z_at + j] - mean; v += dz * dz; }
      let inv = 1.0 / sqrt(v / ff + EPS);
      for (var j = 0u; j < f; j++) {
        let y = (batch_z[z_at + j] - mean) * inv * batch_params[OFF_LN_W + off + j] + batch_params[OFF_LN_B + off + j];
        batch_z[z_at + j] = seg_q[t * f + j] + y;
      }
    }
    let tok_end = seg_tok[n - 1u];
    var seg1 = vec4<f32>(0.0); // ‖D0‖², ⟨W_init, D0⟩, ‖W_init‖², ⟨D0, GWc⟩
    var seg2 = vec4<f32>(0.0); // ⟨W_init, GWc⟩, ‖GWc‖²
    for (var e = t; e < f * f; e += WG) {
      let ii = e / f;
      let j = e % f;
      let w0 = batch_state[mat + e];
      let w_init = batch_params[OFF_W_INIT + mat + e];
      let d0 = w0 - w_init;
      var gw = 0.0;
      if (carried) { gw = batch_state[OFF_GW + mat + e]; }
      seg1 += vec4<f32>(d0 * d0, w_init * d0, w_init * w_init, d0 * gw);
      seg2 += vec4<f32>(w_init * gw, gw * gw, 0.0, 0.0);
      for (var s1 = 0u; s1 < n; s1++) { gw += seg_k[s1 * f + ii] * seg_g[s1 * f + j]; }
      if (ends_batch) {
        batch_state[mat + e] = w0 - tok_end * gw;
        batch_state[OFF_GW + mat + e] = 0.0;
      } else {
        batch_state[OFF_GW + mat + e] = gw;
      }
    }
    for (var j = t; j < f; j += WG) {
      var gb = 0.0;
      if (carried) { gb = batch_state[OFF_GB + off + j]; }
      for (var s1 = 0u; s1 < n; s1++) { gb += seg_g[s1 * f + j]; }
      if (ends_batch) {
        batch_state[OFF_B0 + off + j] = batch_state[OFF_B0 + off + j] - tok_end * gb;
        batch_state[OFF_GB + off + j] = 0.0;
      } else {
        batch_state[OFF_GB + off + j] = gb;
      }
    }
    drift_scratch[t] = seg1;
    workgroupBarrier();
    var scalars1 = vec4<f32>(0.0);
    if (t < n) { for (var l = 0u; l < WG; l++) { scalars1 += drift_scratch[l]; } }
    workgroupBarrier();
    drift_scratch[t] = seg2;
    workgroupBarrier();
    var scalars2 = vec4<f32>(0.0);
    if (t < n) { for (var l = 0u; l < WG; l++) { scalars2 += drift_scratch[l]; } }

    // 6. Token t's stats from the sums above (prefix sums over the segment's tokens up to t).
    if (t < n) {
      let tok = seg_tok[t];
      var d_gw = scalars1.w;   // ⟨D0, GW_t⟩
      var w0_gw = 0.0;         // Σ (k W0)·G
      var gw2 = scalars2.y;    // ‖GW_t‖²
      for (var s1 = 0u; s1 <= t; s1++) {
        let p = drift_tok[s1];
        d_gw += p.x;
        w0_gw += p.y;
        gw2 += 2.0 * p.z + seg_a[s1 * n + s1];
        for (var s2 = 0u; s2 < s1; s2++) { gw2 += 2.0 * seg_a[s1 * n + s2]; }
      }
      gw2 = max(gw2, 0.0);
      // ⟨W_init, GW_t⟩ = ⟨W_init, GWc⟩ + Σ (k W_init)·G, with k W_init·G = (k W0)·G − (k D0)·G.
      let init_gw = scalars2.x + (w0_gw - (d_gw - scalars1.w));
      let norm2 = max(scalars1.x - 2.0 * tok * d_gw + tok * tok * gw2, 0.0);
      let init_dbar = scalars1.y - tok * init_gw;               // ⟨W_init, D̄_t⟩
      let bar_init = scalars1.z + init_dbar;                     // ⟨W̄_t, W_init⟩
      let bar2 = max(scalars1.z + 2.0 * init_dbar + norm2, 0.0); // ‖W̄_t‖²
      let at = (row0 + t) * STATS_STRIDE + u32(batch_params[OFF_STATS_BASE]) + h * 5u;
      batch_stats[at] = sqrt(norm2);
      batch_stats[at + 1u] = bar_init / (sqrt(bar2) * sqrt(scalars1.z));
      batch_stats[at + 2u] = drift_loss[t];
      batch_stats[at + 3u] = drift_tok[t].w;
      batch_stats[at + 4u] = sqrt(scalars1.x);
    }
    storageBarrier();   // the next segment reads the new state
    workgroupBarrier(); // and rewrites seg_*, drift_*
    row0 += n;
  }
}
