// Runs an exported function of an e2e/gpu module inside the harness page (where WebGPU and the engine live).
// The Vite dev server reloads the page when the working tree changes or a dependency is optimised; such a reload
// is not a failure of the code under test, so the evaluation is retried once.
import type { Page } from '@playwright/test';

export async function inHarness<R>(page: Page, module: string, fn: string, ...args: unknown[]): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    await page.goto('/e2e/gpu/harness.html');
    try {
      return (await page.evaluate(
        async ({ url, name, params }) => {
          const m = (await import(url)) as Record<string, (...a: unknown[]) => unknown>;
          return m[name](...params);
        },
        { url: `/e2e/gpu/${module}`, name: fn, params: args },
      )) as R;
    } catch (e) {
      if (attempt >= 1 || !/Execution context was destroyed/.test(String(e))) throw e;
    }
  }
}
