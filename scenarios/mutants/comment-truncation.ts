import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'comment-truncation',
  plants:
    "The comment is a readable 'Deposit <client> <account> <ref>' that the server cuts to 31 characters: the reference is lost, comments of one account collide, and the lookup after a lost answer never finds its own posting.",
  catchBy: ['exactly-once', 'reconciliation'],
} as const;

export default liteIntegration({ 'comment-truncation': true });
