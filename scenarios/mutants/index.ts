import type { IntegrationFactory } from '../integration.ts';
import type { InvariantName } from '../script.ts';
import blindRetry, { mutant as blindRetryMutant } from './blind-retry.ts';
import commentTruncation, { mutant as commentTruncationMutant } from './comment-truncation.ts';
import jurisdictionPrecedence, { mutant as jurisdictionPrecedenceMutant } from './jurisdiction-precedence.ts';
import kycSkipProduct, { mutant as kycSkipProductMutant } from './kyc-skip-product.ts';
import type { BugName } from './lite.ts';
import noFreeMargin, { mutant as noFreeMarginMutant } from './no-free-margin.ts';
import noResubscribe, { mutant as noResubscribeMutant } from './no-resubscribe.ts';
import reconIgnoresCredit, { mutant as reconIgnoresCreditMutant } from './recon-ignores-credit.ts';
import refAfterSend, { mutant as refAfterSendMutant } from './ref-after-send.ts';

export { BUG_NAMES, type BugName, liteIntegration } from './lite.ts';

/** One planted bug: what it plants, which invariants should catch it, and the module that carries it. */
export interface MutantEntry {
  name: BugName;
  /** Path of the module from the repository root (usable as `--integration MODULE`). */
  module: string;
  factory: IntegrationFactory;
  plants: string;
  /** The invariants that should catch it, in INVARIANT_NAMES order: a fail of any one of them is a catch. */
  catchBy: readonly InvariantName[];
}

/** Every mutant `mtproof mutants` runs, in a fixed order. */
export const MUTANTS: readonly MutantEntry[] = [
  { ...blindRetryMutant, module: 'scenarios/mutants/blind-retry.ts', factory: blindRetry },
  { ...refAfterSendMutant, module: 'scenarios/mutants/ref-after-send.ts', factory: refAfterSend },
  { ...commentTruncationMutant, module: 'scenarios/mutants/comment-truncation.ts', factory: commentTruncation },
  {
    ...jurisdictionPrecedenceMutant,
    module: 'scenarios/mutants/jurisdiction-precedence.ts',
    factory: jurisdictionPrecedence,
  },
  { ...noFreeMarginMutant, module: 'scenarios/mutants/no-free-margin.ts', factory: noFreeMargin },
  { ...reconIgnoresCreditMutant, module: 'scenarios/mutants/recon-ignores-credit.ts', factory: reconIgnoresCredit },
  { ...kycSkipProductMutant, module: 'scenarios/mutants/kyc-skip-product.ts', factory: kycSkipProduct },
  { ...noResubscribeMutant, module: 'scenarios/mutants/no-resubscribe.ts', factory: noResubscribe },
];
