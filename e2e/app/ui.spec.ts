// UI behaviour that does not need the engine to generate: the no-WebGPU page, the installable manifest,
// persisted settings, and the composer's keyboard rules.
import { expect, test } from '@playwright/test';
import { setSlider } from './helpers';

test('without WebGPU the page explains which browsers and flags are needed', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  await page.goto('/?model=tiny-ttt');
  const box = page.getByTestId('no-webgpu');
  await expect(box).toBeVisible();
  await expect(box).toContainText('navigator.gpu is missing');
  await expect(box).toContainText('Chrome');
  await expect(box).toContainText('enable-unsafe-webgpu');
});

test('a WebGPU without adapter gets the same explanation', async ({ page }) => {
  await page.addInitScript(() => {
    GPU.prototype.requestAdapter = async () => null;
  });
  await page.goto('/?model=tiny-ttt');
  await expect(page.getByTestId('no-webgpu')).toContainText('no GPU adapter');
});

test('the app is installable: web manifest with icons, and a service worker', async ({ page, request }) => {
  await page.goto('/?model=tiny-ttt');
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(href).toBeTruthy();
  const manifest = await (await request.get(`/${href!.replace(/^\//, '')}`)).json();
  expect(manifest.name).toBe('Bit-TTT Playground');
  expect(manifest.icons.some((i: { sizes: string }) => i.sizes === '512x512')).toBe(true);
  for (const icon of manifest.icons as { src: string }[]) expect((await request.get(`/${icon.src}`)).ok(), icon.src).toBe(true);
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  expect(scope).toMatch(/^http:\/\/localhost:\d+\/$/);
});

test('sampling settings survive a reload', async ({ page }) => {
  await page.goto('/?model=tiny-kv'); // any model: the KV one compiles fastest
  await setSlider(page, 'setting-temperature', 0.35);
  await page.getByTestId('setting-maxTokens').fill('77');
  await page.getByTestId('setting-maxTokens').dispatchEvent('change');
  await page.reload();
  await expect(page.getByTestId('setting-temperature')).toHaveValue('0.35');
  await expect(page.getByTestId('setting-maxTokens')).toHaveValue('77');
});
