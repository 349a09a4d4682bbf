import { defineConfig } from '@playwright/test';

// Debian's Chromium with SwiftShader gives WebGPU on machines without a GPU.
const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--enable-unsafe-webgpu',
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
};

// Ports are overridable so that several checkouts can run tests at once; PW_ONLY=gpu|app starts one server.
const HARNESS_PORT = Number(process.env.HARNESS_PORT ?? 5199);
const APP_PORT = Number(process.env.APP_PORT ?? 4199);
const only = process.env.PW_ONLY;

export default defineConfig({
  timeout: 180_000,
  workers: 1,
  reporter: [['list']],
  outputDir: 'test-results',
  use: { launchOptions: chromium, trace: 'off' },
  projects: [
    // Kernel and engine tests: pages under e2e/gpu/ served by the Vite dev server.
    { name: 'gpu', testDir: 'e2e/gpu', use: { baseURL: `http://localhost:${HARNESS_PORT}` } },
    // The playground itself, built and served as in production (service worker included).
    { name: 'app', testDir: 'e2e/app', use: { baseURL: `http://localhost:${APP_PORT}` } },
  ],
  webServer: [
    only !== 'app' && {
      command: `npx vite --port ${HARNESS_PORT} --strictPort`,
      url: `http://localhost:${HARNESS_PORT}/e2e/gpu/harness.html`,
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
    only !== 'gpu' && {
      command: `npx vite build && npx vite preview --port ${APP_PORT} --strictPort`,
      url: `http://localhost:${APP_PORT}/`,
      reuseExistingServer: !process.env.CI,
      timeout: 300_000,
    },
  ].filter((s) => s !== false),
});
