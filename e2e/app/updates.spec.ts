// Updates and offline: a new deployment is offered to an open page (the waiting service worker takes over only when
// the person clicks Reload), and an offline visit to a model that was never downloaded says so and what to do.
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { serveDirectory } from './static-server';
import { waitReady } from './helpers';

const controlled = (page: Page) => page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 30_000 });
const deployMark = (page: Page) => page.evaluate(() => (globalThis as { __BIT_TTT_DEPLOY__?: string }).__BIT_TTT_DEPLOY__ ?? 'v1');

/**
 * Turns a copy of the built app into its next version, as a new build would: the main script changes (so its
 * hashed name changes), index.html points at the new name, and the service worker's precache list changes with them.
 */
async function deployNextVersion(root: string): Promise<void> {
  const assets = await readdir(join(root, 'assets'));
  const main = assets.find((f) => /^index-[\w-]+\.js$/.test(f));
  if (!main) throw new Error(`no main script in ${root}/assets: ${assets.join(', ')}`);
  const next = main.replace(/\.js$/, '-next.js');
  await writeFile(join(root, 'assets', next), `${await readFile(join(root, 'assets', main), 'utf8')}\nglobalThis.__BIT_TTT_DEPLOY__ = 'v2';\n`);
  const html = await readFile(join(root, 'index.html'), 'utf8');
  await writeFile(join(root, 'index.html'), html.replace(`/assets/${main}`, `/assets/${next}`));
  const sw = await readFile(join(root, 'sw.js'), 'utf8');
  const swNext = sw
    .replace(`"assets/${main}"`, `"assets/${next}"`)
    .replace(/(\{url:"index\.html",revision:")([0-9a-f]+)"/, (_m, head: string, rev: string) => `${head}${rev}-next"`);
  if (swNext === sw || !swNext.includes(next) || !swNext.includes('-next"}')) throw new Error('sw.js precache list not in the expected form; update deployNextVersion');
  await writeFile(join(root, 'sw.js'), swNext);
}

test('a new deployment is offered to the open page, and Reload switches the whole page to it', async ({ page }) => {
  test.setTimeout(300_000); // two model loads; slow on SwiftShader when the machine is busy
  if (!existsSync('dist/sw.js')) throw new Error('dist/ has no build: run `npx vite build` (the app project\'s web server does)');
  const root = await mkdtemp(join(tmpdir(), 'bit-ttt-deploy-'));
  await cp('dist', root, { recursive: true });
  const server = await serveDirectory(root);
  try {
    await page.goto(`${server.origin}/?model=tiny-ttt`);
    await waitReady(page);
    await controlled(page);
    expect(await deployMark(page)).toBe('v1');

    await deployNextVersion(root);
    // The page checks for a new version when it becomes visible again (and hourly); a tab switch, simulated.
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await expect(page.getByTestId('update-prompt')).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('update-prompt')).toContainText('new version');
    // Offered, not forced: the new worker waits, the page still runs the version it loaded, the model still answers.
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting !== null)).toBe(true);
    expect(await deployMark(page)).toBe('v1');
    await expect(page.getByTestId('model-status')).toHaveText('ready');

    await Promise.all([page.waitForEvent('load', { timeout: 60_000 }), page.getByTestId('update-reload').click()]);
    await expect.poll(() => deployMark(page), { timeout: 30_000 }).toBe('v2');
    await expect(page.getByTestId('update-prompt')).toHaveCount(0);
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null)).toBeNull();
    await waitReady(page); // the new version runs the cached model
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('offline, a model that was never downloaded gets a clear page, and downloads once the network is back', async ({ page, context }) => {
  test.setTimeout(300_000); // two model loads; slow on SwiftShader when the machine is busy
  await page.goto('/?model=tiny-ttt');
  await waitReady(page);
  await controlled(page);

  await context.setOffline(true);
  await page.goto('/?model=tiny-kv'); // the page itself comes from the service worker
  const notice = page.getByTestId('offline-notice');
  await expect(notice).toBeVisible({ timeout: 60_000 });
  await expect(notice).toContainText('You are offline');
  await expect(notice).toContainText('Tiny KV');
  await expect(notice).toContainText('not been downloaded');
  await expect(page.getByTestId('offline-retry')).toBeDisabled();
  await expect(page.getByRole('heading', { name: 'Bit-TTT Playground' })).toBeVisible();

  await context.setOffline(false); // the page retries by itself on the browser's "online" event
  await waitReady(page);
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'tiny-kv');
  await expect(notice).toHaveCount(0);
});

test('going back online never swaps out a loaded model by itself', async ({ page, context }) => {
  test.setTimeout(300_000);
  await page.goto('/?model=tiny-ttt');
  await waitReady(page);
  await context.setOffline(true);
  // Offline, the person picks a model that was never downloaded: it fails, and the loaded one stays.
  await page.getByTestId('model-select').selectOption('tiny-kv');
  const notice = page.getByTestId('offline-notice');
  await expect(notice).toBeVisible({ timeout: 60_000 });
  await expect(notice).toContainText('the loaded model stays until then');
  await waitReady(page);
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'tiny-ttt');

  await context.setOffline(false);
  await expect(notice).toHaveAttribute('data-online', 'true');
  await expect(page.getByTestId('offline-retry')).toBeEnabled();
  // Nothing starts by itself: a second later the loaded model is still the one answering (no load under way).
  await page.waitForTimeout(1500);
  await expect(page.getByTestId('model-status')).toHaveText('ready');
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'tiny-ttt');
  // The person asks: then it downloads and switches.
  await page.getByTestId('offline-retry').click();
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'tiny-kv', { timeout: 120_000 });
  await waitReady(page);
});
