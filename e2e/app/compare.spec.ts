// "Where each memory helps" and "Recall" on the tiny models: the same text through TTT, TTT memory off and KV, the
// per-token colouring, the difference strips, loss by position with the training context marked, and the sentences
// computed from the reading; then an item of the recall probe through all three. Tiny models have random weights:
// these check that the views show what the engine measured, not what the numbers mean.
import { test, expect, type Page } from '@playwright/test';
import { STORIES } from '../../src/app/views/story';
import type { ViewsExport } from '../../src/app/lib/series';
import { readFile } from 'node:fs/promises';

async function openViews(page: Page): Promise<void> {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto('/?model=tiny-ttt#inside');
  await expect(page.getByTestId('views-read')).toBeVisible({ timeout: 60_000 });
  await page.getByTestId('views-model-ttt').selectOption('tiny-ttt');
  await page.getByTestId('views-model-kv').selectOption('tiny-kv');
}

test('where each memory helps: colouring, strips, loss by position and sentences from the reading', async ({ page }) => {
  test.setTimeout(300_000);
  await openViews(page);
  // Two stories with the separator: more tokens than the tiny models' training context, so the mark falls inside.
  const text = `<|endoftext|>${STORIES[0].slice(0, 160)}<|endoftext|>${STORIES[1].slice(0, 160)}`;
  await page.getByTestId('views-text').fill(text);
  await expect(page.getByTestId('eot-note')).toBeVisible();
  for (const id of ['views-use-ttt', 'views-use-kv', 'views-memory-off']) await expect(page.getByTestId(id)).toBeChecked(); // the defaults
  await page.getByTestId('views-twice').setChecked(false);
  await page.getByTestId('views-read').click();
  await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(page.getByTestId('views-error')).toHaveCount(0);

  // 2 separators + 320 characters: one token per byte, one per separator.
  const tokens = 2 + 320;
  for (const key of ['ttt', 'kv', 'off']) await expect(page.getByTestId(`loss-text-${key}`).locator('span')).toHaveCount(tokens);
  await expect(page.getByTestId('loss-text-ttt').locator('span.eot')).toHaveCount(2);
  // One bar per token with a loss in both readings (all but the first).
  await expect(page.getByTestId('diff-strip-versus').locator('rect')).toHaveCount(tokens - 1);
  await expect(page.getByTestId('diff-strip-memory').locator('rect')).toHaveCount(tokens - 1);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
  const data = JSON.parse(await readFile(await download.path(), 'utf8')) as ViewsExport;
  const of = (model: string, off: boolean) => data.readings.find((r) => r.model === model && !!r.memoryOff === off)!;
  const ttt = of('tiny-ttt', false);
  const kv = of('tiny-kv', false);
  const diffs = ttt.loss.flatMap((l, i) => (l === null ? [] : [l - kv.loss[i]!]));
  const lower = diffs.filter((d) => d < 0).length / diffs.length;
  const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
  const versus = page.locator('[data-testid="compare-sentence"][data-kind="versus"]');
  await expect(versus).toContainText(`on ${(100 * lower).toFixed(0)} % of them`);
  await expect(versus).toContainText(`${mean < 0 ? '−' : '+'}${Math.abs(mean).toFixed(3)} nats/token`);
  const mean1 = (r: typeof ttt) => { const v = r.loss.filter((l): l is number => l !== null); return v.reduce((a, b) => a + b, 0) / v.length; };
  const offMean = mean1(of('tiny-ttt', true));
  const onMean = mean1(ttt);
  await expect(page.locator('[data-testid="compare-sentence"][data-kind="memory"]')).toContainText(offMean > onMean ? 'higher' : 'lower');
  // The tiny models' training context (their config's contextLength) is marked on the chart and named in a sentence.
  const context = page.locator('[data-testid="compare-sentence"][data-kind="context"]');
  await expect(context).toContainText('training context of');
  await expect(page.getByTestId('position-chart')).toContainText('training context');
  console.log(`tiny: ${await versus.textContent()} | ${await context.textContent()}`);
  await page.getByTestId('compare-view').screenshot({ path: 'test-results/compare-view.png' });
});

test('recall: an item of the probe through TTT, TTT memory off and KV, with answers and distances', async ({ page }) => {
  test.setTimeout(400_000);
  await openViews(page);
  await expect(page.getByTestId('recall-item')).toBeVisible({ timeout: 30_000 });
  await page.getByTestId('recall-item').selectOption('0'); // the shortest filler: fits tiny-kv's maxContext
  await page.getByTestId('recall-play').click();
  await expect(page.getByTestId('recall-status')).toHaveAttribute('data-status', /^(done|error)$/, { timeout: 380_000 });
  await expect(page.getByTestId('views-error')).toHaveCount(0);
  await expect(page.getByTestId('recall-row')).toHaveCount(6);
  for (const column of ['ttt', 'off', 'kv']) {
    const cells = page.getByTestId(`recall-answer-${column}`);
    await expect(cells).toHaveCount(6);
    for (let i = 0; i < 6; i++) await expect(cells.nth(i)).toHaveAttribute('data-correct', /^(true|false)$/);
  }
  // Distances in the tiny models' tokens (bytes): the same for all three, and positive.
  for (const d of await page.getByTestId('recall-distance').allTextContents()) expect(Number(d)).toBeGreaterThan(0);
  await expect(page.getByTestId('recall-score')).toContainText('TTT');
  await expect(page.getByTestId('recall-sentence')).not.toBeEmpty();
  console.log(`tiny recall: ${await page.getByTestId('recall-score').textContent()} | ${await page.getByTestId('recall-sentence').textContent()}`);
  await page.getByTestId('recall-view').screenshot({ path: 'test-results/recall-view.png' });
});
