import { describe, expect, it } from 'vitest';
import { checkDeviceToken, checkLoginFormToken, deviceToken, LOGIN_TOKEN_SECONDS, loginFormToken } from './sessions.ts';

const SECRET = 'a-secret-of-thirty-two-characters-or-more';

describe('login form tokens', () => {
  const now = 1_800_000_000;

  it('reuses the browser’s token while it is young, so an open form stays valid', () => {
    const first = loginFormToken(SECRET, undefined, now);
    expect(loginFormToken(SECRET, first, now + 60)).toBe(first);
    expect(loginFormToken(SECRET, first, now + 29 * 60)).toBe(first);
    // Older, a new page gets a new token; the old one is still accepted until it expires.
    const second = loginFormToken(SECRET, first, now + 31 * 60);
    expect(second).not.toBe(first);
    expect(checkLoginFormToken(SECRET, first, first, false, now + 31 * 60)).toBe(true);
    expect(checkLoginFormToken(SECRET, first, first, false, now + LOGIN_TOKEN_SECONDS)).toBe(false);
  });

  it('refuses tokens it did not sign, tampered ones, and a field that does not match the cookie', () => {
    const token = loginFormToken(SECRET, undefined, now);
    const other = loginFormToken(SECRET, undefined, now);
    expect(checkLoginFormToken(SECRET, token, token, false, now)).toBe(true);
    expect(checkLoginFormToken(SECRET, other, token, false, now)).toBe(false);
    expect(checkLoginFormToken(SECRET, token, `${token}x`, false, now)).toBe(false);
    expect(checkLoginFormToken('another-secret-of-thirty-two-chars!!', token, token, false, now)).toBe(false);
    expect(loginFormToken(SECRET, 'forged.1.abc', now)).not.toBe('forged.1.abc');
    // In a browser that says the post is same-origin, a token of ours is enough (two tabs, one cookie).
    expect(checkLoginFormToken(SECRET, other, token, true, now)).toBe(true);
    expect(checkLoginFormToken(SECRET, other, 'forged.1.abc', true, now)).toBe(false);
  });
});

describe('device tokens', () => {
  const ada = { name: 'ada', hash: 'scrypt.16384.8.1.salt.key' };

  it('name the browser of one user, and no longer once the password changes', () => {
    const token = deviceToken(SECRET, ada.name, ada.hash);
    const id = checkDeviceToken(SECRET, token, ada);
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(checkDeviceToken(SECRET, token, { name: 'bob', hash: ada.hash })).toBeUndefined();
    expect(checkDeviceToken(SECRET, token, { ...ada, hash: 'scrypt.16384.8.1.salt.other' })).toBeUndefined();
    expect(checkDeviceToken(SECRET, `${token.slice(0, -2)}xx`, ada)).toBeUndefined();
    expect(checkDeviceToken(SECRET, undefined, ada)).toBeUndefined();
  });
});
