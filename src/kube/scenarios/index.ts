/** The scenarios `podwire scenario list` shows, in the order of docs/scenarios.md. */
import type { Scenario } from './scenario.js';
import { hairpin } from './hairpin.js';

export const SCENARIOS: readonly Scenario[] = [hairpin];
