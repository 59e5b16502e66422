import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'recon-ignores-credit',
  plants:
    "Reconciliation skips credit operations, so a dealer's manual credit edit (or a credit posted twice) is never reported.",
  catchBy: ['reconciliation'],
} as const;

export default liteIntegration({ 'recon-ignores-credit': true });
