import { machine } from '../lib/machine.ts';
import { clearFigures, mergeFigures } from './report.ts';

/** Clears the figures of an earlier run, and merges this run's into bench/results/chaos-<date>.json. */
export default function setup() {
  clearFigures();
  const started = Date.now();
  return () => {
    mergeFigures({ date: new Date().toISOString(), machine: machine(), durationS: (Date.now() - started) / 1000 });
  };
}
