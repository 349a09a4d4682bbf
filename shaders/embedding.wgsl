// Token embedding lookup: the token id is read on the GPU (the sampler writes it there), so a whole decode loop
// needs no CPU round trip. Ids past the vocabulary are clamped: the host validates ids it writes itself.
// The table is u32 words, f16 pairs or f32 (see head.wgsl): a tied model's LM head reads the same buffer.
override D: u32;
override V: u32;
override F16: bool;
override ROW_WORDS: u32;

@group(0) @binding(0) var<storage, read> token: array<u32>;
@group(0) @binding(1) var<storage, read> tok_embed: array<u32>; // [V, ROW_WORDS]
@group(0) @binding(2) var<storage, read_write> x: array<f32>;   // [D]

@compute @workgroup_size(WORKGROUP_SIZE)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= D) { return; }
  let base = min(token[0], V - 1u) * ROW_WORDS;
  if (F16) {
    let pair = unpack2x16float(tok_embed[base + i / 2u]);
    x[i] = select(pair.x, pair.y, i % 2u == 1u);
  } else {
    x[i] = bitcast<f32>(tok_embed[base + i]);
  }
}

// embed_rows: the token rows of a prefill chunk, x[row] = E[ids[row]]; dispatched (⌈D/64⌉, tokens in the chunk).
@compute @workgroup_size(WORKGROUP_SIZE)
fn embed_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let row = gid.y;
  if (i >= D) { return; }
  let base = min(token[row], V - 1u) * ROW_WORDS;
  var value: f32;
  if (F16) {
    let pair = unpack2x16float(tok_embed[base + i / 2u]);
    value = select(pair.x, pair.y, i % 2u == 1u);
  } else {
    value = bitcast<f32>(tok_embed[base + i]);
  }
  x[row * D + i] = value;
}
