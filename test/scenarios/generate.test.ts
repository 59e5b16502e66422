import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../../kit/random.ts';
import {
  EU_COUNTRIES,
  generateScript,
  MT4_TEXT_MAX,
  NON_EU_COUNTRIES,
  profileForRun,
  RANDOM_DEALER_KINDS,
  SCRIPTED_FAULT_KINDS,
  safetyFaults,
  scriptArbitrary,
} from '../../scenarios/generate.ts';
import { PROFILE_NAMES, PROFILES, type ProfileName } from '../../scenarios/profiles.ts';
import { parseScript, type Script, type Step } from '../../scenarios/script.ts';
import { type BrokerConfigInput, parseBrokerConfig } from '../../service/config.ts';
import { DEFAULT_BROKER_CONFIG } from '../../service/default-config.ts';
import { needsKyc, route } from '../../service/domain/routing.ts';
import { checkFaultParams, FAULT_KINDS, parseFaultConfig, planFaults } from '../../simulator/faults.ts';
import { propertyParams } from '../property.ts';

/** Generators: scripts of broker days, one per (seed, run) and profile, shrinkable by fast-check. */

const CONFIG = parseBrokerConfig(DEFAULT_BROKER_CONFIG);
const SEEDS = ['alpha', 'bravo', '20260105'];

/** Generated once per (profile, seed, run): several tests read the same 1000-step days. */
const days = new Map<string, Script>();
function day(profile: ProfileName, seed = 'alpha', run = 0, steps = 1000): Script {
  const key = `${profile}/${seed}/${run}/${steps}`;
  let script = days.get(key);
  if (script === undefined) {
    script = generateScript({ seed, run, profile, steps });
    days.set(key, script);
  }
  return script;
}

function allDays(): Script[] {
  return PROFILE_NAMES.flatMap((profile) => SEEDS.map((seed) => day(profile, seed)));
}

function count(script: Script, kind: Step['do']): number {
  return script.steps.filter((s) => s.do === kind).length;
}

/** Virtual time at which each step runs: only waits move time. */
function times(script: Script): number[] {
  let now = 0;
  return script.steps.map((step) => {
    const at = now;
    if (step.do === 'wait') now += step.ms;
    return at;
  });
}

/**
 * Replays a script's references the way the runner resolves them: a client exists once registered, an
 * account once an open was accepted (KYC and routing allow it), a trade once opened and until closed.
 * Returns the share of references that name an entity that exists at that point.
 */
function existingReferenceShare(script: Script): number {
  const clients = new Map<string, { country: string; kyc: string }>();
  const accounts = new Set<string>();
  const trades = new Set<string>();
  let refs = 0;
  let found = 0;
  const ref = (exists: boolean) => {
    refs++;
    if (exists) found++;
  };
  for (const step of script.steps) {
    switch (step.do) {
      case 'client':
        clients.set(step.id, { country: step.country, kyc: 'none' });
        break;
      case 'kyc': {
        const client = clients.get(step.client);
        ref(client !== undefined);
        if (client !== undefined) client.kyc = step.decision;
        break;
      }
      case 'open': {
        const client = clients.get(step.client);
        ref(client !== undefined);
        const product = CONFIG.products.find((p) => p.id === step.product);
        if (client === undefined || product === undefined) break;
        const placed = route(CONFIG, client.country, product, () => false).ok;
        if (placed && (client.kyc === 'approved' || !needsKyc(CONFIG, product))) accounts.add(step.id);
        break;
      }
      case 'deposit':
      case 'withdraw':
      case 'credit':
      case 'dealer-balance':
      case 'dealer-credit':
      case 'dealer-group':
        ref(accounts.has(step.account));
        break;
      case 'trade-open':
        ref(accounts.has(step.account));
        if (accounts.has(step.account)) trades.add(step.id);
        break;
      case 'trade-close':
        ref(trades.has(step.trade));
        trades.delete(step.trade);
        break;
      default:
        break;
    }
  }
  return refs === 0 ? 1 : found / refs;
}

