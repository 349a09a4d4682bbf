// The engine through the real Web Worker and comlink, in Chromium's WebGPU: load by URL with progress, greedy
// decoding equal token for token to the CPU ReferenceModel, cancel, reset, cache reload and memory accounting.
import { expect, test } from '@playwright/test';
import { DRIFT_RELATIVE_TOLERANCE } from '../../src/engine/reference/compare';

type ClientModule = typeof import('../../src/worker/client');
type EngineModule = typeof import('../../src/worker/engine');
type ContextModule = typeof import('../../src/engine/gpu/context');
type FormatModule = typeof import('../../src/engine/format');
type ReferenceModule = typeof import('../../src/engine/reference/model');
type TokenizerModule = typeof import('../../src/engine/tokenizer/tokenizer');
type SamplingModule = typeof import('../../src/engine/sampling');
type LoadProgress = import('../../src/worker/api').LoadProgress;
type TokenEvent = import('../../src/worker/api').TokenEvent;

const PROMPT = 'Once upon a time, a little fox';
const GREEDY_TOKENS = 24;

test.beforeEach(async ({ page }) => {
  await page.goto('/e2e/gpu/harness.html');
});

for (const modelName of ['tiny-ttt', 'tiny-kv', 'tiny-kv-conv']) {
  test(`${modelName}: load by URL with progress, greedy decode equals the CPU reference, reset, memory report`, async ({ page }) => {
    const r = await page.evaluate(
      async ({ modelName, prompt, greedyTokens }) => {
        const imp = (p: string) => import(/* @vite-ignore */ p);
        const { createEngineClient, proxy }: ClientModule = await imp('/src/worker/client.ts');
        const { parseBttt }: FormatModule = await imp('/src/engine/format/index.ts');
        const { ReferenceModel }: ReferenceModule = await imp('/src/engine/reference/model.ts');
        const { Tokenizer }: TokenizerModule = await imp('/src/engine/tokenizer/tokenizer.ts');
        const { sample, CounterRng }: SamplingModule = await imp('/src/engine/sampling/index.ts');
        const url = `/models/${modelName}.bttt`;
        const params = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 3, maxTokens: greedyTokens, stopAtEot: false };

        // CPU oracle: the same prompt through the ReferenceModel, greedy.
        const fileBytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const file = parseBttt(fileBytes);
        const tokenizer = Tokenizer.fromSpec(file.tokenizer);
        const reference = new ReferenceModel(file);
        const promptIds = tokenizer.encode(prompt);
        let logits: Float32Array = new Float32Array(0);
        for (const id of promptIds) logits = reference.step(id);
        const stream = [...promptIds];
        const cpuTokens: number[] = [];
        const rng = new CounterRng(params.seed);
        while (cpuTokens.length < greedyTokens) {
          const id = sample(logits, params, stream, rng);
          cpuTokens.push(id);
          stream.push(id);
          if (cpuTokens.length < greedyTokens) logits = reference.step(id);
        }

        const client = createEngineClient();
        try {
          const progress: { phase: string; bytes: number; totalBytes: number; rate?: number }[] = [];
          const info = await client.api.load({ kind: 'url', url }, proxy((p: LoadProgress) => void progress.push(p)));
          const events: { id: number; position: number; phase: string; at: number }[] = [];
          const t0 = performance.now();
          const result = await client.api.generate(prompt, params, proxy((e: TokenEvent) => void events.push({ id: e.id, position: e.position, phase: e.phase, at: performance.now() })));
          const wallMs = performance.now() - t0;
          const afterGenerate = await client.api.memoryReport();
          const stats = await client.api.stats();
          await client.api.reset();
          const afterReset = await client.api.memoryReport();
          const statsAfterReset = await client.api.stats();
          const again = await client.api.generate(prompt, params);
          // The same file from IndexedDB, put there by the URL load.
          const cachedInfo = await client.api.load({ kind: 'cache', cacheKey: url });
          const generated = events.filter((e) => e.phase === 'generated');
          const gaps = generated.slice(1).map((e, i) => e.at - generated[i].at);
          return {
            cpuTokens, promptIds, fileSize: fileBytes.length, info, progress, events, result, wallMs, afterGenerate, stats,
            afterReset, statsAfterReset, again, cachedOrigin: cachedInfo.origin,
            pageMsPerToken: gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length),
          };
        } finally {
          client.dispose();
        }
      },
      { modelName, prompt: PROMPT, greedyTokens: GREEDY_TOKENS },
    );

    console.log(
      `${modelName}: prefill ${r.result.prefillTokensPerSecond.toFixed(1)} tok/s (after reset ${r.again.prefillTokensPerSecond.toFixed(1)}), decode ${r.result.decodeTokensPerSecond.toFixed(1)} tok/s ` +
        `(${(1000 / r.result.decodeTokensPerSecond).toFixed(1)} ms/token in the worker, ${r.pageMsPerToken.toFixed(1)} ms between events on the page), ` +
        `memory ${JSON.stringify(r.afterGenerate.bytes)}`,
    );
    // Progress: download events, monotone, ending at the file size; then the later phases.
    const downloads = r.progress.filter((p) => p.phase === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    for (let i = 1; i < downloads.length; i++) expect(downloads[i].bytes).toBeGreaterThanOrEqual(downloads[i - 1].bytes);
    expect(downloads.at(-1)!.bytes).toBe(r.fileSize);
    expect(downloads.at(-1)!.totalBytes).toBe(r.fileSize);
    expect(r.progress.map((p) => p.phase)).toContain('compile');
    expect(r.info.origin).toBe('network');
    expect(r.info.fileBytes).toBe(r.fileSize);
    expect(r.cachedOrigin).toBe('cache');

    // The required check: GPU greedy = CPU greedy, token for token.
    expect(r.result.tokens).toEqual(r.cpuTokens);
    expect(r.result.stopReason).toBe('max-tokens');
    expect(r.result.promptTokens).toBe(r.promptIds.length);
    // Events: the prompt tokens, then the generated ones, positions consecutive from 0.
    expect(r.events.map((e) => e.id)).toEqual([...r.promptIds, ...r.cpuTokens]);
    expect(r.events.map((e) => e.position)).toEqual(r.events.map((_, i) => i));

    // The last generated token is not read yet (the next turn reads it first).
    const position = r.promptIds.length + GREEDY_TOKENS - 1;
    expect(r.stats.position).toBe(position);
    expect(r.afterGenerate.position).toBe(position);
    const tags = Object.values(r.afterGenerate.bytes) as number[];
    expect(tags.reduce((a, b) => a + b, 0)).toBe(r.afterGenerate.total);
    expect(r.afterGenerate.bytes.weights).toBeGreaterThan(0);
    if (modelName === 'tiny-ttt') expect(r.afterGenerate.bytes['ttt-state']).toBeGreaterThan(0);
    else expect(r.afterGenerate.bytes['kv-cache']).toBeGreaterThan(0);

    expect(r.statsAfterReset.position).toBe(0);
    expect(r.afterReset.position).toBe(0);
    expect(r.again.tokens).toEqual(r.cpuTokens);
  });
}

