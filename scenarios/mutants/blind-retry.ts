import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'blind-retry',
  plants:
    "After a send whose answer was lost (unknown), the next attempt posts again without looking at the server's history, so a deposit the server did apply is posted twice.",
  catchBy: ['exactly-once'],
} as const;

export default liteIntegration({ 'blind-retry': true });
