// Entry for GPU tests; specs use page.evaluate(() => import('/src/...')) to reach engine modules.
export {};