test('cancel stops within one token; the conversation continues; a bad file is a clear error', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { createEngineClient, proxy }: ClientModule = await imp('/src/worker/client.ts');
    const client = createEngineClient();
    try {
      await client.api.load({ kind: 'url', url: '/models/tiny-ttt.bttt' });
      const params = { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.1, repetitionWindow: 64, seed: 9, maxTokens: 200, stopAtEot: false };
      let generatedSeen = 0;
      let seenAtCancel = -1;
      let cancelReply: Promise<number> = Promise.resolve(-1);
      const result = await client.api.generate('The cat', params, proxy((e: TokenEvent) => {
        if (e.phase !== 'generated') return;
        generatedSeen++;
        if (generatedSeen === 3) {
          seenAtCancel = generatedSeen;
          cancelReply = client.api.cancel();
        }
      }), { drift: true });
      const sentAtCancel = await cancelReply;
      const positionAfterCancel = (await client.api.stats()).position;
      // The next turn reads on from where the cancelled one stopped.
      const next = await client.api.generate(' and the dog', { ...params, maxTokens: 4 }, undefined);
      const positionAfterNext = (await client.api.stats()).position;
      // Reading a text after a reply: the reply's last sampled token is read first, then the text.
      const fed = await client.api.feed(' The end.', { loss: false });
      const positionAfterFeed = (await client.api.stats()).position;
      let badFile = '';
      try {
        await client.api.load({ kind: 'bytes', bytes: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer, name: 'junk.bttt' });
      } catch (e) {
        badFile = `${(e as Error).name}: ${(e as Error).message}`;
      }
      // A failed load leaves the loaded model in place: the session is replaced only after a successful parse.
      const stillLoaded = (await client.api.stats()).position;
      return { tokens: result.tokens.length, stopReason: result.stopReason, seenAtCancel, sentAtCancel, positionAfterCancel, next, positionAfterNext, fedRead: fed.read, positionAfterFeed, badFile, stillLoaded };
    } finally {
      client.dispose();
    }
  });
  console.log(`cancel: ${JSON.stringify({ ...r, next: { tokens: r.next.tokens.length, stopReason: r.next.stopReason } })}`);
  expect(r.stopReason).toBe('cancelled');
  // The page saw 3 tokens when it asked; the worker may have one token in flight and one being read back.
  expect(r.tokens).toBeGreaterThanOrEqual(r.seenAtCancel);
  expect(r.tokens).toBeLessThanOrEqual(r.seenAtCancel + 2);
  // cancel() answers with the tokens the worker had sent when the stop reached it: at most one more follows.
  expect(r.sentAtCancel).toBeGreaterThanOrEqual(r.seenAtCancel);
  expect(r.tokens).toBeLessThanOrEqual(r.sentAtCancel + 1);
  expect(r.next.tokens.length).toBe(4);
  const promptLength = 2; // 'The cat' is at least 2 tokens; the exact count does not matter, the continuity does
  expect(r.positionAfterNext).toBeGreaterThan(r.positionAfterCancel + promptLength);
  expect(r.badFile).toMatch(/^BtttError: /);
  expect(r.fedRead).toBeGreaterThan(0);
  expect(r.positionAfterFeed).toBe(r.positionAfterNext + 1 + r.fedRead);
  expect(r.stillLoaded).toBe(r.positionAfterFeed);
});

