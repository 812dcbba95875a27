// Run by scripts/up.mjs before it starts anything: every app's configuration, checked by the apps' own
// schemas, so a bad variable is one clear CONFIG_INVALID message rather than a crash halfway through start-up.
import { ConfigError, parseConfig, type Slice } from '@bullpen/config';

const env = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
const problems: string[] = [];
for (const slice of ['api', 'worker', 'dashboard'] satisfies Slice[]) {
  try {
    parseConfig(slice, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) if (!problems.includes(p)) problems.push(p);
  }
}
if (problems.length > 0) {
  process.stderr.write(
    `CONFIG_INVALID: ${problems.join('; ')}\nSee .env.example for every variable and its default.\n`,
  );
  process.exit(1);
}
