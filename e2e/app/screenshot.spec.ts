// A picture of a conversation for the docs (docs/screenshots/chat.png): with the trained TTT model when the
// manifest lists it (it writes real stories), else with the tiny random one.
import { mkdirSync, readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { sendAndWait, setNumber, setSlider, waitReady } from './helpers';

const TRAINED = 'ttt-hybrid-d256';

test('screenshot of a conversation', async ({ page }) => {
  test.setTimeout(400_000);
  const manifest = JSON.parse(readFileSync('public/models/manifest.json', 'utf8')) as { models: { id: string }[] };
  const model = manifest.models.some((m) => m.id === TRAINED) ? TRAINED : 'tiny-ttt';
  await page.setViewportSize({ width: 1360, height: 860 });
  await page.goto(`/?model=${model}`);
  await waitReady(page);
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', model);
  await setSlider(page, 'setting-temperature', 0.7);
  await setNumber(page, 'setting-maxTokens', 48);
  const first = await sendAndWait(page, 'Once upon a time, there was a little girl named Lily. She loved to play outside.');
  expect(first.tokens).toBeGreaterThan(0);
  await sendAndWait(page, 'One day, Lily found a shiny red ball in the park.');
  await expect(page.getByTestId('reply-stats')).toHaveCount(2);
  mkdirSync('docs/screenshots', { recursive: true });
  await page.screenshot({ path: 'docs/screenshots/chat.png' });
});