describe('generateScript', () => {
  it('generates scripts that parse unchanged, for every profile and many seeds, runs and sizes', () => {
    const { seed, numRuns } = propertyParams('generated scripts parse', 40);
    fc.assert(
      fc.property(
        fc.constantFrom(...PROFILE_NAMES),
        fc.stringMatching(/^[a-z0-9]{1,12}$/),
        fc.nat({ max: 1_000 }),
        fc.integer({ min: 0, max: 400 }),
        (profile, runSeed, run, steps) => {
          const script = generateScript({ seed: runSeed, run, profile, steps });
          // Deep-equal after parsing: every default is already filled in, nothing is dropped or coerced.
          expect(parseScript(script)).toEqual(script);
        },
      ),
      { seed, numRuns },
    );
  });

  it('is a function of (seed, run): the same pair gives the same script, another run or seed another', () => {
    const a = generateScript({ seed: 'alpha', run: 3, profile: 'busy-monday', steps: 300 });
    const b = generateScript({ seed: 'alpha', run: 3, profile: 'busy-monday', steps: 300 });
    expect(b).toEqual(a);
    const otherRun = generateScript({ seed: 'alpha', run: 4, profile: 'busy-monday', steps: 300 });
    const otherSeed = generateScript({ seed: 'bravo', run: 3, profile: 'busy-monday', steps: 300 });
    expect(otherRun.steps).not.toEqual(a.steps);
    expect(otherSeed.steps).not.toEqual(a.steps);
  });

  it('names the script after its profile and run and records where it came from', () => {
    const script = generateScript({ seed: 'alpha', run: 7, profile: 'month-end', steps: 50 });
    expect(script.name).toBe('month-end-run7');
    expect(script.seed).toBe('alpha.7');
    expect(script.mtproof).toBe('scenario/1');
    expect(script.origin).toEqual({ runSeed: 'alpha', run: 7, profile: 'month-end' });
    expect(script.faults).toEqual(safetyFaults('month-end', 'alpha.7'));
  });

  it('honours the requested number of steps (1000 asked: 900 to 1100 given; 0 asked: none)', () => {
    for (const script of allDays()) {
      expect(script.steps.length, script.name).toBeGreaterThanOrEqual(900);
      expect(script.steps.length, script.name).toBeLessThanOrEqual(1100);
    }
    for (const profile of PROFILE_NAMES) {
      expect(generateScript({ seed: 'alpha', run: 0, profile, steps: 0 }).steps).toEqual([]);
    }
  });

  it("spans about the profile's day in virtual time", () => {
    for (const script of allDays()) {
      const profile = PROFILES[script.origin?.profile as ProfileName];
      const waited = script.steps.reduce((sum, s) => sum + (s.do === 'wait' ? s.ms : 0), 0);
      expect(waited / profile.dayMs, script.name).toBeGreaterThan(0.75);
      expect(waited / profile.dayMs, script.name).toBeLessThan(1.25);
    }
  });

  it('refuses a seed too long for the script seed and a run that is not a whole number', () => {
    expect(() => generateScript({ seed: 'x'.repeat(64), run: 0, profile: 'quiet-day', steps: 1 })).toThrow(/seed/);
    expect(() => generateScript({ seed: 'alpha', run: -1, profile: 'quiet-day', steps: 1 })).toThrow(/run/);
    expect(() => generateScript({ seed: 'alpha', run: 0, profile: 'quiet-day', steps: 1.5 })).toThrow(/steps/);
  });
});

