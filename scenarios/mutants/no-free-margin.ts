import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'no-free-margin',
  plants:
    'Withdrawals skip the free-margin check ("the server checks it"); MT4 only checks the balance, so a withdrawal can take money an open position is using.',
  catchBy: ['gating'],
} as const;

export default liteIntegration({ 'no-free-margin': true });
