/**
 * A worker thread that runs one entry of one section (see entry.mjs): a fresh V8 isolate
 * per figure. workerData: { section, index, cfg, filter }. Posts { type: 'figure' |
 * 'note' | 'progress', ... } messages, then exits; an exception fails the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runEntry } from './entry.mjs';

const { section, index, cfg, filter } = workerData;
const re = filter === null ? null : new RegExp(filter);
const match = (name) => re === null || re.test(name);
const post = (m) => parentPort.postMessage(m);
const mod = await import(section);
const entries = await mod.benchmarks({ quick: cfg.quick });
const entry = entries[index];
if (entry === undefined) throw new Error(`${section}: no entry ${index} (the list changed between threads)`);
await runEntry(entry, cfg, match, {
  emit: (figure) => post({ type: 'figure', figure }),
  note: (text) => post({ type: 'note', text }),
  progress: (text) => post({ type: 'progress', text }),
});
