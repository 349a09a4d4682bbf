// LM head on the float embeddings (no quantisation, MATH.md): logits[v] = E[v] · xn, one thread per vocabulary row.
// The final RMSNorm runs before it as norm.wgsl's rms_norm_quant (its int8 output is unused there).
// The table is u32 words (gpu/model.ts FloatTable): with F16, two f16 values per word, unpacked with
// unpack2x16float (exact, core WGSL: no shader-f16 needed), rows of ROW_WORDS = ceil(D/2) words; else one f32 per
// word (bitcast), rows of D words. f16 halves the bytes the head reads per token, its largest read.
// advance_position bumps the GPU-side position counter at the end of each token step, so that several steps may
// be recorded into one command buffer without the host rewriting it in between.
override D: u32;
override V: u32;
override F16: bool;
override ROW_WORDS: u32;

@group(0) @binding(0) var<storage, read> table: array<u32>;        // [V, ROW_WORDS]
@group(0) @binding(1) var<storage, read> xn: array<f32>;           // [D]
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // [V]

@compute @workgroup_size(64)
fn lm_head(@builtin(global_invocation_id) gid: vec3<u32>) {
  let v = gid.x;
  if (v >= V) { return; }
  let base = v * ROW_WORDS;
  var acc = 0.0;
  if (F16) {
    // Same order of additions as the f32 path: element by element.
    for (var w = 0u; w < D / 2u; w++) {
      let pair = unpack2x16float(table[base + w]);
      acc += pair.x * xn[2u * w];
      acc += pair.y * xn[2u * w + 1u];
    }
    if (D % 2u == 1u) { acc += unpack2x16float(table[base + D / 2u]).x * xn[D - 1u]; }
  } else {
    for (var i = 0u; i < D; i++) { acc += bitcast<f32>(table[base + i]) * xn[i]; }
  }
  logits[v] = acc;
}

@group(0) @binding(0) var<storage, read_write> step_position: array<u32>; // [0] = position of the next token

@compute @workgroup_size(1)
fn advance_position() {
  step_position[0] = step_position[0] + 1u;
}