describe('generated days', () => {
  it('mostly name entities that exist at that point (90% of references or more)', () => {
    for (const script of allDays()) expect(existingReferenceShare(script), script.name).toBeGreaterThanOrEqual(0.9);
  });

  it('introduce clients before acting for them, from EU and non-EU countries, with faker names and emails of at most 31 ASCII characters', () => {
    const countries = new Set<string>();
    for (const script of allDays()) {
      const first = script.steps.findIndex((s) => s.do !== 'wait');
      expect(['client', 'fault', 'reconcile', 'crash', 'server-restart']).toContain(script.steps[first]?.do);
      for (const step of script.steps) {
        if (step.do !== 'client') continue;
        countries.add(step.country);
        for (const text of [step.name, step.email]) {
          expect(text).toBeDefined();
          expect(text?.length, text).toBeLessThanOrEqual(MT4_TEXT_MAX);
          expect(text, text).toMatch(/^[\x20-\x7e]+$/);
        }
        expect(step.name).toMatch(/^\S+ \S/);
        expect(step.email).toMatch(/^[^@\s]+@[^@\s]+\.[a-z]+$/);
      }
      const emails = script.steps.flatMap((s) => (s.do === 'client' ? [s.email] : []));
      expect(new Set(emails).size, script.name).toBe(emails.length);
    }
    expect(EU_COUNTRIES.some((c) => countries.has(c))).toBe(true);
    expect(NON_EU_COUNTRIES.some((c) => countries.has(c))).toBe(true);
  });

  it('mostly approve KYC, sometimes leave it pending or reject it, and sometimes approve only after an open was asked', () => {
    let approved = 0;
    let pendingOrRejected = 0;
    let approvedAfterRefusedOpen = 0;
    for (const script of allDays()) {
      const kyc = new Map<string, string>();
      const refusedBefore = new Set<string>();
      for (const step of script.steps) {
        if (step.do === 'kyc') {
          if (step.decision === 'approved') {
            approved++;
            if (refusedBefore.has(step.client) && kyc.get(step.client) !== 'approved') approvedAfterRefusedOpen++;
          } else pendingOrRejected++;
          kyc.set(step.client, step.decision);
        }
        if (step.do === 'open') {
          const product = CONFIG.products.find((p) => p.id === step.product);
          if (product !== undefined && needsKyc(CONFIG, product) && kyc.get(step.client) !== 'approved') {
            refusedBefore.add(step.client);
          }
        }
      }
    }
    expect(approved).toBeGreaterThan(3 * pendingOrRejected);
    expect(pendingOrRejected).toBeGreaterThan(0);
    expect(approvedAfterRefusedOpen).toBeGreaterThan(0);
  });

  it("open live and demo products of the broker config, and mostly ones routing places for the client's country", () => {
    const products = new Set<string>();
    let placed = 0;
    let opens = 0;
    for (const script of allDays()) {
      const countries = new Map<string, string>();
      for (const step of script.steps) {
        if (step.do === 'client') countries.set(step.id, step.country);
        if (step.do !== 'open') continue;
        products.add(step.product);
        const product = CONFIG.products.find((p) => p.id === step.product);
        expect(product, step.product).toBeDefined();
        const country = countries.get(step.client);
        opens++;
        if (country !== undefined && product !== undefined && route(CONFIG, country, product, () => false).ok) placed++;
      }
    }
    expect([...products].sort()).toEqual(CONFIG.products.map((p) => p.id).sort());
    expect(placed / opens).toBeGreaterThan(0.85);
  });

  it('move money in whole cents, some of it exactly at the funding limits and some withdrawals above what the account holds', () => {
    const limits = CONFIG.funding.currencies.USD;
    let atDepositLimit = 0;
    let overdrawn = 0;
    for (const script of allDays()) {
      const deposited = new Map<string, number>();
      for (const step of script.steps) {
        if (step.do === 'deposit' || step.do === 'withdraw' || step.do === 'credit') {
          expect(Number.isSafeInteger(step.amountCents) && step.amountCents > 0).toBe(true);
        }
        if (step.do === 'deposit') {
          if (step.amountCents === limits?.deposit.minCents || step.amountCents === limits?.deposit.maxCents) {
            atDepositLimit++;
          }
          deposited.set(step.account, (deposited.get(step.account) ?? 0) + step.amountCents);
        }
        if (step.do === 'withdraw' && step.amountCents > (deposited.get(step.account) ?? 0)) overdrawn++;
      }
    }
    expect(atDepositLimit).toBeGreaterThan(0);
    expect(overdrawn).toBeGreaterThan(0);
  });

  it('trade the cluster symbols with ids t1, t2... and volumes 1 to 200, closing only trades they opened', () => {
    for (const script of allDays()) {
      const opened: string[] = [];
      for (const step of script.steps) {
        if (step.do === 'trade-open') {
          expect(step.id).toBe(`t${opened.length + 1}`);
          expect(['EURUSD', 'GBPUSD', 'XAUUSD']).toContain(step.symbol);
          expect(step.volume).toBeGreaterThanOrEqual(1);
          expect(step.volume).toBeLessThanOrEqual(200);
          opened.push(step.id);
        }
        if (step.do === 'trade-close') expect(opened).toContain(step.trade);
      }
    }
  });

  it('edit by hand like a dealer: non-zero amounts, dealer comments, groups of the broker config', () => {
    const groups = new Set(CONFIG.products.flatMap((p) => Object.values(p.groups)));
    const comments = new Set<string>();
    for (const script of allDays()) {
      for (const step of script.steps) {
        if (step.do === 'dealer-balance' || step.do === 'dealer-credit') {
          expect(step.amountCents).not.toBe(0);
          comments.add(step.comment);
        }
        if (step.do === 'dealer-group') expect(groups.has(step.group), step.group).toBe(true);
      }
    }
    expect([...comments].sort()).toEqual(['', 'bonus', 'compensation', 'correction']);
  });

  it('aim scripted faults at configured servers, never a dealer kind, with parameters the simulator accepts', () => {
    const servers = CONFIG.servers.map((s) => s.id);
    const kinds = new Set<string>();
    let onPostBalance = 0;
    for (const script of allDays()) {
      for (const step of script.steps) {
        if (step.do === 'fault') {
          expect(servers).toContain(step.server);
          expect(step.kind.startsWith('dealer')).toBe(false);
          if (step.op !== undefined) {
            expect(step.op).toBe('postBalance');
            onPostBalance++;
          }
          expect(() => checkFaultParams(step.kind, step.params)).not.toThrow();
          kinds.add(step.kind);
        }
        if (step.do === 'server-restart') expect(servers).toContain(step.server);
        if (step.do === 'crash') {
          expect(step.restartAfterMs).toBeGreaterThanOrEqual(1_000);
          expect(step.restartAfterMs).toBeLessThanOrEqual(120_000);
        }
      }
    }
    expect([...kinds].sort()).toEqual([...SCRIPTED_FAULT_KINDS].sort());
    expect(onPostBalance).toBeGreaterThan(0);
  });
});

