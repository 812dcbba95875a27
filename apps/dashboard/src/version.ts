import { createRequire } from 'node:module';

/** This app's version (its package.json: `../package.json` from src/ and dist/ alike), when BUILD_VERSION is unset. */
export const APP_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
