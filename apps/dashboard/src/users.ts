import { DEFAULT_SCRYPT, hashPassword, verifyPassword } from './passwords.ts';

export type Role = 'viewer' | 'operator';

export interface User {
  name: string;
  role: Role;
  hash: string;
}

/** Who is making a request. */
export interface Identity {
  user: string;
  role: Role;
  /** How they proved it: a session cookie, HTTP Basic auth, or nothing (auth switched off). */
  via: 'session' | 'basic' | 'auth-disabled';
  /** The session id, when via a session (CSRF tokens are bound to it). */
  sessionId?: string;
}

/** Parses DASHBOARD_USERS (`name:role:hash`, already checked by the config schema). */
export function parseUsers(entries: readonly string[]): Map<string, User> {
  const users = new Map<string, User>();
  for (const entry of entries) {
    const [name, role, hash] = entry.split(':');
    if (!name || (role !== 'viewer' && role !== 'operator') || !hash) {
      throw new TypeError(`DASHBOARD_USERS entry for "${name}" is malformed`);
    }
    users.set(name, { name, role, hash });
  }
  return users;
}

/** Checks credentials. Unknown users cost as much as known ones, so timing tells nothing. */
export class UserDirectory {
  private dummy: Promise<string> | undefined;
  constructor(readonly users: ReadonlyMap<string, User>) {}

  get(name: string): User | undefined {
    return this.users.get(name);
  }

  async verify(name: string, password: string): Promise<User | undefined> {
    const user = this.users.get(name);
    if (!user) {
      this.dummy ??= hashPassword('not-a-password', DEFAULT_SCRYPT);
      await verifyPassword(password, await this.dummy);
      return undefined;
    }
    return (await verifyPassword(password, user.hash)) ? user : undefined;
  }
}
