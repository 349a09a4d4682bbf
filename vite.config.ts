import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

const port = Number(process.env.PORT ?? 4173);

export default defineConfig({
  plugins: [svelte()],
  worker: { format: 'es' },
  server: { port: 5173, host: 'localhost' },
  preview: { port, host: 'localhost', strictPort: true },
  build: { target: 'es2022' },
});
