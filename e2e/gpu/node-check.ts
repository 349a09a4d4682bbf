// The engine on a real GPU through Node + Dawn (the `webgpu` package): kernel checks, logit/drift parity with the
// CPU reference on the tiny models and on larger random configs that exercise the other code paths (head size
// 128, no shareQK/gate/conv, attn+swa+ttt in one model), and decode speed. Bundle with `vite build --ssr` (it
// resolves the shaders' `?raw` imports), then run with Node; writes a JSON report to the path in argv[2].
import { create, globals } from 'webgpu';
import { writeFileSync } from 'node:fs';
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { ReferenceModel } from '../../src/engine/reference/model';
import { randomModel } from '../../src/engine/model/random';
import { TINY_MODELS, TINY_TOKENIZER, tinyModel } from '../../src/engine/format/tiny';
import type { ModelConfig, ModelFile } from '../../src/engine/types';
import { checkKernels } from './kernels';
import { tokenSequence } from './parity';
import { compareLogits } from '../../src/engine/reference/compare';

Object.assign(globalThis, globals);
const gpu = create([]) as unknown as GPU;

async function parity(name: string, file: ModelFile, tokens: number, stride: number) {
  const ctx = await GpuContext.create({ gpu });
  const model = await GpuModel.create(ctx, file);
  const ref = new ReferenceModel(file);
  const rel: number[] = [];
  let argmaxAgree = 0;
  let driftMaxAbs = 0;
  for (const token of tokenSequence(tokens, file.config.vocabSize, stride)) {
    const g = await model.step(token, { drift: true });
    const c = ref.step(token);
    const comparison = compareLogits(g, c);
    rel.push(comparison.relative);
    if (comparison.argmaxEqual) argmaxAgree++;
    const gd = await model.readDrift();
    const rd = ref.drift();
    gd.forEach((l, li) => l.heads.forEach((h, hi2) => {
      const r = rd[li].heads[hi2];
      for (const k of ['norm', 'cos', 'lossBefore', 'lossAfter'] as const) driftMaxAbs = Math.max(driftMaxAbs, Math.abs(h[k] - r[k]) / Math.max(Math.abs(r[k]), 1e-3));
    }));
  }
  // Decode speed: 200 steps recorded and submitted one by one, one logits readback at the end.
  model.reset();
  const token = ctx.createBuffer('scratch', 'bench token', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  ctx.device.queue.writeBuffer(token, 0, new Uint32Array([3]));
  const steps = 200;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const encoder = ctx.device.createCommandEncoder();
    model.encodeStep(encoder, token);
    ctx.device.queue.submit([encoder.finish()]);
  }
  await ctx.readBuffer(model.logits, 4);
  const tokensPerSecond = steps / ((performance.now() - t0) / 1000);
  const report = {
    name,
    params: [...file.tensors.values()].reduce((n, t) => n + (t.kind === 'float' ? t.data.length : t.values.length), 0),
    worstRelative: Math.max(...rel),
    cleanTokens: rel.filter((v) => v <= 1e-5).length,
    tokens,
    argmaxAgree,
    driftMaxRel: driftMaxAbs,
    tokensPerSecond,
    dispatchesPerToken: model.dispatchesPerToken,
    memory: model.memoryReport(),
    relPerToken: rel.map((v) => Number(v.toExponential(1))),
  };
  model.destroy();
  ctx.destroy();
  return report;
}

const base: ModelConfig = TINY_MODELS[0].config;
const wide: ModelConfig = {
  ...base, arch: 'ttt', vocabSize: 4096, dModel: 256, nLayers: 4, nHeads: 2, ffnHidden: 768,
  mixers: ['ttt', 'swa', 'attn', 'ttt'], window: 16, maxContext: 512,
  ttt: { miniBatch: 16, baseLr: 1.0, convKernel: 0, shareQK: false, gate: false },
};
const small: ModelConfig = {
  ...base, arch: 'ttt', vocabSize: 4096, dModel: 256, nLayers: 6, nHeads: 4, ffnHidden: 768,
  mixers: ['ttt', 'ttt', 'swa', 'ttt', 'ttt', 'swa'], window: 64, maxContext: 4096,
  ttt: { miniBatch: 16, baseLr: 1.0, convKernel: 4, shareQK: true, gate: true },
};

const out: Record<string, unknown> = {};
const adapterCtx = await GpuContext.create({ gpu });
out.adapter = adapterCtx.adapterInfo;
adapterCtx.destroy();
out.kernels = await checkKernels(gpu);
out.models = [];
for (const def of TINY_MODELS) (out.models as unknown[]).push(await parity(def.name, tinyModel(def), 40, 101));
(out.models as unknown[]).push(await parity('wide-mixed (f=128, no conv/gate/shareQK)', randomModel(wide, TINY_TOKENIZER_V(4096), 5), 40, 101));
(out.models as unknown[]).push(await parity('small-config (d256 L6 V4096)', randomModel(small, TINY_TOKENIZER_V(4096), 6), 24, 101));
const json = JSON.stringify(out, null, 1);
if (process.argv[2]) writeFileSync(process.argv[2], json);
console.log(json);
process.exit(0);

/** A tokenizer spec whose vocabulary adds up to `vocab` (random models need only the count). */
function TINY_TOKENIZER_V(vocab: number) {
  const merges: [number, number][] = Array.from({ length: vocab - 257 }, (_, i) => [i % 256, (i * 7) % 256]);
  return { ...TINY_TOKENIZER, merges, specials: { '<|endoftext|>': vocab - 1 } };
}
