/**
 * Prints a DASHBOARD_USERS entry: `pnpm --filter @bullpen/dashboard hash-password <name> <viewer|operator>`,
 * then type the password (read from stdin, never from the command line, so it stays out of shell history).
 */
import { createInterface } from 'node:readline';
import { hashPassword } from './passwords.ts';

async function readPassword(): Promise<string> {
  if (process.env.DASHBOARD_PASSWORD) return process.env.DASHBOARD_PASSWORD;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const line = await new Promise<string>((resolve) => rl.once('line', resolve));
  rl.close();
  return line;
}

async function main() {
  const [name, role = 'viewer'] = process.argv.slice(2).filter((a) => a !== '--');
  if (!name || !/^[A-Za-z0-9_.@-]{1,64}$/.test(name) || (role !== 'viewer' && role !== 'operator')) {
    process.stderr.write(
      'usage: hash-password <name> <viewer|operator>   (password on stdin or in DASHBOARD_PASSWORD)\n',
    );
    process.exit(2);
  }
  const password = await readPassword();
  if (password.length < 8) {
    process.stderr.write('the password must have 8 characters or more\n');
    process.exit(2);
  }
  process.stdout.write(`${name}:${role}:${await hashPassword(password)}\n`);
}

void main();
