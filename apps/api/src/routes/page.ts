import { VARIANT_WIDTHS } from '@bullpen/uploads';
import type { FastifyInstance } from 'fastify';

// One self-contained page: no build step, no external assets. Everything user-provided is set
// through textContent / attributes, never innerHTML.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bullpen: upload an image</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.5rem; }
  form { display: grid; gap: .75rem; padding: 1rem; border: 1px solid #ccc; border-radius: .5rem; }
  fieldset { border: 0; padding: 0; margin: 0; }
  button { justify-self: start; padding: .4rem 1.2rem; font-size: 1rem; }
  progress { width: 100%; }
  #status { font-family: ui-monospace, monospace; white-space: pre-wrap; }
  .error { color: #b00020; }
  #variants { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-end; }
  figure { margin: 0; text-align: center; }
  figure img { display: block; max-width: 256px; max-height: 256px; border: 1px solid #ddd; }
  figcaption { font-size: .8rem; color: #555; }
</style>
</head>
<body>
<h1>Upload an image</h1>
<p>JPEG, PNG, WebP, GIF, AVIF or TIFF. It is resized in the background into ${VARIANT_WIDTHS.join(', ')} px wide variants (WebP and the original format).</p>
<form id="form">
  <input type="file" name="file" id="file" accept="image/jpeg,image/png,image/webp,image/gif,image/avif,image/tiff" required>
  <fieldset><legend>Sizes</legend>
    ${VARIANT_WIDTHS.map((w) => `<label><input type="checkbox" name="sizes" value="${w}" checked> ${w}px</label>`).join('\n    ')}
  </fieldset>
  <button type="submit" id="submit">Upload</button>
</form>
<p><progress id="progress" max="100" value="0" hidden></progress></p>
<div id="status" role="status" aria-live="polite"></div>
<div id="variants"></div>
<p><a href="/docs">API documentation</a></p>
<script>
(() => {
  const form = document.getElementById('form');
  const statusEl = document.getElementById('status');
  const bar = document.getElementById('progress');
  const variantsEl = document.getElementById('variants');
  const say = (text, isError) => { statusEl.textContent = text; statusEl.className = isError ? 'error' : ''; };
  let timer;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearTimeout(timer);
    variantsEl.replaceChildren();
    const fileInput = document.getElementById('file');
    if (!fileInput.files.length) return say('Pick a file first.', true);
    const data = new FormData();
    const sizes = [...form.querySelectorAll('input[name=sizes]:checked')].map((i) => i.value);
    if (sizes.length) data.append('sizes', sizes.join(','));
    data.append('file', fileInput.files[0]);
    document.getElementById('submit').disabled = true;
    say('Uploading...');
    try {
      const res = await fetch('/uploads', { method: 'POST', body: data, headers: { 'Idempotency-Key': crypto.randomUUID() } });
      const body = await res.json();
      if (!res.ok) return say(body.error.code + ': ' + body.error.message, true);
      bar.hidden = false; bar.value = 0;
      poll(body.statusUrl);
    } catch (err) {
      say('Upload failed: ' + err.message, true);
    } finally {
      document.getElementById('submit').disabled = false;
    }
  });
  async function poll(url) {
    let s;
    try {
      const res = await fetch(url, { headers: { accept: 'application/json' } });
      s = await res.json();
      if (!res.ok) return say(s.error.code + ': ' + s.error.message, true);
    } catch (err) {
      timer = setTimeout(() => poll(url), 1000);
      return say('Status unavailable, retrying: ' + err.message, true);
    }
    bar.value = s.progress;
    say(s.status + ' (' + s.progress + '%), ' + s.width + 'x' + s.height + ' ' + s.format + (s.error ? '\\n' + s.error.code + ': ' + s.error.message : ''), s.status === 'dead');
    show(s.variants);
    if (s.status !== 'done' && s.status !== 'dead' && s.status !== 'cancelled') timer = setTimeout(() => poll(url), 700);
  }
  function show(variants) {
    for (const v of variants) {
      if (document.getElementById('v-' + v.name)) continue;
      const fig = document.createElement('figure');
      fig.id = 'v-' + v.name;
      const a = document.createElement('a');
      a.href = v.url;
      const img = document.createElement('img');
      img.src = v.url; img.alt = v.name; img.loading = 'lazy';
      a.append(img);
      const cap = document.createElement('figcaption');
      cap.textContent = v.name + ' - ' + v.width + 'x' + v.height + ', ' + Math.round(v.bytes / 1024) + ' KiB';
      fig.append(a, cap);
      variantsEl.append(fig);
    }
  }
})();
</script>
</body>
</html>
`;

/** `GET /`: a small upload page a person can use in a browser. */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .send(PAGE),
  );
}
