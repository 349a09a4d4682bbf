// The GPU sampler (shaders/sample.wgsl) against the CPU semantics of src/engine/sampling on random logits, in
// Chromium's WebGPU (SwiftShader here).
import { expect, test } from '@playwright/test';

type SamplerModule = typeof import('../../src/engine/gpu/sampler');
type ContextModule = typeof import('../../src/engine/gpu/context');
type SamplingModule = typeof import('../../src/engine/sampling');
type RngModule = typeof import('../../src/engine/util/rng');

interface CaseResult {
  cases: number;
  greedyMismatches: number;
  greedyCases: number;
  sampledMismatches: number;
  sampledCases: number;
  mismatchExamples: string[];
  unexplained: number;
  msPerSample: number;
  /** Distinct "penalty/window" pairs tested, and the cases whose penalty changed the CPU's greedy choice. */
  penaltyCombos: string[];
  penaltyChangedGreedy: number;
}

/** Drawn independently per case (seeded), so that every penalty meets every window (1024: the GPU ring's capacity). */
const PENALTIES = [1, 1.1, 1.3, 2.5];
const WINDOWS = [0, 1, 8, 64, 1024];

test.beforeEach(async ({ page }) => {
  await page.goto('/e2e/gpu/harness.html');
});

// Both workgroup sizes: CPU adapters take SAMPLER_FEW_THREADS (4), GPUs 64; the same code with other reduction trees.
for (const workgroupSize of [4, 64]) {
  test(`GPU sampler (workgroup ${workgroupSize}) agrees with the CPU sample() on random logits, penalties and parameters`, async ({ page }) => {
    const result: CaseResult = await page.evaluate(async ({ penalties, windows, workgroupSize }) => {
      const imp = (p: string) => import(/* @vite-ignore */ p);
      const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
      const { GpuSampler }: SamplerModule = await imp('/src/engine/gpu/sampler.ts');
      const { sample, argmax, CounterRng, candidates, penalizedLogits, uniform }: SamplingModule = await imp('/src/engine/sampling/index.ts');
      const { Rng }: RngModule = await imp('/src/engine/util/rng.ts');

      const ctx = await GpuContext.create();
      const rng = new Rng(12345);
      const staging = ctx.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const out: CaseResult = { cases: 0, greedyMismatches: 0, greedyCases: 0, sampledMismatches: 0, sampledCases: 0, mismatchExamples: [], unexplained: 0, msPerSample: 0, penaltyCombos: [], penaltyChangedGreedy: 0 };
      const combos = new Set<string>();
      let gpuMs = 0;
      const vocabs = [8192, 4096, 300, 7];
      for (const V of vocabs) {
        const sampler = new GpuSampler(ctx, V, workgroupSize);
        const logitsBuffer = ctx.createBuffer('scratch', 'test.logits', V * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        const casesHere = V === 8192 ? 90 : 50;
        for (let c = 0; c < casesHere; c++) {
          const logits = new Float32Array(V);
          const scale = [0.5, 2, 6][c % 3];
          for (let i = 0; i < V; i++) logits[i] = scale * rng.normal();
          // Exact ties in some cases: the lowest id must win, as in the CPU's stable order.
          if (c % 10 === 3) for (let i = 0; i < V; i += 3) logits[i] = Math.round(logits[i]);
          const history: number[] = [];
          const historyLength = rng.int(40);
          for (let i = 0; i < historyLength; i++) history.push(rng.int(V));
          // Half the time the best id was read recently, so that the penalty can change the choice.
          if (rng.int(2) === 0) history.splice(rng.int(history.length + 1), 0, argmax(logits));
          const repetitionPenalty = penalties[rng.int(penalties.length)];
          const repetitionWindow = windows[rng.int(windows.length)];
          combos.add(`${repetitionPenalty}/${repetitionWindow}`);        const params = {
            temperature: c % 4 === 0 ? 0 : [0.3, 0.8, 1, 1.7][c % 4],
            topK: [0, 1, 5, 40, V + 3][c % 5],
            topP: [1, 0.9, 0.5, 0.95, 0.99, 1][c % 6],
            repetitionPenalty,
            repetitionWindow,
            seed: 1000 + c,
            maxTokens: 1,
          };
          const step = rng.int(1000);
          const cpu = sample(logits, params, history, new CounterRng(params.seed, step));

          sampler.reset();
          sampler.pushHistory(history);
          sampler.setParams(params, step);
          ctx.device.queue.writeBuffer(logitsBuffer, 0, logits);
          const t0 = performance.now();
          const encoder = ctx.device.createCommandEncoder();
          sampler.encode(encoder, logitsBuffer);
          encoder.copyBufferToBuffer(sampler.tokenBuffer, 0, staging, 0, 4);
          ctx.device.queue.submit([encoder.finish()]);
          await staging.mapAsync(GPUMapMode.READ);
          const gpu = new Uint32Array(staging.getMappedRange())[0];
          staging.unmap();
          gpuMs += performance.now() - t0;
          out.cases++;
          if (params.temperature === 0) {
            out.greedyCases++;
            if (cpu !== argmax(logits)) out.penaltyChangedGreedy++;
            if (gpu !== cpu) out.greedyMismatches++;
          } else {
            out.sampledCases++;
            if (gpu !== cpu) out.sampledMismatches++;
          }
          if (gpu !== cpu) {
            // SAMPLING.md: a difference is acceptable only on a knife edge, where u (or topP) lies within 1e-5 of a
            // cumulative probability of the CPU's order.
            const penalized = penalizedLogits(logits, history, params.repetitionPenalty, params.repetitionWindow);
            const all = candidates(penalized, { ...params, topP: 1 });
            const kept = candidates(penalized, params);
            const u = uniform(params.seed, step);
            const nearU = kept.probs.some((_, i) => Math.abs(kept.probs.slice(0, i + 1).reduce((a, b) => a + b, 0) - u) < 1e-5);
            const nearTopP = all.probs.some((_, i) => Math.abs(all.probs.slice(0, i + 1).reduce((a, b) => a + b, 0) - params.topP) < 1e-5);
            if (!(params.temperature > 0 && (nearU || nearTopP))) out.unexplained++;
          }
          if (gpu !== cpu && out.mismatchExamples.length < 5) out.mismatchExamples.push(`V=${V} case=${c} cpu=${cpu} gpu=${gpu} ${JSON.stringify(params)}`);
        }
        ctx.destroyBuffer(logitsBuffer);
        sampler.destroy();
      }
      out.msPerSample = gpuMs / out.cases;
      out.penaltyCombos = [...combos].sort();
      ctx.destroy();
      return out;
    }, { penalties: PENALTIES, windows: WINDOWS, workgroupSize });
    console.log(`sampler (workgroup ${workgroupSize}) vs CPU: ${JSON.stringify(result)}`);
    expect(result.greedyCases).toBeGreaterThan(40);
    expect(result.penaltyCombos, 'every penalty with every window').toHaveLength(PENALTIES.length * WINDOWS.length);
    expect(result.penaltyChangedGreedy, 'greedy cases where the penalty moved the choice').toBeGreaterThan(5);
    expect(result.greedyMismatches, result.mismatchExamples.join('\n')).toBe(0);
    // Float summation order differs (GPU tree sums in f32 vs the CPU's sequential f64): only a knife edge may differ.
    expect(result.unexplained, result.mismatchExamples.join('\n')).toBe(0);
    expect(result.sampledMismatches / result.sampledCases, result.mismatchExamples.join('\n')).toBeLessThanOrEqual(0.01);
  });
}

// topK 6 takes the small-candidate path (sorted in workgroup memory); topK 0 the whole-vocabulary threshold searches.
for (const topK of [6, 0]) {
  test(`GPU draws follow the softmax over many steps and repeat for the same seed (topK ${topK})`, async ({ page }) => {
    const result = await page.evaluate(async (topK) => {
      const imp = (p: string) => import(/* @vite-ignore */ p);
      const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
      const { GpuSampler }: SamplerModule = await imp('/src/engine/gpu/sampler.ts');

      const ctx = await GpuContext.create();
      const V = 2048;
      const steps = 2000;
      const logits = new Float32Array(V).fill(-30);
      // Seven plausible tokens spread over the vocabulary; the seventh falls just outside top-k = 6.
      const favourites = [5, 700, 701, 1500, 2047, 99, 1234];
      const favouriteLogits = [2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -0.6];
      favourites.forEach((id, i) => (logits[id] = favouriteLogits[i]));
      const params = { temperature: 0.9, topK, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 77, maxTokens: steps };
      const candidates = topK > 0 ? favourites.slice(0, topK) : favourites;

      const sampler = new GpuSampler(ctx, V);
      const logitsBuffer = ctx.createBuffer('scratch', 'test.logits', V * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
      ctx.device.queue.writeBuffer(logitsBuffer, 0, logits);
      const results = ctx.device.createBuffer({ size: steps * 4, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      const run = async (count: number): Promise<{ ids: Uint32Array; ms: number }> => {
        const t0 = performance.now();
        for (let s = 0; s < count; s++) {
          sampler.setParams(params, s); // written before this step's submit, so each dispatch sees its own step
          const encoder = ctx.device.createCommandEncoder();
          sampler.encode(encoder, logitsBuffer);
          encoder.copyBufferToBuffer(sampler.tokenBuffer, 0, results, s * 4, 4);
          ctx.device.queue.submit([encoder.finish()]);
        }
        await ctx.device.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        return { ids: new Uint32Array(await ctx.readBuffer(results)), ms };
      };
      const first = await run(steps);
      // Same seed, same steps: the same ids (checked on a prefix to keep the test short).
      const second = await run(200);
      const counts = new Map<number, number>();
      for (const id of first.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      const weights = candidates.map((_, i) => Math.exp(favouriteLogits[i] / params.temperature));
      const total = weights.reduce((a, b) => a + b, 0);
      const expected = candidates.map((id, i) => ({ id, p: weights[i] / total, observed: (counts.get(id) ?? 0) / steps }));
      const outside = [...counts.keys()].filter((id) => !candidates.includes(id));
      let identical = true;
      for (let s = 0; s < 200; s++) if (first.ids[s] !== second.ids[s]) identical = false;
      ctx.destroy();
      return { expected, outside, identical, msPerStep: first.ms / steps };
    }, topK);
    console.log(`distribution (topK ${topK}): ${JSON.stringify(result)}`);
    expect(result.identical).toBe(true);
    expect(result.outside).toEqual([]);
    // 2000 draws: the standard error of a frequency is ≤ 0.0112; 0.045 is 4 standard errors.
    for (const { id, p, observed } of result.expected) expect(Math.abs(observed - p), `token ${id}`).toBeLessThan(0.045);
  });
}

test('sampled ids join the GPU history: a penalised sequence over many steps equals the CPU loop', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    const { GpuSampler }: SamplerModule = await imp('/src/engine/gpu/sampler.ts');
    const { sample, CounterRng }: SamplingModule = await imp('/src/engine/sampling/index.ts');
    const { Rng }: RngModule = await imp('/src/engine/util/rng.ts');
    const ctx = await GpuContext.create();
    const V = 500;
    const rng = new Rng(4);
    const logits = new Float32Array(V);
    for (let i = 0; i < V; i++) logits[i] = 2 * rng.normal();
    const sampler = new GpuSampler(ctx, V);
    const logitsBuffer = ctx.createBuffer('scratch', 'test.logits', V * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
    ctx.device.queue.writeBuffer(logitsBuffer, 0, logits);
    const out: { cpu: number[]; gpu: number[] }[] = [];
    // Greedy with a strong penalty walks down the ranking and comes back when ids leave the window.
    for (const params of [
      { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 3, repetitionWindow: 6, seed: 2, maxTokens: 40 },
      { temperature: 1, topK: 20, topP: 0.9, repetitionPenalty: 1.5, repetitionWindow: 16, seed: 8, maxTokens: 40 },
    ]) {
      const prompt = [1, 2, 3, logits.indexOf(Math.max(...logits))];
      const cpu: number[] = [];
      const stream = [...prompt];
      const cpuRng = new CounterRng(params.seed);
      for (let s = 0; s < params.maxTokens; s++) {
        const id = sample(logits, params, stream, cpuRng);
        cpu.push(id);
        stream.push(id);
      }
      sampler.reset();
      sampler.pushHistory(prompt);
      const results = ctx.device.createBuffer({ size: params.maxTokens * 4, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      for (let s = 0; s < params.maxTokens; s++) {
        sampler.setParams(params, s);
        const encoder = ctx.device.createCommandEncoder();
        sampler.encode(encoder, logitsBuffer);
        encoder.copyBufferToBuffer(sampler.tokenBuffer, 0, results, s * 4, 4);
        ctx.device.queue.submit([encoder.finish()]);
      }
      out.push({ cpu, gpu: [...new Uint32Array(await ctx.readBuffer(results))] });
    }
    ctx.destroy();
    return out;
  });
  for (const { cpu, gpu } of r) {
    expect(new Set(cpu).size).toBeGreaterThan(5); // the penalty really moved the choice around
    expect(gpu).toEqual(cpu);
  }
});

test('bad parameters are rejected with SamplingParamsError', async ({ page }) => {
  const messages = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    const { GpuSampler }: SamplerModule = await imp('/src/engine/gpu/sampler.ts');
    const ctx = await GpuContext.create();
    const sampler = new GpuSampler(ctx, 100);
    const base = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, maxTokens: 1 };
    const errors: string[] = [];
    for (const bad of [{ temperature: -1 }, { topP: 0 }, { repetitionWindow: 5000 }, { topK: 1.5 }]) {
      try {
        sampler.setParams({ ...base, ...bad }, 0);
        errors.push('accepted');
      } catch (e) {
        errors.push((e as Error).name);
      }
    }
    let badVocab = 'accepted';
    try {
      new GpuSampler(ctx, 0);
    } catch (e) {
      badVocab = (e as Error).name;
    }
    const badWorkgroup = [3, 0, 512].map((wg) => {
      try {
        new GpuSampler(ctx, 100, wg).destroy();
        return 'accepted';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    });
    ctx.destroy();
    return { errors, badVocab, badWorkgroup };
  });
  expect(messages.errors).toEqual(['SamplingParamsError', 'SamplingParamsError', 'SamplingParamsError', 'SamplingParamsError']);
  expect(messages.badVocab).toBe('RangeError');
  for (const m of messages.badWorkgroup) expect(m).toMatch(/^RangeError: GpuSampler: workgroupSize must be a power of two/);
});
