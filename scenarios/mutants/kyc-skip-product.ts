import { liteIntegration } from './lite.ts';

/** A planted bug for `mtproof mutants` (see README.md): the lite integration with one deviation. */
export const mutant = {
  name: 'kyc-skip-product',
  plants:
    "The KYC gate is missing for products offered on several servers ('pro' in the example config): a client without approved KYC opens and funds a live account.",
  catchBy: ['gating'],
} as const;

export default liteIntegration({ 'kyc-skip-product': true });
