import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';

// The service worker (src/sw.ts) is built as its own entry at /sw.js (its scope must be the
// whole app), and learns the app shell it precaches from this build's output file names.
function serviceWorker(): Plugin {
  return {
    name: 'carillon-service-worker',
    apply: 'build',
    enforce: 'post',
    generateBundle(_, bundle) {
      const sw = Object.values(bundle).find((f) => f.type === 'chunk' && f.name === 'sw');
      if (!sw || sw.type !== 'chunk') throw new Error('service worker entry missing from the build');
      // public/ is copied next to the bundle, not part of it.
      const copied = readdirSync('public', { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => `${e.parentPath.slice('public'.length)}/${e.name}`.replace(/^\/?/, ''));
      const shell = [...Object.keys(bundle), ...copied]
        .filter((f) => f !== sw.fileName && f !== 'index.html' && !f.endsWith('.map'))
        .map((f) => `/${f}`)
        .sort();
      const version = createHash('sha256').update(shell.join(',')).digest('hex').slice(0, 12);
      sw.code = sw.code
        .replace('"__SHELL__"', JSON.stringify(['/', ...shell]))
        .replace('__VERSION__', version);
    },
  };
}

// Preact through esbuild's automatic JSX runtime: no framework plugin needed.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  plugins: [serviceWorker()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
    rollupOptions: {
      input: { index: 'index.html', sw: 'src/sw.ts' },
      output: { entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js') },
    },
  },
});
