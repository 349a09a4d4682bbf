// No surprises on the wire: a whole session (load a model, chat, read a text in "See inside", export JSON and CSV)
// requests only this origin, and the Content-Security-Policy that enforces it is in force in the page and in the
// engine worker without a single violation by the app itself.
import { expect, test, type Page } from '@playwright/test';
import { CONTENT_SECURITY_POLICY } from '../../vite.config';
import { sendAndWait, setNumber, waitReady } from './helpers';

interface Violation { directive: string; blocked: string }

async function violations(page: Page): Promise<Violation[]> {
  return page.evaluate(() => (window as unknown as { __csp: Violation[] }).__csp);
}

test('a full session asks only its own origin and breaks no Content-Security-Policy rule', async ({ page, context, baseURL }) => {
  test.setTimeout(240_000);
  const origin = new URL(baseURL!).origin;
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const consoleProblems: string[] = [];
  page.on('console', (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) consoleProblems.push(m.text()); });
  await page.addInitScript(() => {
    const seen: { directive: string; blocked: string }[] = [];
    (window as unknown as { __csp: typeof seen }).__csp = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push({ directive: e.effectiveDirective, blocked: e.blockedURI }));
  });

  // Load the model, chat.
  await page.goto('/?model=tiny-ttt');
  await waitReady(page);
  expect(await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')).toBe(CONTENT_SECURITY_POLICY);
  await setNumber(page, 'setting-maxTokens', 8);
  expect((await sendAndWait(page, 'Lily saw a cat.')).tokens).toBeGreaterThan(0);

  // See inside: read a short text with the tiny TTT model, then export JSON and CSV (two files).
  await page.getByTestId('tab-inside').click();
  await page.getByTestId('views-model-ttt').selectOption('tiny-ttt');
  await page.getByTestId('views-use-kv').setChecked(false);
  await page.getByTestId('views-use-ttt').setChecked(true);
  await page.getByTestId('views-text').fill('Once upon a time, a small dog ran to the park.');
  await page.getByTestId('views-read').click();
  await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
  await expect(page.getByTestId('projection-table')).toBeVisible();
  const json = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
  expect(json[0].suggestedFilename()).toBe('bit-ttt-views.json');
  const csvs: string[] = [];
  page.on('download', (d) => csvs.push(d.suggestedFilename()));
  await page.getByTestId('export-csv').click();
  await expect.poll(() => csvs.sort()).toEqual(['bit-ttt-memory.csv', 'bit-ttt-tokens.csv']);

  // Every request of the session (page, engine workers, downloads) went to this origin.
  expect(requests.length).toBeGreaterThan(5);
  const foreign = requests.filter((u) => new URL(u).origin !== origin);
  expect(foreign).toEqual([]);
  expect(requests.some((u) => u.endsWith('/models/tiny-ttt.bttt'))).toBe(true);
  expect(await violations(page)).toEqual([]);
  expect(consoleProblems).toEqual([]);

  // The policy is really in force: a cross-origin fetch and an inline script are refused in the page (reported once
  // per policy: `vite preview` sends the header as well as the page's <meta>)…
  await page.evaluate(async () => {
    await fetch('https://example.com/').catch(() => undefined);
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.head.append(s);
  });
  await expect.poll(async () => [...new Set((await violations(page)).map((v) => v.directive))].sort()).toEqual(['connect-src', 'script-src-elem']);
  expect(await page.evaluate(() => (window as unknown as { __inlineRan?: boolean }).__inlineRan)).toBeUndefined();
  // …and in the engine worker, whose fetches the page's <meta> does not govern (the server's header does).
  const worker = page.workers().find((w) => w.url().includes('engine.worker'));
  expect(worker, 'the engine worker').toBeDefined();
  const inWorker = await worker!.evaluate(() => new Promise<string>((resolve) => {
    self.addEventListener('securitypolicyviolation', (e) => resolve((e as SecurityPolicyViolationEvent).effectiveDirective));
    fetch('https://example.com/').catch(() => undefined);
    setTimeout(() => resolve('no violation'), 5000);
  }));
  expect(inWorker).toBe('connect-src');
});
