// Layout at a desktop and a phone size: nothing scrolls sideways on either tab (also after a reading in See inside),
// and the screenshots under test-results/layout/ are there to be looked at.
import { expect, test, type Page } from '@playwright/test';
import { waitReady } from './helpers';

const SIZES = [{ width: 1280, height: 860 }, { width: 390, height: 844 }];

/**
 * The page's scroll width against the viewport, every element that sticks out to the right of the viewport, and
 * every scroll container inside the page that scrolls sideways (the tabs scroll in their own containers, which the
 * document's scrollWidth does not see).
 */
async function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number; wide: string[]; sideways: string[] }> {
  return page.evaluate(() => {
    const name = (el: Element) => `${el.tagName.toLowerCase()}.${String(el.getAttribute('class') ?? '').split(' ')[0]}${el.getAttribute('data-testid') ? `[${el.getAttribute('data-testid')}]` : ''}`;
    const wide: string[] = [];
    const sideways: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('body *')) {
      if (el.closest('[hidden]') || el.closest('.sr-only')) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > window.innerWidth + 1) wide.push(`${name(el)}: right ${Math.round(r.right)}`);
      const ox = getComputedStyle(el).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1) sideways.push(`${name(el)}: ${el.scrollWidth} > ${el.clientWidth}`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide: wide.slice(0, 8), sideways };
  });
}

async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const o = await overflow(page);
  expect(o.scrollWidth, o.wide.join('\n')).toBeLessThanOrEqual(o.innerWidth);
  expect(o.wide).toEqual([]);
  expect(o.sideways).toEqual([]);
}

for (const size of SIZES) {
  test(`no sideways scrolling at ${size.width}x${size.height}, on the chat and after a reading in See inside`, async ({ page }) => {
    test.setTimeout(size.width < 860 ? 700_000 : 300_000);
    await page.setViewportSize(size);
    await page.goto('/?model=tiny-kv');
    await waitReady(page);
    const shot = (name: string) => page.screenshot({ path: `test-results/layout/${name}-${size.width}.png`, fullPage: true });
    await shot('chat');
    await expectNoSidewaysScroll(page);
    if (size.width < 860) {
      // On a phone the sidebar comes after the conversation: the header links to its model and sampling controls.
      await page.getByTestId('to-controls').click();
      await expect(page.getByTestId('model-select')).toBeInViewport();
      await expect(page.locator('#controls')).toBeFocused();
    } else {
      await expect(page.getByTestId('to-controls')).toBeHidden();
    }

    await page.getByTestId('tab-inside').click();
    await page.getByTestId('views-model-ttt').selectOption('tiny-ttt');
    await page.getByTestId('views-model-kv').selectOption('tiny-kv');
    await page.getByTestId('views-text').fill('Lily had a red ball. She played with it in the park every day. '.repeat(2));
    await page.getByTestId('views-read').click();
    await expect(page.getByTestId('views-status')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
    // The comparison (coloured texts, strips) is drawn; on the phone also a recall item (its table turns into cards).
    await expect(page.getByTestId('loss-text-kv')).toBeVisible();
    if (size.width < 860) {
      await page.getByTestId('recall-item').selectOption('0');
      await page.getByTestId('recall-play').click();
      await expect(page.getByTestId('recall-status')).toHaveAttribute('data-status', 'done', { timeout: 400_000 });
      await page.getByTestId('recall-table').scrollIntoViewIfNeeded();
      await page.screenshot({ path: `test-results/layout/inside-recall-${size.width}.png` });
    }
    await shot('inside');
    for (const part of ['compare-view', 'projection-chart', 'projection-table']) {
      await page.getByTestId(part).scrollIntoViewIfNeeded();
      await page.screenshot({ path: `test-results/layout/inside-${part}-${size.width}.png` });
    }
    await expectNoSidewaysScroll(page);
  });
}
