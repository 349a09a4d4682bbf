// token_loss_rows: −ln p(target | prefix) = logsumexp(logits) − logits[target] for every token of a chunk read with
// logits 'all', one workgroup per token, so that reading a text brings back one float per token instead of the
// logits. Token r is predicted by the logits of token r − 1 of the chunk (loss_rows_logits, [tokens, V]); token 0 by
// the token read before the chunk (loss_logits). Prefixed with common.wgsl (WG, wg_max4, wg_sum4).
override V: u32;

@group(0) @binding(0) var<storage, read> loss_logits: array<f32>;      // [V]: the token before the chunk
@group(0) @binding(1) var<storage, read> loss_target: array<u32>;      // [tokens]: the chunk's ids
@group(0) @binding(2) var<storage, read_write> loss_out: array<f32>;   // [tokens]
@group(0) @binding(3) var<storage, read> loss_rows_logits: array<f32>; // [tokens, V]

fn chunk_logit(row: u32, i: u32) -> f32 {
  if (row == 0u) { return loss_logits[i]; }
  return loss_rows_logits[(row - 1u) * V + i];
}

@compute @workgroup_size(WORKGROUP_SIZE)
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
