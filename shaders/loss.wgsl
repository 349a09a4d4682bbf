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
