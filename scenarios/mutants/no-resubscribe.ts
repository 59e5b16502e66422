import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'no-resubscribe',
  plants:
    'After a reconnect (or a silent pump stall) the pumping stream is never subscribed again and nothing is filled from history, so later trades go unseen.',
  catchBy: ['trade-sync'],
} as const;

export default liteIntegration({ 'no-resubscribe': true });