describe('profiles', () => {
  const mean = (profile: ProfileName, measure: (s: Script) => number) =>
    SEEDS.reduce((sum, seed) => sum + measure(day(profile, seed)), 0) / SEEDS.length;

  it('a quiet day is mostly waiting, with fewer clients and deposits than a busy Monday', () => {
    for (const seed of SEEDS) {
      const quiet = day('quiet-day', seed);
      expect(count(quiet, 'wait') / quiet.steps.length).toBeGreaterThan(0.5);
    }
    expect(mean('quiet-day', (s) => count(s, 'client'))).toBeLessThan(
      mean('busy-monday', (s) => count(s, 'client')) / 2,
    );
    expect(mean('quiet-day', (s) => count(s, 'deposit'))).toBeLessThan(
      mean('busy-monday', (s) => count(s, 'deposit')) / 2,
    );
  });

  it("a busy Monday's deposits cluster in a short morning window, with webhooks sometimes delivered twice", () => {
    for (const seed of SEEDS) {
      const script = day('busy-monday', seed);
      const at = times(script);
      const deposits = script.steps.flatMap((s, i) => (s.do === 'deposit' ? [at[i] as number] : []));
      const span = at[at.length - 1] as number;
      // The shortest window holding 80% of the deposits.
      const k = Math.ceil(deposits.length * 0.8);
      let window = Number.POSITIVE_INFINITY;
      for (let i = 0; i + k - 1 < deposits.length; i++) {
        window = Math.min(window, (deposits[i + k - 1] as number) - (deposits[i] as number));
      }
      expect(window / span, script.name).toBeLessThan(0.25);
      expect(script.steps.some((s) => s.do === 'deposit' && s.webhook === 'twice')).toBe(true);
    }
    expect(mean('busy-monday', (s) => count(s, 'fault'))).toBeGreaterThan(mean('quiet-day', (s) => count(s, 'fault')));
  });

  it('at month end withdrawals outnumber deposits, and many leave an account with positions open', () => {
    for (const seed of SEEDS) {
      const script = day('month-end', seed);
      expect(count(script, 'withdraw'), script.name).toBeGreaterThan(count(script, 'deposit'));
      const openTrades = new Map<string, number>();
      const tradeAccount = new Map<string, string>();
      let withOpenPositions = 0;
      for (const step of script.steps) {
        if (step.do === 'trade-open') {
          openTrades.set(step.account, (openTrades.get(step.account) ?? 0) + 1);
          tradeAccount.set(step.id, step.account);
        }
        if (step.do === 'trade-close') {
          const account = tradeAccount.get(step.trade) as string;
          openTrades.set(account, (openTrades.get(account) ?? 1) - 1);
        }
        if (step.do === 'withdraw' && (openTrades.get(step.account) ?? 0) > 0) withOpenPositions++;
      }
      expect(withOpenPositions / count(script, 'withdraw'), script.name).toBeGreaterThan(0.3);
    }
  });

  it('a maintenance night restarts servers, crashes the service, edits balances and credits by hand and stalls pumps', () => {
    for (const seed of SEEDS) {
      const night = day('maintenance-night', seed);
      const quiet = day('quiet-day', seed);
      for (const kind of ['server-restart', 'crash', 'dealer-balance', 'dealer-credit'] as const) {
        expect(count(night, kind), `${kind} in ${night.name}`).toBeGreaterThan(10);
        expect(count(night, kind), kind).toBeGreaterThan(count(quiet, kind));
      }
      expect(night.steps.some((s) => s.do === 'fault' && s.kind === 'pumpStall')).toBe(true);
    }
  });

  it('profileForRun gives every profile within the first four runs, the same for the same seed', () => {
    for (const seed of ['alpha', 'bravo', 'c', '1', '2026-01-05']) {
      const first = [0, 1, 2, 3].map((run) => profileForRun(seed, run));
      expect([...first].sort()).toEqual([...PROFILE_NAMES].sort());
      expect([0, 1, 2, 3].map((run) => profileForRun(seed, run))).toEqual(first);
      const next = [4, 5, 6, 7].map((run) => profileForRun(seed, run));
      expect([...next].sort()).toEqual([...PROFILE_NAMES].sort());
    }
  });
});

