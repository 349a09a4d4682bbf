// In-page checks of Session.generate's chunked prompt prefill against a token-by-token oracle (GpuModel.step per
// token, greedy argmax on the host), and of cancelling between chunks. Loaded by prefill.spec.ts.
import { GpuContext } from '../../src/engine/gpu/context';
import { GpuModel } from '../../src/engine/gpu/model';
import { Session } from '../../src/engine/session';
import { compareLogits } from '../../src/engine/reference/compare';
import { loadTiny } from './parity';

export interface SessionPrefillCheck {
  promptIds: number[];
  oracleIds: number[];
  /** Per chunk size: the generated ids, the 'prompt' events (id, position) and the logits after the prompt. */
  runs: { chunkSize: number; generated: number[]; promptEvents: [number, number][]; firstLogitsRelative: number }[];
  cancel: { stopReason: string; position: number; chunkSize: number; promptEventsSeen: number };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

export async function sessionPrefill(name: string, prompt: string, maxTokens: number, chunkSizes: number[], cancelChunk: number): Promise<SessionPrefillCheck> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, repetitionWindow: 0, seed: 1, maxTokens, stopAtEot: false };

  // Oracle: one encodeStep per token, greedy on the host.
  const oracle = await GpuModel.create(ctx, file);
  const probe = await Session.create(ctx, file);
  const promptIds = probe.tokenizer.encode(prompt);
  probe.destroy();
  let logits: Float32Array = new Float32Array(0);
  for (const id of promptIds) logits = await oracle.step(id);
  const afterPrompt = logits;
  const oracleIds: number[] = [];
  for (let i = 0; i < maxTokens; i++) {
    const id = argmax(logits);
    oracleIds.push(id);
    if (i + 1 < maxTokens) logits = await oracle.step(id);
  }
  oracle.destroy();

  const runs: SessionPrefillCheck['runs'] = [];
  for (const chunkSize of chunkSizes) {
    const session = await Session.create(ctx, file, { maxChunkTokens: chunkSize });
    const promptEvents: [number, number][] = [];
    // maxTokens 0 first: the logits the sampler would read after the prompt, compared with the oracle's.
    await session.generate(prompt, { ...greedy, maxTokens: 0 });
    const first = new Float32Array(await ctx.readBuffer(session.model.logits));
    session.reset();
    const result = await session.generate(prompt, greedy, (e) => {
      if (e.phase === 'prompt') promptEvents.push([e.id, e.position]);
    });
    runs.push({ chunkSize, generated: result.tokens, promptEvents, firstLogitsRelative: compareLogits(first, afterPrompt).relative });
    session.destroy();
  }

  // Cancel: aborted at the first prompt event, the prefill stops after the chunk in flight.
  const session = await Session.create(ctx, file, { maxChunkTokens: cancelChunk });
  const abort = new AbortController();
  let promptEventsSeen = 0;
  const cancelled = await session.generate(prompt, greedy, (e) => {
    if (e.phase === 'prompt') promptEventsSeen++;
    abort.abort();
  }, { signal: abort.signal });
  const cancel = { stopReason: cancelled.stopReason, position: session.position, chunkSize: cancelChunk, promptEventsSeen };
  session.destroy();
  ctx.destroy();
  return { promptIds, oracleIds, runs, cancel };
}
