// Shared steps of the playground's end-to-end tests (tiny models: SwiftShader is slow).
import { expect, type Page } from '@playwright/test';

export const READY_TIMEOUT = 120_000;
export const REPLY_TIMEOUT = 150_000;

/** Records, from the very first paint, every load-progress the page shows (origin and text). */
export async function recordProgress(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const seen: { origin: string; text: string }[] = [];
    (window as unknown as { __progressSeen: typeof seen }).__progressSeen = seen;
    new MutationObserver(() => {
      const el = document.querySelector<HTMLElement>('[data-testid="load-progress"]');
      if (el) seen.push({ origin: el.dataset.origin ?? '', text: el.textContent ?? '' });
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

export async function progressSeen(page: Page): Promise<{ origin: string; text: string }[]> {
  return page.evaluate(() => (window as unknown as { __progressSeen: { origin: string; text: string }[] }).__progressSeen);
}

export async function waitReady(page: Page): Promise<void> {
  await expect(page.getByTestId('model-status')).toHaveText('ready', { timeout: READY_TIMEOUT });
}

export async function setNumber(page: Page, testId: string, value: number): Promise<void> {
  const input = page.getByTestId(testId);
  await input.fill(String(value));
  await input.dispatchEvent('change');
}

export async function setSlider(page: Page, testId: string, value: number): Promise<void> {
  await page.getByTestId(testId).evaluate((el, v) => {
    const input = el as HTMLInputElement;
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

/**
 * Sends a prompt and waits for the reply to finish. Returns the reply's token count, its text and how many
 * distinct partial lengths were rendered while it streamed (proof that it arrived token by token).
 */
export async function sendAndWait(page: Page, prompt: string): Promise<{ tokens: number; text: string; partials: number; stopReason: string }> {
  const before = await page.getByTestId('assistant-message').count();
  await page.evaluate(() => {
    const lengths = new Set<number>();
    (window as unknown as { __partials: Set<number> }).__partials = lengths;
    new MutationObserver(() => {
      const all = document.querySelectorAll<HTMLElement>('[data-testid="assistant-message"]');
      const last = all[all.length - 1];
      if (last?.dataset.streaming === 'true') lengths.add(Number(last.dataset.tokens));
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.getByTestId('chat-input').fill(prompt);
  await page.getByTestId('chat-input').press('Enter');
  const reply = page.getByTestId('assistant-message').nth(before);
  await expect(reply).toHaveAttribute('data-streaming', 'false', { timeout: REPLY_TIMEOUT });
  await expect(reply).toHaveAttribute('data-stop-reason', /.+/);
  const partials = await page.evaluate(() => (window as unknown as { __partials: Set<number> }).__partials.size);
  return {
    tokens: Number(await reply.getAttribute('data-tokens')),
    text: (await reply.locator('.text').textContent()) ?? '',
    partials,
    stopReason: (await reply.getAttribute('data-stop-reason')) ?? '',
  };
}
