/** NetworkPolicy: the model (types.ts), validation (validate.ts) and the engine (evaluate.ts). */
export * from './types.js';
export * from './validate.js';
export * from './evaluate.js';
