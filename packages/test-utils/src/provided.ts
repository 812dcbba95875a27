declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the throw-away Redis of this test run. */
    redisUrl: string;
  }
}

export {};
