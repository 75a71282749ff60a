// Writes <file>.gz next to every text asset in dist/ so `carillon serve` can send it to browsers
// that accept gzip (src/http/static_files.cpp); the originals stay for those that do not.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const compressible = /\.(js|mjs|css|html|svg|json|webmanifest|map|txt)$/;
let before = 0;
let after = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      walk(path);
    } else if (compressible.test(name)) {
      const content = readFileSync(path);
      const gz = gzipSync(content, { level: constants.Z_BEST_COMPRESSION });
      // Tiny files do not get smaller: leave them alone.
      if (gz.length < content.length) {
        writeFileSync(`${path}.gz`, gz);
        before += content.length;
        after += gz.length;
      }
    }
  }
}
walk(new URL('../dist', import.meta.url).pathname);
console.log(`gzip: ${before} -> ${after} bytes`);