test('GPU device loss: an error event, calls fail with a typed error, and load() works again on a fresh device', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { Engine }: EngineModule = await imp('/src/worker/engine.ts');
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    // The Engine class as the worker builds it, on this page, so that the test can reach its device.
    const contexts: Awaited<ReturnType<typeof GpuContext.create>>[] = [];
    const engine = new Engine({
      createContext: async () => {
        const ctx = await GpuContext.create();
        contexts.push(ctx);
        return ctx;
      },
      openCache: async () => null,
      fetch: (input, init) => fetch(input, init),
    });
    const errors: { kind: string; message: string }[] = [];
    engine.onError((e) => errors.push(e));
    const bytes = await (await fetch('/models/tiny-ttt.bttt')).arrayBuffer();
    const params = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, maxTokens: 6, stopAtEot: false };
    await engine.load({ kind: 'bytes', bytes, name: 'tiny-ttt.bttt' });
    const before = await engine.generate('Hello', params);
    contexts[0].device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    let afterLoss = '';
    try {
      await engine.generate('Hello', params);
    } catch (e) {
      afterLoss = `${(e as Error).name}: ${(e as Error).message}`;
    }
    const info = await engine.load({ kind: 'bytes', bytes, name: 'tiny-ttt.bttt' });
    const after = await engine.generate('Hello', params);
    return { errors, afterLoss, contexts: contexts.length, origin: info.origin, same: JSON.stringify(before.tokens) === JSON.stringify(after.tokens) };
  });
  expect(r.errors.length).toBe(1);
  expect(r.errors[0].kind).toBe('device-lost');
  expect(r.errors[0].message).toMatch(/GPU device was lost/);
  expect(r.afterLoss).toMatch(/^EngineError: no model is loaded/);
  expect(r.contexts).toBe(2);
  expect(r.origin).toBe('file');
  expect(r.same).toBe(true);
});

type SessionModule = typeof import('../../src/engine/session');
type RandomModule = typeof import('../../src/engine/model/random');
type TestModelsModule = typeof import('../../src/engine/reference/testModels');