describe('safetyFaults', () => {
  it('pins every random dealer kind at probability 0, swarms, and passes the simulator parser', () => {
    for (const profile of PROFILE_NAMES) {
      for (const seed of ['alpha.0', 'bravo.17', '1.2']) {
        const raw = safetyFaults(profile, seed);
        expect(raw.swarm).toBe(true);
        const [lo, hi] = PROFILES[profile].safetyIntensity;
        expect(raw.intensity).toBeGreaterThanOrEqual(lo);
        expect(raw.intensity).toBeLessThanOrEqual(hi);
        const parsed = parseFaultConfig(raw);
        for (const kind of RANDOM_DEALER_KINDS) expect(parsed.kinds[kind]?.probability).toBe(0);
      }
    }
  });

  it('gives plans whose dealer probabilities are 0 and whose totals stay valid, for many seeds', () => {
    for (const profile of PROFILE_NAMES) {
      for (let i = 0; i < 50; i++) {
        const config = parseFaultConfig(safetyFaults(profile, `s.${i}`));
        const plan = planFaults(config, new Random(`s${i}`).fork('faults'));
        for (const kind of RANDOM_DEALER_KINDS) expect(plan.probability[kind]).toBe(0);
        expect(FAULT_KINDS.filter((k) => plan.probability[k] > 0).length).toBeGreaterThan(0);
      }
    }
  });

  it('is the faults field of every generated script', () => {
    for (const script of allDays()) {
      expect(script.faults).toEqual(safetyFaults(script.origin?.profile as ProfileName, script.seed));
    }
  });
});

