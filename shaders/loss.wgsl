// token_loss: −ln p(target | prefix) = logsumexp(logits) − logits[target], in one workgroup, so that reading a text
// brings back one float per token instead of the whole logits vector. Prefixed with common.wgsl (WG, wg_max4, wg_sum4).
override V: u32;

@group(0) @binding(0) var<storage, read> loss_logits: array<f32>;
@group(0) @binding(1) var<storage, read> loss_target: array<u32>; // [1]: the token the logits should have predicted
@group(0) @binding(2) var<storage, read_write> loss_out: array<f32>; // [1]

@compute @workgroup_size(64)
fn token_loss(@builtin(local_invocation_index) t: u32) {
  var m = -3.4e38;
  for (var i = t; i < V; i += WG) { m = max(m, loss_logits[i]); }
  let top = wg_max4(t, vec4<f32>(m, 0.0, 0.0, 0.0)).x;
  var s = 0.0;
  for (var i = t; i < V; i += WG) { s += exp(loss_logits[i] - top); }
  let total = wg_sum4(t, vec4<f32>(s, 0.0, 0.0, 0.0)).x;
  if (t == 0u) {
    loss_out[0] = top + log(total) - loss_logits[min(loss_target[0], V - 1u)];
  }
}

// token_loss_rows: the losses of a chunk's tokens in one dispatch, one workgroup per token. Token r is predicted by
// the logits of token r − 1 of the chunk (rows_logits, [tokens, V]); token 0 by the token read before the chunk
// (loss_logits). Same operations in the same order as token_loss.
@group(0) @binding(3) var<storage, read> loss_rows_logits: array<f32>;

fn chunk_logit(row: u32, i: u32) -> f32 {
  if (row == 0u) { return loss_logits[i]; }
  return loss_rows_logits[(row - 1u) * V + i];
}

@compute @workgroup_size(64)
fn token_loss_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.x;
  var m = -3.4e38;
  for (var i = t; i < V; i += WG) { m = max(m, chunk_logit(row, i)); }
  let top = wg_max4(t, vec4<f32>(m, 0.0, 0.0, 0.0)).x;
  var s = 0.0;
  for (var i = t; i < V; i += WG) { s += exp(chunk_logit(row, i) - top); }
  let total = wg_sum4(t, vec4<f32>(s, 0.0, 0.0, 0.0)).x;
  if (t == 0u) {
    loss_out[row] = top + log(total) - chunk_logit(row, min(loss_target[row], V - 1u));
  }
}
