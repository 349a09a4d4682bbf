// Nothing lost (issue 11, items 1 and 2), driven as a person would: a model the GPU engine refuses, a model that
// does not fit in GPU memory beside the loaded one, and a lost GPU device. Each time the conversation goes on with
// its TTT memory: the next reply equals the one a page that never had the trouble gives (same seed, same memory).
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { wideHeadModelBytes } from '../../src/engine/format/tiny';
import { sendAndWait, setNumber, waitReady, READY_TIMEOUT } from './helpers';

const FIRST = 'Once upon a time, there was a little fox.';

// Each test loads models several times and sends four or five messages: on a busy shared machine that can pass the
// default 3 minutes, though each takes well under one on an idle one.
test.slow();
const SECOND = 'The fox ran to the river.';

async function tokensRead(page: Page): Promise<number> {
  return Number.parseInt((await page.getByTestId('tokens-read').textContent()) ?? '', 10);
}

async function lastReplyIds(page: Page): Promise<string> {
  return (await page.getByTestId('assistant-message').last().getAttribute('data-token-ids')) ?? '';
}

/**
 * The two replies of a conversation that never had any trouble: "Forget" puts the memory back where a fresh load
 * starts (W_init, empty caches and history), and the same prompts with the same seed are sent again.
 */
async function undisturbedReplies(page: Page): Promise<{ positionAfterFirst: number; secondIds: string }> {
  await page.getByTestId('forget').click();
  await expect(page.getByTestId('tokens-read')).toHaveText('0 tokens read');
  await sendAndWait(page, FIRST);
  const positionAfterFirst = await tokensRead(page);
  await sendAndWait(page, SECOND);
  return { positionAfterFirst, secondIds: await lastReplyIds(page) };
}

test('a model the GPU engine cannot run is refused with what it needs; the loaded model stays ready and answers with its memory', async ({ page }) => {
  await page.goto('/?model=tiny-ttt');
  await waitReady(page);
  await setNumber(page, 'setting-maxTokens', 8);
  await sendAndWait(page, FIRST);
  const positionAfterFirst = await tokensRead(page);

  await page.getByTestId('file-input').setInputFiles({ name: 'wide-head.bttt', mimeType: 'application/octet-stream', buffer: Buffer.from(wideHeadModelBytes()) });
  const error = page.getByTestId('file-error');
  await expect(error).toContainText('Could not open "wide-head.bttt": this model needs head size ≤ 256, but its heads are 512 wide', { timeout: READY_TIMEOUT });
  await expect(error).toContainText('Tiny TTT (tiny random test model) is still loaded, with its memory.');
  await expect(page.getByTestId('model-status')).toHaveText('ready');
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'tiny-ttt');
  expect(await tokensRead(page)).toBe(positionAfterFirst);

  const second = await sendAndWait(page, SECOND);
  await expect(page.getByTestId('generate-error')).toHaveCount(0);
  expect(second.tokens).toBe(8);
  expect(await tokensRead(page)).toBeGreaterThan(positionAfterFirst);
  const secondIds = await lastReplyIds(page);
  const undisturbed = await undisturbedReplies(page);
  expect(positionAfterFirst).toBe(undisturbed.positionAfterFirst);
  expect(secondIds).toBe(undisturbed.secondIds);
});