test('Session: context-full mid-generation and for a too-long prompt (KV), drift read back with each token (TTT)', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    const { Session }: SessionModule = await imp('/src/engine/session.ts');
    const { randomModel }: RandomModule = await imp('/src/engine/model/random.ts');
    const { smallConfig }: TestModelsModule = await imp('/src/engine/reference/testModels.ts');
    const { ReferenceModel }: ReferenceModule = await imp('/src/engine/reference/model.ts');
    const byteTokenizer = { type: 'bpe' as const, merges: [] as [number, number][], specials: { '<|endoftext|>': 256 } };
    const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, maxTokens: 20, stopAtEot: false };
    const ctx = await GpuContext.create();

    // KV baseline with room for 12 positions: an 8-byte prompt leaves 4 more reads, so 5 sampled tokens.
    const kv = await Session.create(ctx, randomModel(smallConfig(['attn'], {}, { vocabSize: 257, maxContext: 12 }), byteTokenizer, 5));
    const full = await kv.generate('abcdefgh', greedy);
    const errorName = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 'no error';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    };
    const continueWhenFull = await errorName(() => kv.generate('x', greedy));
    kv.reset();
    const tooLong = await errorName(() => kv.generate('0123456789abc', greedy));
    const positionAfterRefusal = kv.position;
    kv.destroy();

    // TTT: the drift that rides in the token readback equals the CPU reference's after the same stream.
    const tttFile = randomModel(smallConfig(['ttt', 'ttt'], {}, { vocabSize: 257 }), byteTokenizer, 6);
    const ttt = await Session.create(ctx, tttFile);
    const drifts: { norm: number; cos: number; lossBefore: number; lossAfter: number; w0Norm: number }[][] = [];
    const result = await ttt.generate('hello', { ...greedy, maxTokens: 5 }, (e) => {
      if (e.phase === 'generated') drifts.push(e.drift!.flatMap((l) => l.heads));
    }, { drift: true });
    const reference = new ReferenceModel(tttFile);
    const worst = { norm: 0, cos: 0, lossBefore: 0, lossAfter: 0, w0Norm: 0 };
    const stream = [...'hello'].map((ch) => ch.charCodeAt(0));
    for (const id of stream) reference.step(id);
    result.tokens.forEach((id, s) => {
      const expected = reference.drift().flatMap((l) => l.heads);
      expected.forEach((h, i) => {
        for (const k of ['norm', 'cos', 'lossBefore', 'lossAfter', 'w0Norm'] as const) {
          worst[k] = Math.max(worst[k], Math.abs(drifts[s][i][k] - h[k]) / Math.max(1e-3, Math.abs(h[k])));
        }
      });
      reference.step(id);
    });
    ttt.destroy();
    ctx.destroy();
    return { full: { tokens: full.tokens.length, stopReason: full.stopReason }, continueWhenFull, tooLong, positionAfterRefusal, driftTokens: drifts.length, worst };
  });
  console.log(`session: ${JSON.stringify(r)}`);
  expect(r.full).toEqual({ tokens: 5, stopReason: 'context-full' });
  expect(r.continueWhenFull).toMatch(/^ContextFullError: the prompt needs 2 positions but only 0/);
  expect(r.tooLong).toMatch(/^ContextFullError: the prompt needs 13 positions but only 12/);
  expect(r.positionAfterRefusal).toBe(0);
  expect(r.driftTokens).toBe(5);
  for (const k of ['norm', 'cos', 'lossBefore', 'lossAfter', 'w0Norm'] as const) expect(r.worst[k], k).toBeLessThanOrEqual(DRIFT_RELATIVE_TOLERANCE);
});

