import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'ref-after-send',
  plants:
    "The deposit is sent from the webhook handler and stored (with its reference) only after the server answers; a crash in between forgets it, and the provider's webhook retry posts it again under a new reference.",
  catchBy: ['exactly-once'],
} as const;

export default liteIntegration({ 'ref-after-send': true });
