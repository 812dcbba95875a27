import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

/** Where the stylesheet and the icons are served: public, the same for everyone. */
export const STYLESHEET_URL = '/assets/dashboard.css';
export const ICON_URL = '/assets/favicon.svg';

const FILES = [
  { url: STYLESHEET_URL, file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  { url: ICON_URL, file: 'favicon.svg', type: 'image/svg+xml' },
  // Browsers ask for it on their own, logged in or not.
  { url: '/favicon.ico', file: 'favicon.ico', type: 'image/x-icon' },
];

/** Serves the dashboard's own files (read once, with an ETag), without a session and never redirected. */
export function assetRoutes(app: FastifyInstance) {
  // Beside src/ and dist/, so the source and the build (and the image, which ships dist/ and assets/) find them.
  const dir = path.join(import.meta.dirname, '../assets');
  for (const { url, file, type } of FILES) {
    const body = readFileSync(path.join(dir, file));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    app.get(url, { config: { asset: true } }, async (req, reply) => {
      reply.header('cache-control', 'public, max-age=3600').header('etag', etag);
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(type).send(body);
    });
  }
}
