// In-page check of Session's one-step-ahead decode: when a generation stops on a sample that the next step has
// already read (cancel, end-of-text), the stream must be as if that step had never drawn: the sampled ids, the
// model's position and the penalty's GPU history equal those of a generation that stopped there by maxTokens
// (which never reads ahead) and then read its pending token. Loaded by decode-ahead.spec.ts.
import { GpuContext } from '../../src/engine/gpu/context';
import { Session } from '../../src/engine/session';
import { loadTiny } from './parity';

export interface DecodeAheadCheck {
  cancelled: { tokens: number[]; stopReason: string; position: number; history: number[]; next: number[] };
  stopped: { tokens: number[]; stopReason: string; position: number; history: number[]; next: number[] };
}

export async function decodeAhead(name: string, cancelAt: number): Promise<DecodeAheadCheck> {
  const file = await loadTiny(name);
  const ctx = await GpuContext.create();
  // Sampled and penalised over a long window: the draws depend on the history, so an undone draw must be undone.
  const params = { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.5, repetitionWindow: 1024, seed: 11, maxTokens: 64, stopAtEot: false };
  const run = async (maxTokens: number, cancelAfter: number | null) => {
    const session = await Session.create(ctx, file);
    const abort = new AbortController();
    let seen = 0;
    const result = await session.generate('Once upon a time', { ...params, maxTokens }, (e) => {
      if (e.phase === 'generated' && ++seen === cancelAfter) abort.abort();
    }, { signal: abort.signal });
    await session.flushPending();
    const position = session.position;
    const history = await session.sampler.historyIds();
    const next = await session.generate(' The dog', { ...params, seed: 12, maxTokens: 12 });
    session.destroy();
    return { tokens: result.tokens, stopReason: result.stopReason, position, history, next: next.tokens };
  };
  const cancelled = await run(64, cancelAt);
  const stopped = await run(cancelled.tokens.length, null);
  ctx.destroy();
  return { cancelled, stopped };
}
