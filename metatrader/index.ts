// Public surface of metatrader/: constants and pure lookups only (see README.md).
export * from './codes.ts';
export * from './constants.ts';
export { groupMatches } from './groups.ts';
export * from './limits.ts';
