export { type Clock, SystemClock } from './clock.ts';
export { ERROR_CODES, type ErrorCode, formatPath, type Issue, MtproofError, schemaIssues } from './errors.ts';
export { deepFreeze } from './freeze.ts';
export { Random, WeightedChoice } from './random.ts';
export { Process, type ProcessState, type RunOptions, type RunResult, Scheduler } from './scheduler.ts';
export { Trace, type TraceEvent, type TraceEventType, type TraceOptions } from './trace.ts';
