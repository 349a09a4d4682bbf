// A picture of a conversation for the docs (docs/screenshots/chat.png): with the trained TTT model when the
// manifest lists it, else with the first (tiny, random) model.
import { mkdirSync, readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { sendAndWait, setNumber, setSlider, waitReady } from './helpers';

test('screenshot of a conversation', async ({ page }) => {
  await page.setViewportSize({ width: 1360, height: 860 });
  await page.goto('/');
  await waitReady(page);
  const manifest = JSON.parse(readFileSync('public/models/manifest.json', 'utf8')) as { models: { id: string }[] };
  if (manifest.models.some((m) => m.id === 'ttt-small')) {
    await page.getByTestId('model-select').selectOption('ttt-small');
    await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'ttt-small', { timeout: 120_000 });
    await waitReady(page);
  }
  await setSlider(page, 'setting-temperature', 0.8);
  await setNumber(page, 'setting-maxTokens', 40);
  const first = await sendAndWait(page, 'Once upon a time, there was a little girl named Lily. She loved to play outside.');
  expect(first.tokens).toBeGreaterThan(0);
  await sendAndWait(page, 'One day, Lily found a shiny red ball in the park.');
  await expect(page.getByTestId('reply-stats')).toHaveCount(2);
  mkdirSync('docs/screenshots', { recursive: true });
  await page.screenshot({ path: 'docs/screenshots/chat.png' });
});
