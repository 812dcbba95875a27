import { describe, expect, it } from 'vitest';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.ts';
import { safeNext } from './routes/login.ts';
import { parseUsers } from './users.ts';

const fast = { N: 1024, r: 8, p: 1 };

describe('password hashes', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const hash = await hashPassword('correct horse', fast);
    expect(isPasswordHash(hash)).toBe(true);
    expect(hash).toMatch(/^scrypt\.1024\.8\.1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsE', hash)).toBe(false);
  });

  it('salts each hash and never matches a malformed one', async () => {
    expect(await hashPassword('x', fast)).not.toBe(await hashPassword('x', fast));
    for (const bad of [
      '',
      'plain',
      'scrypt.1024.8.1.abc',
      'scrypt.1000.8.1.c2FsdA.a2V5a2V5a2V5a2V5a2V5a2V5',
      'scrypt$1024$8$1$a$b',
    ]) {
      expect(await verifyPassword('x', bad)).toBe(false);
    }
  });

  it('holds no character that DASHBOARD_USERS or a shell would split or interpolate', async () => {
    const hash = await hashPassword('p', fast);
    expect(hash).not.toMatch(/[:,$\s]/);
    expect(parseUsers([`ada:operator:${hash}`]).get('ada')).toEqual({ name: 'ada', role: 'operator', hash });
  });
});

describe('safeNext', () => {
  it('allows only paths of this site after login', () => {
    expect(safeNext('/dead-letters?queue=images')).toBe('/dead-letters?queue=images');
    for (const bad of [
      '//evil.example',
      '/\\evil.example',
      'https://evil.example',
      'javascript:alert(1)',
      '/login',
      undefined,
    ]) {
      expect(safeNext(bad)).toBeUndefined();
    }
  });
});
