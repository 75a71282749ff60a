// Writes the app icons in public/icons (committed): a bell on the brand colour, as SVG and as
// PNG drawn here pixel by pixel (zlib only), so the build needs no image tools.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'public', 'icons');
mkdirSync(out, { recursive: true });
const brand = [11, 92, 173];
const white = [255, 255, 255];

// Inside the bell (unit square, y down): a dome, a flared body, a rim and a clapper.
function bell(x, y) {
  const cx = 0.5;
  if (y >= 0.2 && y <= 0.68) {
    const t = (y - 0.2) / 0.48;
    const half = 0.12 + 0.18 * Math.pow(t, 0.7);
    if (Math.abs(x - cx) <= half) return true;
  }
  if (y > 0.68 && y <= 0.72 && Math.abs(x - cx) <= 0.33) return true;
  if (Math.hypot(x - cx, y - 0.2) <= 0.12) return true;
  if (Math.hypot(x - cx, y - 0.78) <= 0.06) return true;
  return false;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

// maskable: full-bleed background with the bell inside the 80 % safe zone.
function png(size, maskable) {
  const rows = [];
  const scale = maskable ? 0.7 : 0.9;
  const samples = 4; // supersampling for smooth edges
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4);
    for (let px = 0; px < size; px++) {
      let inBell = 0;
      let inBg = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) / size;
          const y = (py + (sy + 0.5) / samples) / size;
          const r = 0.22; // rounded corners for the plain icon
          const dx = Math.max(r - x, 0, x - (1 - r));
          const dy = Math.max(r - y, 0, y - (1 - r));
          const bg = maskable || Math.hypot(dx, dy) <= r;
          if (bg) inBg++;
          if (bg && bell((x - 0.5) / scale + 0.5, (y - 0.5) / scale + 0.5)) inBell++;
        }
      }
      const n = samples * samples;
      const a = inBell / n;
      const o = 1 + px * 4;
      for (let c = 0; c < 3; c++) row[o + c] = Math.round(brand[c] * (1 - a) + white[c] * a);
      row[o + 3] = Math.round((inBg / n) * 255);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<rect width="100" height="100" rx="22" fill="rgb(${brand.join(',')})"/>
<g fill="#fff" transform="translate(50 50) scale(0.9) translate(-50 -50)">
<circle cx="50" cy="20" r="12"/>
<path d="M38 20 L62 20 Q68 50 80 68 L20 68 Q32 50 38 20 Z"/>
<rect x="17" y="68" width="66" height="4" rx="2"/>
<circle cx="50" cy="78" r="6"/>
</g>
</svg>
`;

writeFileSync(path.join(out, 'icon.svg'), svg);
for (const size of [192, 512]) {
  writeFileSync(path.join(out, `icon-${size}.png`), png(size, false));
  writeFileSync(path.join(out, `maskable-${size}.png`), png(size, true));
}
writeFileSync(path.join(out, 'apple-touch-icon.png'), png(180, true));
