// Session decodes one step ahead (the next step is on the GPU while the host reads a sample back); a generation that
// stops on a read-ahead sample must leave the stream as if it had not read ahead.
import { test, expect } from '@playwright/test';
import { inHarness } from './in-harness';
import type { DecodeAheadCheck } from './decode-ahead';

for (const name of ['tiny-ttt', 'tiny-kv']) {
  test(`${name}: a cancel on a read-ahead sample leaves ids, position and penalty history as a stop by maxTokens`, async ({ page }) => {
    const r = await inHarness<DecodeAheadCheck>(page, 'decode-ahead.ts', 'decodeAhead', name, 5);
    console.log(`${name}: ${JSON.stringify({ cancelled: { ...r.cancelled, history: r.cancelled.history.length }, stopped: { ...r.stopped, history: r.stopped.history.length } })}`);
    expect(r.cancelled.stopReason).toBe('cancelled');
    expect(r.stopped.stopReason).toBe('max-tokens');
    expect(r.cancelled.tokens.length).toBeGreaterThanOrEqual(5);
    expect(r.stopped.tokens).toEqual(r.cancelled.tokens);
    expect(r.cancelled.position).toBe(r.stopped.position);
    expect(r.cancelled.history).toEqual(r.stopped.history);
    expect(r.cancelled.next).toEqual(r.stopped.next);
  });
}
