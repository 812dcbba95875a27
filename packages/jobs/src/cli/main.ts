#!/usr/bin/env node
// The `bullpen` bin: the one place of the CLI that touches the process (argv, env, streams, exit code).
import { runCli } from './run.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
// Everything is closed by now; should a stray handle keep the event loop alive, do not hang a script.
setTimeout(() => process.exit(code), 2000).unref();