describe('scriptArbitrary', () => {
  it("gives parseable scripts under fast-check's biased generation too", () => {
    const { seed, numRuns } = propertyParams('biased scripts parse', 10);
    for (const profile of PROFILE_NAMES) {
      fc.assert(
        fc.property(scriptArbitrary({ profile, steps: 150 }), (script) => {
          expect(parseScript(script)).toEqual(script);
        }),
        { seed, numRuns },
      );
    }
  });

  it('shrinks a failure to one step: a property broken by any withdrawal shrinks to a lone, small withdrawal', () => {
    const { seed } = propertyParams('shrinking to one withdrawal', 1);
    for (const profile of ['month-end', 'busy-monday'] as const) {
      const result = fc.check(
        fc.property(scriptArbitrary({ profile, steps: 300 }), (script) =>
          script.steps.every((s) => s.do !== 'withdraw'),
        ),
        { seed, numRuns: 20 },
      );
      expect(result.failed).toBe(true);
      const [script] = result.counterexample ?? [];
      expect(script?.steps).toHaveLength(1);
      const step = script?.steps[0];
      expect(step?.do).toBe('withdraw');
      // Amounts shrink too: to the bottom of the profile's typical withdrawal range.
      if (step?.do === 'withdraw') {
        expect(step.amountCents).toBeLessThanOrEqual(PROFILES[profile].amounts.withdrawalCents[0]);
      }
    }
  });

  it("uses the given broker config's products and servers", () => {
    const config: BrokerConfigInput = {
      ...DEFAULT_BROKER_CONFIG,
      servers: [
        { id: 'live-a', platform: 'mt5', kind: 'live', login: 1000, passwordEnv: 'A_PASSWORD' },
        { id: 'demo-b', platform: 'mt4', kind: 'demo', login: 1000, passwordEnv: 'B_PASSWORD' },
      ],
      jurisdictions: {},
      products: [
        { id: 'gold', kind: 'live', groups: { 'live-a': 'real\\gold' }, currency: 'USD' },
        { id: 'try-it', kind: 'demo', groups: { 'demo-b': 'demo-usd' }, currency: 'USD' },
      ],
      routing: [
        { kind: 'live', server: 'live-a' },
        { kind: 'demo', server: 'demo-b' },
      ],
    };
    const [script] = fc.sample(scriptArbitrary({ profile: 'maintenance-night', steps: 500, config }), {
      seed: 42,
      numRuns: 1,
    });
    const steps = script?.steps ?? [];
    expect(new Set(steps.flatMap((s) => (s.do === 'open' ? [s.product] : [])))).toEqual(new Set(['gold', 'try-it']));
    const servers = new Set(steps.flatMap((s) => (s.do === 'fault' || s.do === 'server-restart' ? [s.server] : [])));
    expect(servers).toEqual(new Set(['live-a', 'demo-b']));
    for (const step of steps) if (step.do === 'dealer-group') expect(['real\\gold', 'demo-usd']).toContain(step.group);
  });
});
