import type { Clock } from '../../kit/clock.ts';
import type { PaymentRecords, PspRecord } from './port.ts';

/**
 * A simulated payment provider for tests and scenarios: it confirms deposits and performs payouts, and
 * keeps the records a real provider's report would show. It does no I/O and takes its time from a clock.
 */
export class SimulatedPsp implements PaymentRecords {
  readonly #clock: Clock;
  readonly #records = new Map<string, PspRecord>();
  #next = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A card deposit the provider confirmed (the broker learns of it through its webhook). */
  confirmDeposit(input: { amountCents: number; currency: string; reference?: string; pspRef?: string }): PspRecord {
    return this.#add('deposit', 'succeeded', input);
  }

  /** A deposit the provider declined. */
  declineDeposit(input: { amountCents: number; currency: string; reference?: string; pspRef?: string }): PspRecord {
    return this.#add('deposit', 'failed', input);
  }

  /** Pays a withdrawal out (or fails to): the record the broker's payout callback reports. */
  payout(input: {
    amountCents: number;
    currency: string;
    reference: string;
    succeeded: boolean;
    pspRef?: string;
  }): PspRecord {
    return this.#add('payout', input.succeeded ? 'succeeded' : 'failed', input);
  }

  all(): PspRecord[] {
    return [...this.#records.values()].map((r) => ({ ...r }));
  }

  async records(fromMs: number, toMs: number): Promise<PspRecord[]> {
    return this.all().filter((r) => r.atMs >= fromMs && r.atMs <= toMs);
  }

  #add(
    kind: PspRecord['kind'],
    status: PspRecord['status'],
    input: { amountCents: number; currency: string; reference?: string; pspRef?: string },
  ): PspRecord {
    if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) {
      throw new Error(`simulated psp: amount must be a positive integer of minor units, got ${input.amountCents}`);
    }
    let pspRef = input.pspRef;
    // Generated ids skip any a caller chose.
    while (pspRef === undefined || (input.pspRef === undefined && this.#records.has(pspRef))) {
      pspRef = `PSP${String(++this.#next).padStart(8, '0')}`;
    }
    if (this.#records.has(pspRef)) throw new Error(`simulated psp: duplicate pspRef ${pspRef}`);
    const record: PspRecord = {
      pspRef,
      kind,
      status,
      amountCents: input.amountCents,
      currency: input.currency,
      reference: input.reference ?? null,
      atMs: this.#clock.nowMs(),
    };
    this.#records.set(pspRef, record);
    return { ...record };
  }
}
