// FFN glue between w1/w3 and w2: h = silu(a) ⊙ c, then the FFN sub-norm (RMSNorm) and int8 quantisation for w2.
override F: u32;
override EPS: f32;
override XQ_ROWS: u32 = 0u; // swiglu_norm_quant_rows: xq column-major with this many rows (see norm.wgsl)

@group(0) @binding(0) var<storage, read> ac: array<f32>;           // [2F]: a = w1 output, then c = w3 output
@group(0) @binding(1) var<storage, read> subnorm: array<f32>;      // [F]
@group(0) @binding(2) var<storage, read_write> h: array<f32>;      // [F] normalised hidden (f32)
@group(0) @binding(3) var<storage, read_write> xq: array<i32>;     // [>= F]
@group(0) @binding(4) var<storage, read_write> xscale: array<f32>;

fn silu(a: f32) -> f32 { return a / (1.0 + exp(-a)); }

// Row `row` of a prefill chunk: ac[row·2F..], h[row·F..], xq[row·F..], xscale[row] (row 0: the decode step).
fn swiglu_norm_quant_row(t: u32, row: u32) {
  let a_base = row * 2u * F;
  let base = row * F;
  var sum_sq = 0.0;
  for (var i = t; i < F; i += WG) {
    let v = silu(ac[a_base + i]) * ac[a_base + F + i];
    h[base + i] = v;
    sum_sq += v * v;
  }
  let total = wg_sum4(t, vec4<f32>(sum_sq, 0.0, 0.0, 0.0)).x;
  let inv = 1.0 / sqrt(total / f32(F) + EPS);
  var absmax = 0.0;
  for (var i = t; i < F; i += WG) {
    let y = h[base + i] * inv * subnorm[i];
    h[base + i] = y;
    absmax = max(absmax, abs(y));
  }
  let scale = activation_scale(wg_max4(t, vec4<f32>(absmax, 0.0, 0.0, 0.0)).x);
  for (var i = t; i < F; i += WG) {
    var at = base + i;
    if (XQ_ROWS > 0u) { at = i * XQ_ROWS + row; }
    xq[at] = quantize(h[base + i], scale);
  }
  if (t == 0u) { xscale[row] = scale; }
}

@compute @workgroup_size(64)
fn swiglu_norm_quant(@builtin(local_invocation_index) t: u32) {
  swiglu_norm_quant_row(t, 0u);
}

// The token rows of a prefill chunk, one workgroup per row.
@compute @workgroup_size(64)
fn swiglu_norm_quant_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  swiglu_norm_quant_row(t, wid.x);
}
