// Not a test (skipped unless APP_SPEED=1): the speeds a person sees, in one sitting of one page (issue 19): the
// chat's prompt prefill and decode of the TTT model, then See inside reading the built-in text with that model as
// the views read (drift stats per token, a memory report every 16 tokens), alternated twice. Speed never goes into
// an assertion (the machine is shared); this prints the ratios for docs/ARCHITECTURE.md and docs/BENCHMARKS.md.
//   APP_SPEED=1 [APP_SPEED_MODEL=ttt-hybrid-d256] PW_ONLY=app npx playwright test --project=app e2e/app/app-speed.spec.ts
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { REPLY_TIMEOUT, sendAndWait, setNumber, waitReady } from './helpers';

const MODEL = process.env.APP_SPEED_MODEL ?? 'ttt-hybrid-d256';
/** The bench's corpus: a long prompt of real stories (about 300 tokens). */
const CORPUS_PATH = process.env.BENCH_CORPUS ?? '/work/shared/data/tinystories/valid.txt';

test('speeds in the app: chat prefill and decode, See inside reading, one page', async ({ page }) => {
  test.skip(!process.env.APP_SPEED, 'a measurement, not a test: set APP_SPEED=1');
  test.setTimeout(1_200_000);
  const prompt = readFileSync(CORPUS_PATH, 'utf8').slice(0, 1200).replace(/<\|endoftext\|>/g, ' ').trim();
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`/?model=${MODEL}`);
  await waitReady(page);
  await setNumber(page, 'setting-maxTokens', 48);
  const rows: string[] = [];
  for (let round = 1; round <= 2; round++) {
    await page.getByTestId('tab-chat').click();
    if (round > 1) {
      // The same prompt from a fresh memory each round; Forget also clears the chat, so wait for that before
      // sendAndWait counts the replies (it had counted the old one and then waited for a second that never came).
      await page.getByTestId('forget').click();
      await expect(page.getByTestId('assistant-message')).toHaveCount(0);
    }
    const reply = await sendAndWait(page, prompt);
    const stats = page.getByTestId('reply-stats').last();
    const prefill = Number(await stats.getAttribute('data-prefill-tps'));
    const decode = Number(await stats.getAttribute('data-decode-tps'));
    const promptTokens = Number(await stats.getAttribute('data-prompt-tokens'));

    await page.getByTestId('tab-inside').click();
    await page.getByTestId('views-model-ttt').selectOption(MODEL);
    await page.getByTestId('views-use-ttt').setChecked(true);
    await page.getByTestId('views-use-kv').setChecked(false);
    await page.getByTestId('views-twice').setChecked(false);
    await page.getByTestId('views-memory-off').setChecked(false);
    await page.getByTestId('views-read').click();
    await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', /^(done|error)$/, { timeout: REPLY_TIMEOUT * 4 });
    const result = (await page.getByTestId('views-result').first().textContent()) ?? '';
    const reading = Number(/at ([\d.]+) tokens\/s/.exec(result)?.[1] ?? NaN);
    rows.push(`round ${round}: ${MODEL} decode ${decode.toFixed(2)} tok/s (${reply.tokens} tokens), prefill ${prefill.toFixed(1)} tok/s ` +
      `(${promptTokens} prompt tokens) = ${(prefill / decode).toFixed(2)}x decode; See inside reading ${reading.toFixed(1)} tok/s = ` +
      `${(reading / decode).toFixed(2)}x decode (${result.trim()})`);
    console.log(rows[rows.length - 1]);
  }
});
