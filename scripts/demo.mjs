#!/usr/bin/env node
// `pnpm demo`: makes a few sample images, uploads them to a running API (API_URL, default
// http://127.0.0.1:3000; start one with `pnpm start`), shows their progress until done, then prints the
// variant URLs. Exits 1 when an upload fails or does not finish within DEMO_TIMEOUT_MS (default 120 s).
import { createRequire } from 'node:module';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
// sharp is a dependency of apps/api (pnpm keeps it out of the root): load it from there.
const sharp = createRequire(path.join(ROOT, 'apps/api/package.json'))('sharp');

const API = (process.env.API_URL ?? `http://127.0.0.1:${process.env.API_PORT || 3000}`).replace(/\/$/, '');
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_MS || 120_000);
const tty = process.stdout.isTTY;

/** A gradient with a label, so the variants are recognisable when opened. */
async function sample(label, width, height, hue, format) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="hsl(${hue},70%,55%)"/><stop offset="1" stop-color="hsl(${(hue + 120) % 360},70%,35%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width * 0.7}" cy="${height * 0.35}" r="${height * 0.2}" fill="rgba(255,255,255,0.35)"/>
    <text x="50%" y="55%" font-family="sans-serif" font-size="${Math.round(height / 8)}" fill="white"
      text-anchor="middle">${label}</text>
  </svg>`;
  const img = sharp(Buffer.from(svg));
  const data = await (format === 'png'
    ? img.png()
    : format === 'webp'
      ? img.webp()
      : img.jpeg({ quality: 85 })
  ).toBuffer();
  return { name: `${label.toLowerCase().replace(/\s+/g, '-')}.${format === 'jpeg' ? 'jpg' : format}`, data, format };
}

async function upload(file) {
  const form = new FormData();
  form.append('file', new Blob([file.data], { type: `image/${file.format}` }), file.name);
  const res = await fetch(`${API}/uploads`, { method: 'POST', body: form });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 202) {
    throw new Error(`${file.name}: ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`.trim());
  }
  return body;
}

const abs = (url) => (url.startsWith('http') ? url : `${API}${url}`);

async function main() {
  const health = await fetch(`${API}/healthz`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
  if (!health?.ok) {
    console.error(`No Bullpen API answers at ${API}. Start the stack first (pnpm start), or set API_URL.`);
    process.exit(1);
  }
  const files = await Promise.all([
    sample('Bullpen demo one', 1600, 1200, 210, 'jpeg'),
    sample('Bullpen demo two', 1200, 800, 20, 'png'),
    sample('Bullpen demo three', 2000, 1000, 280, 'webp'),
  ]);
  console.log(`Uploading ${files.length} images to ${API}/uploads ...`);
  const uploads = [];
  for (const f of files) {
    const accepted = await upload(f);
    console.log(`  ${f.name.padEnd(26)} ${(f.data.length / 1024).toFixed(0).padStart(5)} KiB -> ${accepted.uploadId}`);
    uploads.push({ file: f, id: accepted.uploadId, statusUrl: abs(accepted.statusUrl), status: accepted.status });
  }

  const deadline = Date.now() + TIMEOUT_MS;
  let lastLine = '';
  for (;;) {
    await Promise.all(
      uploads.map(async (u) => {
        const res = await fetch(u.statusUrl);
        if (res.ok) Object.assign(u, { record: await res.json() });
      }),
    );
    const line = uploads
      .map((u) => `${u.file.name.split('.')[0]}: ${u.record?.status ?? u.status} ${u.record?.progress ?? 0}%`)
      .join('   ');
    if (line !== lastLine) {
      if (tty) process.stdout.write(`\r\x1b[K${line}`);
      else console.log(line);
      lastLine = line;
    }
    const finished = uploads.every((u) => ['done', 'dead'].includes(u.record?.status));
    if (finished) break;
    if (Date.now() > deadline) {
      if (tty) process.stdout.write('\n');
      console.error(`Not finished within ${TIMEOUT_MS / 1000} s: is a worker running?`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  if (tty) process.stdout.write('\n');

  let failed = 0;
  for (const u of uploads) {
    const r = u.record;
    console.log(`\n${u.file.name} (${r.width}x${r.height} ${r.format}): ${r.status}   ${u.statusUrl}`);
    if (r.status !== 'done') {
      failed++;
      console.log(`  error: ${r.error?.code ?? ''} ${r.error?.message ?? ''}`);
      continue;
    }
    for (const v of r.variants) {
      console.log(
        `  ${v.name.padEnd(11)} ${`${v.width}x${v.height}`.padEnd(10)} ${String(v.bytes).padStart(7)} B  ${abs(v.url)}`,
      );
    }
  }
  console.log(`\nOpen ${API}/ to upload your own.`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
