import { defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

const port = Number(process.env.PORT ?? 4173);

// Content-Security-Policy of the built app: scripts, workers (engine worker, service worker), fetches (models,
// manifest), styles, images and the web manifest come from this origin only. No 'unsafe-inline' (Svelte's built CSS
// is a file and its dynamic styles go through CSSOM), no 'unsafe-eval', and no 'wasm-unsafe-eval' (no WebAssembly).
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

// The built page carries the policy as a <meta> (any static host); `vite preview` also sends it as a header, which
// is what governs the workers' own fetches. Not in `npm run dev`: Vite's HMR client needs inline scripts.
function contentSecurityPolicy(): Plugin {
  return {
    name: 'bit-ttt-csp',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' }],
    },
  };
}

export default defineConfig({
  plugins: [
    svelte(),
    contentSecurityPolicy(),
    // Offline: Workbox precaches the app shell (page, JS incl. the engine worker, CSS, manifests, icons).
    // Model files (.bttt) are deliberately not precached: the engine stores them in IndexedDB (src/storage).
    // Updates are offered, not forced: a new service worker waits until the page's UpdatePrompt asks it to take
    // over (SKIP_WAITING), then the page reloads, so one page never runs the old HTML with the new scripts.
    // clientsClaim only matters on the first visit (no worker to wait for): the page is controlled at once.
    VitePWA({
      registerType: 'prompt',
      injectRegister: false, // registered by src/app/lib/updates.svelte.ts
      workbox: {
        globPatterns: ['**/*.{js,css,html,wasm,wgsl,json,svg,png,webmanifest}'],
        globIgnores: ['**/*.bttt'],
        navigateFallback: 'index.html',
        clientsClaim: true,
      },
      manifest: {
        name: 'Bit-TTT Playground',
        short_name: 'Bit-TTT',
        description: 'Ternary (BitNet b1.58) language models with Test-Time-Training memory, running in WebGPU in your browser.',
        theme_color: '#0f172a',
        background_color: '#0b1020',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
    }),
  ],
  worker: { format: 'es' },
  server: { port: 5173, host: 'localhost' },
  preview: { port, host: 'localhost', strictPort: true, headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY } },
  build: { target: 'es2022' },
});
