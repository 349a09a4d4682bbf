import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

const port = Number(process.env.PORT ?? 4173);

export default defineConfig({
  plugins: [
    svelte(),
    // Offline: Workbox precaches the app shell (page, JS incl. the engine worker, CSS, manifests, icons).
    // Model files (.bttt) are deliberately not precached: the engine stores them in IndexedDB (src/storage).
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: 'script-defer',
      workbox: {
        globPatterns: ['**/*.{js,css,html,wasm,wgsl,json,svg,png,webmanifest}'],
        globIgnores: ['**/*.bttt'],
        navigateFallback: 'index.html',
        clientsClaim: true,
        skipWaiting: true,
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
  preview: { port, host: 'localhost', strictPort: true },
  build: { target: 'es2022' },
});
