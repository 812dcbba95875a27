#!/usr/bin/env node
// Writes .env for `docker compose up` (once; an existing .env is left alone): a random WEBHOOK_SECRET and
// DASHBOARD_SESSION_SECRET, and a dashboard operator `admin` with a random password, stored as its scrypt hash
// in the dashboard's format (`scrypt.N.r.p.salt.key`, base64url; see apps/dashboard/src/passwords.ts).
// .env is git-ignored; the password is printed, and kept as a comment in .env for local use.
import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const out = process.argv.find((a) => a.startsWith('--out='));
const file = out ? path.resolve(out.slice(6)) : path.resolve(import.meta.dirname, '..', '.env');
if (existsSync(file) && !process.argv.includes('--force')) {
  console.log(`${path.relative(process.cwd(), file) || '.env'} exists: left as it is (--force to replace it).`);
  process.exit(0);
}

const N = 16384;
const r = 8;
const p = 1;
const password = randomBytes(12).toString('base64url');
const salt = randomBytes(16);
const key = scryptSync(password.normalize('NFKC'), salt, 32, { N, r, p, maxmem: 256 * N * r });
const hash = `scrypt.${N}.${r}.${p}.${salt.toString('base64url')}.${key.toString('base64url')}`;

const lines = [
  '# Written by scripts/compose-env.mjs for docker compose. Never commit this file.',
  `# Dashboard login (local use): admin / ${password}`,
  `WEBHOOK_SECRET=${randomBytes(32).toString('hex')}`,
  `DASHBOARD_SESSION_SECRET=${randomBytes(36).toString('base64url')}`,
  `DASHBOARD_USERS=admin:operator:${hash}`,
  '',
];
writeFileSync(file, lines.join('\n'), { mode: 0o600 });
console.log(`wrote ${file}\ndashboard login: admin / ${password}`);
