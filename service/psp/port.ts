/**
 * The payment provider's side of reconciliation: what the PSP says happened (card deposits, payouts).
 * Adapters: the simulated PSP (tests, scenarios) and a CSV export importer (real providers' reports).
 */

export interface PspRecord {
  /** The provider's id of the payment. */
  pspRef: string;
  kind: 'deposit' | 'payout';
  status: 'succeeded' | 'failed' | 'pending';
  amountCents: number;
  currency: string;
  /** The merchant reference sent with the payment (the broker's account id or transfer ref), if any. */
  reference: string | null;
  /** When the provider settled it (epoch ms). */
  atMs: number;
}

export interface PaymentRecords {
  /** Every record with `atMs` in [fromMs, toMs]. */
  records(fromMs: number, toMs: number): Promise<PspRecord[]>;
}

/** Records held in memory: an imported export, or a test's list. */
export class StaticPaymentRecords implements PaymentRecords {
  readonly #records: readonly PspRecord[];

  constructor(records: readonly PspRecord[]) {
    this.#records = records.map((r) => Object.freeze({ ...r }));
  }

  async records(fromMs: number, toMs: number): Promise<PspRecord[]> {
    return this.#records.filter((r) => r.atMs >= fromMs && r.atMs <= toMs).map((r) => ({ ...r }));
  }
}