test('saveState/restoreState through the worker: the same continuation after a restore; foreign or damaged states are refused', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { createEngineClient }: ClientModule = await imp('/src/worker/client.ts');
    const client = createEngineClient();
    const errorOf = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 'no error';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    };
    try {
      // Sampling with a penalty, so that the sampler's history is part of what must come back.
      const params = { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.3, repetitionWindow: 64, seed: 5, maxTokens: 6, stopAtEot: false };
      // KV baseline: the cache grows past its first block after the save, and the restore shrinks it back.
      await client.api.load({ kind: 'url', url: '/models/tiny-kv.bttt' });
      await client.api.generate('Once', params);
      const kvState = await client.api.saveState();
      const kvFirst = await client.api.generate(' upon a time there was', { ...params, maxTokens: 12 });
      await client.api.restoreState(kvState.slice(0));
      const kvSecond = await client.api.generate(' upon a time there was', { ...params, maxTokens: 12 });
      // KV with the attention conv: its q/k/v histories are part of the state (a restore without them continues
      // from the wrong recent inputs).
      await client.api.load({ kind: 'url', url: '/models/tiny-kv-conv.bttt' });
      await client.api.generate('Once', params);
      const convState = await client.api.saveState();
      const convFirst = await client.api.generate(' upon a time there was', { ...params, maxTokens: 12 });
      await client.api.restoreState(convState.slice(0));
      const convSecond = await client.api.generate(' upon a time there was', { ...params, maxTokens: 12 });
      await client.api.load({ kind: 'url', url: '/models/tiny-ttt.bttt' });
      await client.api.generate('Once upon a time', params);
      const saved = await client.api.saveState();
      const positionSaved = (await client.api.stats()).position;
      const first = await client.api.generate(' there was', params);
      await client.api.restoreState(saved.slice(0));
      const positionRestored = (await client.api.stats()).position;
      const second = await client.api.generate(' there was', params);
      const foreign = await errorOf(() => client.api.restoreState(kvState));
      const damaged = await errorOf(() => client.api.restoreState(saved.slice(0, saved.byteLength - 8)));
      return { convFirst: convFirst.tokens, convSecond: convSecond.tokens, convBytes: convState.byteLength, kvBytes: kvState.byteLength, kvFirst: kvFirst.tokens, kvSecond: kvSecond.tokens, first: first.tokens, second: second.tokens, positionSaved, positionRestored, bytes: saved.byteLength, foreign, damaged };
    } finally {
      client.dispose();
    }
  });
  console.log(`state: ${r.bytes} bytes, ${JSON.stringify({ foreign: r.foreign, damaged: r.damaged })}`);
  expect(r.positionRestored).toBe(r.positionSaved);
  expect(r.second).toEqual(r.first);
  expect(r.kvSecond).toEqual(r.kvFirst);
  expect(r.convSecond).toEqual(r.convFirst);
  expect(r.convBytes).toBeGreaterThan(r.kvBytes); // the conv histories travel with the state
  expect(r.foreign).toMatch(/^SessionStateError: this state was saved with another model/);
  expect(r.damaged).toMatch(/^SessionStateError: saved state has the wrong length/);
});

type TinyModule = typeof import('../../src/engine/format/tiny');

