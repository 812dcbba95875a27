import type { DeadLetter, DeadLetterEntry } from './dead-letter.ts';
import { ledgerIdFor } from './envelope.ts';
import type { Ledger, StepRecord } from './ledger.ts';
import { replayLedger } from './replay.ts';

/** One failed attempt in a letter's timeline. */
export interface TimelineAttempt {
  /** The job that made it: the letter's own job, or an earlier one with the same ledger (a replay's source). */
  jobId: string;
  /** 1 for that job's first try. */
  attempt: number;
  /** When it failed (ISO); absent for attempts made before the ledger recorded them. */
  at?: string;
  /** When it started (ISO), when known. */
  startedAt?: string;
  /** The step running when the handler threw; absent when it threw outside any step (or was not recorded). */
  step?: string;
  code?: string;
  name: string;
  message: string;
  /** Kept by the letter for its own job's attempts. */
  stack?: string;
}

/** A dead letter's story from its ledger: which steps had finished, where each attempt failed, what a replay does. */
export interface LetterTimeline {
  id: string;
  /** The source queue. */
  queue: string;
  /** The ledger record the letter's job used. */
  ledgerId: string;
  /** Steps that had finished, in the order they finished: their results are stored. */
  steps: StepRecord[];
  /** Every failed attempt known, oldest first (earlier jobs with the same ledger, then the letter's own). */
  attempts: TimelineAttempt[];
  /** What a replay would do if started now. */
  replay: {
    /** The ledger the replay would use. */
    ledgerId: string;
    /** The payload was edited since the failure: the replay starts a fresh ledger and runs every step. */
    freshLedger: boolean;
    /** Steps the replay skips (it reuses their stored results). */
    skips: string[];
    /** The step the last attempt failed in: the replay runs it again (and whatever follows it). */
    resumesAt?: string;
    /** The ledger marks the work done: the replay completes at once without running the handler. */
    completesAtOnce: boolean;
  };
}

/** The ledger of a letter's job. */
const letterLedger = (letter: DeadLetter) => ledgerIdFor(letter.name, letter.sourceQueue, letter.jobId, letter.meta);

/** The letter's own attempts (errors, stacks), with the ledger's record of when and where each failed. */
function ownAttempts(letter: DeadLetter, failures: readonly TimelineAttempt[]): TimelineAttempt[] {
  const own = new Map<number, TimelineAttempt>();
  for (const a of letter.attempts) {
    own.set(a.attempt, {
      jobId: letter.jobId,
      attempt: a.attempt,
      ...(a.at ? { at: a.at } : {}),
      ...(a.code ? { code: a.code } : {}),
      name: a.name,
      message: a.message,
      ...(a.stack ? { stack: a.stack } : {}),
    });
  }
  for (const f of failures) {
    const a = own.get(f.attempt);
    own.set(f.attempt, {
      ...f,
      ...(a ?? {}),
      ...(f.at ? { at: f.at } : {}),
      ...(f.startedAt ? { startedAt: f.startedAt } : {}),
      ...(f.step !== undefined ? { step: f.step } : {}),
    });
  }
  return [...own.values()].sort((a, b) => a.attempt - b.attempt);
}

/**
 * Joins a letter's attempts (errors, stacks) with its ledger: finished steps (name, when, stored size), every
 * attempt (the source job's too, for a replay's letter) and what a replay would do now (skips, the step it
 * resumes at, a fresh ledger after an edit).
 */
export async function letterTimeline(ledger: Ledger, entry: DeadLetterEntry): Promise<LetterTimeline> {
  const { letter } = entry;
  const ledgerId = letterLedger(letter);
  const recorded = await ledger.timeline(ledgerId);
  const earlier = recorded.failures.filter((f) => f.jobId !== letter.jobId);
  const attempts = [
    ...earlier,
    ...ownAttempts(
      letter,
      recorded.failures.filter((f) => f.jobId === letter.jobId),
    ),
  ];
  const freshLedger = (letter.edits?.length ?? 0) > 0;
  const last = attempts.at(-1);
  return {
    id: entry.id,
    queue: entry.queue,
    ledgerId,
    steps: recorded.steps,
    attempts,
    replay: {
      ledgerId: replayLedger(letter),
      freshLedger,
      skips: freshLedger ? [] : recorded.steps.map((s) => s.name),
      ...(!freshLedger && last?.step !== undefined ? { resumesAt: last.step } : {}),
      completesAtOnce: !freshLedger && recorded.done,
    },
  };
}
