// Accessibility: axe on both tabs at a desktop and a phone size, names of the sampling sliders, the Tab order (skip
// link first, no hidden file input), and the polite live region that announces a finished reply.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { sendAndWait, setNumber, waitReady } from './helpers';

const SIZES = [{ width: 1280, height: 860 }, { width: 390, height: 844 }];

async function seriousViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

for (const size of SIZES) {
  test(`axe finds nothing serious on the Chat and See inside tabs at ${size.width}x${size.height}`, async ({ page }) => {
    test.setTimeout(700_000);
    await page.setViewportSize(size);
    await page.goto('/?model=tiny-kv');
    await waitReady(page);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByTestId('tab-inside').click();
    await expect(page.getByTestId('views-read')).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
    // After a reading (TTT, TTT memory off, KV: the comparison's coloured texts and strips are drawn) and, at the
    // desktop size, a recall item (its table).
    await page.getByTestId('views-model-ttt').selectOption('tiny-ttt');
    await page.getByTestId('views-model-kv').selectOption('tiny-kv');
    await page.getByTestId('views-text').fill('<|endoftext|>Lily had a red ball. She played with it in the park every day.');
    await page.getByTestId('views-read').click();
    await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
    await expect(page.getByTestId('loss-text-off')).toBeVisible();
    if (size.width >= 860) {
      await page.getByTestId('recall-item').selectOption('0');
      await page.getByTestId('recall-play').click();
      await expect(page.getByTestId('recall-status')).toHaveAttribute('data-status', 'done', { timeout: 400_000 });
    }
    expect(await seriousViolations(page)).toEqual([]);
  });
}

test('the sampling sliders are named by their labels', async ({ page }) => {
  await page.goto('/?model=tiny-kv');
  for (const name of ['Temperature', 'Top-k', 'Top-p', 'Repetition penalty']) {
    await expect(page.getByRole('slider', { name: new RegExp(`^${name}`) })).toHaveCount(1);
  }
  await expect(page.getByRole('slider', { name: /^Temperature/ })).toHaveAttribute('data-testid', 'setting-temperature');
});

test('keyboard: the skip link comes first and leads to the tabs; hidden file inputs are no Tab stops', async ({ page }) => {
  await page.goto('/?model=tiny-kv');
  await waitReady(page);
  await page.keyboard.press('Tab');
  const skip = page.getByTestId('skip-link');
  await expect(skip).toBeFocused();
  await expect(skip).toBeVisible();
  await page.keyboard.press('Enter');
  await expect(page.locator('main')).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('tab-chat')).toBeFocused();

  // Walk the whole page: no Tab stop is an invisible file input.
  await page.getByTestId('skip-link').focus();
  const stops: string[] = [];
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    stops.push(await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? `${el.tagName.toLowerCase()}${el instanceof HTMLInputElement ? `[${el.type}]` : ''}` : '';
    }));
  }
  expect(stops).not.toContain('input[file]');
});

test('a finished reply is announced once in a polite live region', async ({ page }) => {
  await page.goto('/?model=tiny-kv');
  await waitReady(page);
  const announcer = page.getByTestId('reply-announcer');
  await expect(announcer).toHaveAttribute('aria-live', 'polite');
  await expect(announcer).toHaveText('');
  await setNumber(page, 'setting-maxTokens', 6);
  const reply = await sendAndWait(page, 'Lily had a cat.');
  // The reply as the model wrote it (the page may show its first punctuation with the prompt).
  const written = (await page.getByTestId('assistant-message').last().getAttribute('data-text')) ?? '';
  await expect(announcer).toHaveText(`Tiny KV (tiny random test model) replied (${reply.tokens} tokens): ${written.trim()}`);
});
