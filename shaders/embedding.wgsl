// Token embedding lookup: the token id is read on the GPU (the sampler writes it there), so a whole decode loop
// needs no CPU round trip. Ids past the vocabulary are clamped: the host validates ids it writes itself.
override D: u32;
override V: u32;

@group(0) @binding(0) var<storage, read> token: array<u32>;
@group(0) @binding(1) var<storage, read> tok_embed: array<f32>; // [V, D]
@group(0) @binding(2) var<storage, read_write> x: array<f32>;   // [D]

@compute @workgroup_size(64)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= D) { return; }
  let id = min(token[0], V - 1u);
  x[i] = tok_embed[id * D + i];
}

// embed_rows: the token rows of a prefill chunk, x[row] = E[ids[row]]; dispatched (⌈D/64⌉, tokens in the chunk).
@compute @workgroup_size(64)
fn embed_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let row = gid.y;
  if (i >= D) { return; }
  let id = min(token[row], V - 1u);
  x[row * D + i] = tok_embed[id * D + i];
}
