// LM head on f32 embeddings (no quantisation, MATH.md): logits[v] = E[v] · xn, one thread per vocabulary row.
// The final RMSNorm runs before it as norm.wgsl's rms_norm_quant (its int8 output is unused there).
// advance_position bumps the GPU-side position counter at the end of each token step, so that several steps may
// be recorded into one command buffer without the host rewriting it in between.
override D: u32;
override V: u32;

@group(0) @binding(0) var<storage, read> embed: array<f32>;        // [V, D]
@group(0) @binding(1) var<storage, read> xn: array<f32>;           // [D]
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // [V]

@compute @workgroup_size(64)
fn lm_head(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (v >= V) { return; }
  let base = v * D;
  var acc = 0.0;
  for (var i = 0u; i < D; i++) { acc += embed[base + i] * xn[i]; }
  logits[v] = acc;
}

@group(0) @binding(0) var<storage, read_write> step_position: array<u32>; // [0] = position of the next token

@compute @workgroup_size(1)
fn advance_position() {
  step_position[0] = step_position[0] + 1u;
}