test('a model that does not fit beside the loaded one: the page asks first, keeps the loaded one on "Keep", switches on "Unload"', async ({ page }) => {
  await page.goto('/?model=tiny-ttt');
  await waitReady(page);
  await setNumber(page, 'setting-maxTokens', 8);
  await sendAndWait(page, FIRST);
  const positionAfterFirst = await tokensRead(page);
  // WebGPU reports running out of memory through error scopes; a real out-of-memory cannot be provoked safely on a
  // shared machine, so the engine worker's device reports it for the next `__oomBudget` out-of-memory scopes.
  const worker = page.workers().find((w) => w.url().includes('engine.worker'))!;
  expect(worker).toBeDefined();
  await worker.evaluate(() => {
    const g = globalThis as unknown as { __oomBudget: number };
    g.__oomBudget = 0;
    const proto = GPUDevice.prototype;
    const push = proto.pushErrorScope;
    const pop = proto.popErrorScope;
    const filters = new WeakMap<GPUDevice, GPUErrorFilter[]>();
    proto.pushErrorScope = function (this: GPUDevice, filter: GPUErrorFilter) {
      if (!filters.has(this)) filters.set(this, []);
      filters.get(this)!.push(filter);
      return push.call(this, filter);
    };
    proto.popErrorScope = async function (this: GPUDevice) {
      const filter = filters.get(this)?.pop();
      const error = await pop.call(this);
      if (filter === 'out-of-memory' && g.__oomBudget > 0) {
        g.__oomBudget--;
        return new GPUOutOfMemoryError('simulated: not enough memory for a second model');
      }
      return error;
    };
  });
  const kvFile = { name: 'tiny-kv.bttt', mimeType: 'application/octet-stream', buffer: readFileSync('public/models/tiny-kv.bttt') };

  await worker.evaluate(() => { (globalThis as unknown as { __oomBudget: number }).__oomBudget = 1; });
  await page.getByTestId('file-input').setInputFiles(kvFile);
  const offer = page.getByTestId('replace-offer');
  await expect(offer).toContainText(
    'There is not enough GPU memory for tiny-kv.bttt next to Tiny TTT (tiny random test model), which is still loaded and answering. ' +
      'Unload Tiny TTT (tiny random test model) to load tiny-kv.bttt? Its conversation memory would be lost.',
    { timeout: READY_TIMEOUT },
  );
  await expect(page.getByTestId('model-status')).toHaveText('ready');
  await page.getByTestId('replace-decline').click();
  await expect(offer).toHaveCount(0);
  await expect(page.getByTestId('file-error')).toHaveCount(0);
  expect(await tokensRead(page)).toBe(positionAfterFirst);
  await sendAndWait(page, SECOND);
  await expect(page.getByTestId('generate-error')).toHaveCount(0);

  // Asked again, the person lets the loaded model go: alone, the new one fits.
  await worker.evaluate(() => { (globalThis as unknown as { __oomBudget: number }).__oomBudget = 1; });
  await page.getByTestId('file-input').setInputFiles(kvFile);
  await expect(offer).toBeVisible({ timeout: READY_TIMEOUT });
  await page.getByTestId('replace-accept').click();
  await waitReady(page);
  await expect(page.getByTestId('model-status')).toHaveAttribute('data-model-key', 'file:tiny-kv.bttt');
  await expect(page.getByTestId('note').last()).toHaveText('Switched to tiny-kv.bttt; the previous model and its memory were unloaded to make room.');
  expect(await tokensRead(page)).toBe(0);
  const reply = await sendAndWait(page, FIRST);
  expect(reply.tokens).toBe(8);
});

test('a lost GPU device is reported, the model reloads on request and the conversation goes on with its memory', async ({ page }) => {
  await page.goto('/?model=tiny-ttt&test-hooks');
  await waitReady(page);
  await setNumber(page, 'setting-maxTokens', 8);
  await sendAndWait(page, FIRST);
  const positionAfterFirst = await tokensRead(page);

  await page.evaluate(() => (globalThis as unknown as { __bitTttTestHooks: { loseDevice: () => void } }).__bitTttTestHooks.loseDevice());
  const notice = page.getByTestId('engine-notice');
  await expect(notice).toContainText('The GPU device was lost (destroyed');
  await expect(notice).toContainText('the model is no longer loaded. Reload Tiny TTT (tiny random test model) to go on');
  await expect(notice).toContainText(`its memory will be restored as it was after the last complete reply (${positionAfterFirst} tokens read)`);
  await expect(page.getByTestId('model-status')).toHaveText('error');
  await expect(page.getByTestId('chat-input')).toBeDisabled();
  await expect(page.getByTestId('send')).toBeDisabled();

  await page.getByTestId('notice-action').click();
  await waitReady(page);
  await expect(notice).toHaveCount(0);
  await expect(page.getByTestId('note').last()).toHaveText(`Model reloaded on a fresh GPU device; its memory was restored (${positionAfterFirst} tokens read).`);
  expect(await tokensRead(page)).toBe(positionAfterFirst);

  const second = await sendAndWait(page, SECOND);
  expect(second.tokens).toBe(8);
  await expect(page.getByTestId('generate-error')).toHaveCount(0);
  const secondIds = await lastReplyIds(page);
  const undisturbed = await undisturbedReplies(page);
  expect(positionAfterFirst).toBe(undisturbed.positionAfterFirst);
  expect(secondIds).toBe(undisturbed.secondIds);
});