test('load is a transaction: a model the GPU refuses, or one that does not fit beside the loaded one, leaves the loaded model answering with its memory', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { Engine }: EngineModule = await imp('/src/worker/engine.ts');
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    const { wideHeadModelBytes }: TinyModule = await imp('/src/engine/format/tiny.ts');
    const { parseBttt }: FormatModule = await imp('/src/engine/format/index.ts');
    const { ReferenceModel }: ReferenceModule = await imp('/src/engine/reference/model.ts');
    // A device that reports out-of-memory for the next `oomBudget` out-of-memory scopes: a GPU that can hold one
    // tiny model but not two (WebGPU reports OOM through error scopes; a real one cannot be provoked safely here).
    let simulatedOoms = 0;
    let ctx: Awaited<ReturnType<typeof GpuContext.create>> | null = null;
    const engine = new Engine({
      createContext: async () => {
        ctx = await GpuContext.create();
        const device = ctx.device;
        const filters: GPUErrorFilter[] = [];
        const push = device.pushErrorScope.bind(device);
        const pop = device.popErrorScope.bind(device);
        device.pushErrorScope = (filter) => { filters.push(filter); push(filter); };
        device.popErrorScope = async () => {
          const filter = filters.pop();
          const error = await pop();
          if (filter === 'out-of-memory' && simulatedOoms > 0) {
            simulatedOoms--;
            return new GPUOutOfMemoryError('simulated: not enough memory for another model');
          }
          return error;
        };
        return ctx;
      },
      openCache: async () => null,
      fetch: (input, init) => fetch(input, init),
    });
    const errorOf = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return { code: 'none', message: '' };
      } catch (e) {
        return { code: (e as { code?: string }).code ?? (e as Error).name, message: (e as Error).message };
      }
    };
    const params = { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.2, repetitionWindow: 32, seed: 7, maxTokens: 6, stopAtEot: false };
    const ttt = await (await fetch('/models/tiny-ttt.bttt')).arrayBuffer();
    const kv = await (await fetch('/models/tiny-kv.bttt')).arrayBuffer();
    const wide = wideHeadModelBytes();
    // The refused file is well-formed: the CPU reference reads it and gives finite logits.
    const cpuLogits = new ReferenceModel(parseBttt(wide)).step(65);

    await engine.load({ kind: 'bytes', bytes: ttt, name: 'tiny-ttt.bttt' });
    await engine.generate('Once upon a time', params);
    const saved = await engine.saveState();
    const positionBefore = engine.stats().position;
    const buffersBefore = ctx!.memoryReport();

    const refused = await errorOf(() => engine.load({ kind: 'bytes', bytes: wide.slice().buffer, name: 'wide-head.bttt' }));
    const afterRefusal = { position: engine.stats().position, buffers: ctx!.memoryReport() };
    // The next message is answered, and its continuation is the one the saved memory gives.
    const answered = await engine.generate(' there was a fox', params);
    await engine.restoreState(saved.slice(0));
    const fromSaved = await engine.generate(' there was a fox', params);

    await engine.restoreState(saved.slice(0));
    simulatedOoms = 1;
    const tight = await errorOf(() => engine.load({ kind: 'bytes', bytes: kv, name: 'tiny-kv.bttt' }));
    const afterTight = { position: engine.stats().position, buffers: ctx!.memoryReport() };
    const answeredAfterTight = await engine.generate(' there was a fox', params);

    // The person agreed: drop the loaded model first. Still out of memory alone: nothing is loaded, and it says so.
    simulatedOoms = 1;
    const alone = await errorOf(() => engine.load({ kind: 'bytes', bytes: kv, name: 'tiny-kv.bttt' }, undefined, { replace: true }));
    const noModel = await errorOf(() => engine.generate('x', params));
    const buffersWhenEmpty = ctx!.memoryReport().buffers;
    const replaced = await engine.load({ kind: 'bytes', bytes: kv, name: 'tiny-kv.bttt' }, undefined, { replace: true });
    const kvReply = await engine.generate('Once', params);
    return {
      cpuFinite: cpuLogits.every(Number.isFinite), refused, positionBefore, buffersBefore, afterRefusal,
      answered: answered.tokens, fromSaved: fromSaved.tokens, tight, afterTight, answeredAfterTight: answeredAfterTight.tokens,
      alone, noModel, buffersWhenEmpty, replacedName: replaced.name, kvTokens: kvReply.tokens.length,
    };
  });
  console.log(`transaction: ${JSON.stringify({ refused: r.refused, tight: r.tight, alone: r.alone })}`);
  expect(r.cpuFinite).toBe(true);
  expect(r.refused.code).toBe('unsupported');
  expect(r.refused.message).toBe('this model needs head size ≤ 256, but its heads are 512 wide (d_model 512 / 1 head); train or export it with at least 2 heads.');
  // Nothing of the refused model stays on the GPU, and the loaded one is untouched.
  expect(r.afterRefusal.position).toBe(r.positionBefore);
  expect(r.afterRefusal.buffers).toEqual(r.buffersBefore);
  expect(r.answered).toHaveLength(6);
  expect(r.answered).toEqual(r.fromSaved);

  expect(r.tight.code).toBe('memory-tight');
  expect(r.tight.message).toMatch(/not enough GPU memory to hold "tiny-kv.bttt" .* next to "tiny-ttt.bttt"; the loaded model is still here/);
  expect(r.afterTight.position).toBe(r.positionBefore);
  expect(r.afterTight.buffers).toEqual(r.buffersBefore);
  expect(r.answeredAfterTight).toEqual(r.fromSaved);

  expect(r.alone.code).toBe('out-of-memory');
  expect(r.alone.message).toMatch(/the GPU ran out of memory while loading "tiny-kv.bttt"/);
  expect(r.noModel.code).toBe('no-model');
  expect(r.buffersWhenEmpty).toBe(0);
  expect(r.replacedName).toBe('tiny-kv.bttt');
  expect(r.kvTokens).toBe(6);
});

