import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'jurisdiction-precedence',
  plants:
    'Routing tries the general live rule before the jurisdiction rule, so EU clients of a product offered on both live servers land on the global server.',
  catchBy: ['routing'],
} as const;

export default liteIntegration({ 'jurisdiction-precedence': true });