test('the text reader goes with its session: after a model switch no reader buffer is left', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { Engine }: EngineModule = await imp('/src/worker/engine.ts');
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    const contexts: Awaited<ReturnType<typeof GpuContext.create>>[] = [];
    const newEngine = () => new Engine({
      createContext: async () => {
        const ctx = await GpuContext.create();
        contexts.push(ctx);
        return ctx;
      },
      openCache: async () => null,
      fetch: (input, init) => fetch(input, init),
    });
    const ttt = await (await fetch('/models/tiny-ttt.bttt')).arrayBuffer();
    const kv = await (await fetch('/models/tiny-kv.bttt')).arrayBuffer();
    const engine = newEngine();
    await engine.load({ kind: 'bytes', bytes: ttt, name: 'tiny-ttt.bttt' });
    await engine.feed('Once upon a time there was a fox.', { loss: true });
    const readerWhileLoaded = contexts[0].liveBuffers().filter((b) => b.label.includes('feed.')).map((b) => b.label);
    await engine.load({ kind: 'bytes', bytes: kv, name: 'tiny-kv.bttt' });
    const readerAfterSwitch = contexts[0].liveBuffers().filter((b) => b.label.includes('feed.')).map((b) => b.label);
    const afterSwitch = engine.memoryReport();
    // The same model loaded in a fresh engine: the switched engine holds exactly what it holds.
    const fresh = newEngine();
    await fresh.load({ kind: 'bytes', bytes: kv, name: 'tiny-kv.bttt' });
    const freshReport = fresh.memoryReport();
    // Reading works on the new session (a new reader, bound to the new buffers).
    const fed = await engine.feed('Once upon a time there was a fox.', { loss: true });
    return { readerWhileLoaded, readerAfterSwitch, afterSwitch, freshReport, fedRead: fed.read, meanLoss: fed.meanLoss };
  });
  expect(r.readerWhileLoaded.sort()).toEqual(['scratch:feed.loss', 'scratch:feed.readback']);
  expect(r.readerAfterSwitch).toEqual([]);
  expect(r.afterSwitch).toEqual(r.freshReport);
  expect(r.fedRead).toBeGreaterThan(0);
  expect(Number.isFinite(r.meanLoss)).toBe(true);
});

test('device loss: the memory snapshot of the last complete reply comes back with the reloaded model', async ({ page }) => {
  const r = await page.evaluate(async () => {
    const imp = (p: string) => import(/* @vite-ignore */ p);
    const { Engine }: EngineModule = await imp('/src/worker/engine.ts');
    const { GpuContext }: ContextModule = await imp('/src/engine/gpu/context.ts');
    const engine = new Engine({ createContext: () => GpuContext.create(), openCache: async () => null, fetch: (input, init) => fetch(input, init) });
    const params = { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.2, repetitionWindow: 32, seed: 11, maxTokens: 8, stopAtEot: false };
    const bytes = await (await fetch('/models/tiny-ttt.bttt')).arrayBuffer();
    const events: { kind: string; message: string; restorablePosition?: number | null }[] = [];
    engine.onError((e) => events.push(e));
    await engine.load({ kind: 'bytes', bytes, name: 'tiny-ttt' });
    await engine.generate('Once upon a time', params);
    // What the conversation answers next with its memory intact; restoreState then rewinds to before it (and the
    // worker's snapshot follows the restore).
    const saved = await engine.saveState();
    const expected = await engine.generate(' the little fox', params);
    await engine.restoreState(saved);
    const positionBeforeLoss = engine.stats().position;
    engine.debugLoseDevice();
    for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const info = await engine.load({ kind: 'bytes', bytes, name: 'tiny-ttt' }, undefined, { restoreAfterLoss: true });
    const next = await engine.generate(' the little fox', params);
    return { events, positionBeforeLoss, restoredPosition: info.restoredPosition, next: next.tokens, expected: expected.tokens };
  });
  expect(r.events).toHaveLength(1);
  expect(r.events[0]).toMatchObject({ kind: 'device-lost', restorablePosition: r.positionBeforeLoss });
  expect(r.events[0].message).toMatch(/GPU device was lost \(destroyed/);
  expect(r.positionBeforeLoss).toBeGreaterThan(0);
  expect(r.restoredPosition).toBe(r.positionBeforeLoss);
  expect(r.next).toHaveLength(8);
  expect(r.next).toEqual(r.expected);
});
