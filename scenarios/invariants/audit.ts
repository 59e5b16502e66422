import type { Observation } from '../observation.ts';
import type { Evidence, InvariantResult } from '../result.ts';
import { Lookups, money, result } from './common.ts';

/**
 * Audit: every operation the manager made on a server — each balance operation and each account created —
 * has its call in the integration's audit log (the port's operation names and arguments: `postBalance` with
 * `login` and `amountCents`, `createAccount`), every call is completed with its outcome unless a crash cut
 * it short, and no secret (manager password, account password) appears in any log line, audit row, alert
 * or view.
 */
export function audit(obs: Observation, look = new Lookups(obs)): InvariantResult {
  const rows = obs.integration.audit;
  const evidence: Evidence[] = [];
  if (rows !== null) {
    const posts = new Map<string, number>();
    const creates = new Map<string, number>();
    for (const row of rows) {
      if (row.op === 'postBalance') {
        const key = `${row.serverId}:${String(row.request.login)}:${String(row.request.amountCents)}`;
        posts.set(key, (posts.get(key) ?? 0) + 1);
      } else if (row.op === 'createAccount') {
        creates.set(row.serverId, (creates.get(row.serverId) ?? 0) + 1);
      }
      if (row.outcome === null && !obs.crashes.some((c) => c >= row.atMs)) {
        evidence.push({
          serverId: row.serverId,
          message: `${row.op} sent at ${row.atMs} has no outcome and no crash explains it`,
        });
      }
    }
    for (const server of obs.servers) {
      const created = server.accounts.length;
      if ((creates.get(server.id) ?? 0) < created) {
        evidence.push({
          serverId: server.id,
          message: `${created} accounts created on ${server.id}, ${creates.get(server.id) ?? 0} createAccount calls audited`,
        });
      }
      const seen = new Map<string, number>();
      for (const account of server.accounts) {
        for (const op of look.ops(server, account.login)) {
          if (op.actor.by !== 'manager') continue;
          // The port's amount is signed, as the server books it.
          const key = `${server.id}:${op.login}:${op.amountCents}`;
          const n = (seen.get(key) ?? 0) + 1;
          seen.set(key, n);
          if (n > (posts.get(key) ?? 0)) {
            evidence.push({
              serverId: server.id,
              login: op.login,
              ticket: op.ticket,
              message: `${op.kind} ${money(op.amountCents)} "${op.comment}" on the server has no postBalance in the audit log`,
            });
          }
        }
      }
    }
  }

  const leaks = leakedSecrets(obs);
  evidence.push(...leaks);
  if (evidence.length > 0) {
    return result(
      'audit',
      'fail',
      `${evidence.length - leaks.length} audit gap(s), ${leaks.length} secret leak(s)`,
      evidence,
    );
  }
  if (rows === null)
    return result('audit', 'unknown', 'the integration exposes no audit log (no secret found in its logs and views)');
  return result(
    'audit',
    'pass',
    `${rows.length} audited calls cover every server operation; no secret in ${obs.integration.logs.length} log lines, audit, alerts or views`,
  );
}

function leakedSecrets(obs: Observation): Evidence[] {
  const secrets = new Set(obs.secrets);
  for (const server of obs.servers) {
    for (const a of server.accounts) {
      secrets.add(a.passwordMain);
      secrets.add(a.passwordInvestor);
    }
  }
  const places: [string, string][] = [
    ['logs', obs.integration.logs.join('\n')],
    ['audit', JSON.stringify(obs.integration.audit ?? [])],
    ['alerts', JSON.stringify(obs.integration.alerts)],
    ['views', JSON.stringify([obs.integration.accounts, obs.integration.transfers, obs.integration.reconciliation])],
  ];
  const out: Evidence[] = [];
  const wanted = [...secrets].filter((secret) => secret.length >= 4);
  for (const [place, text] of places) {
    for (const secret of findAll(text, wanted)) {
      out.push({
        message: `a secret (${secret.slice(0, 2)}…, ${secret.length} chars) appears in the integration's ${place}`,
      });
    }
  }
  return out;
}

/**
 * The needles that occur in `text`, in one rolling-hash pass per distinct needle length (Rabin–Karp):
 * thousands of account passwords against megabytes of logs, linear in the text.
 */
export function findAll(text: string, needles: readonly string[]): Set<string> {
  const found = new Set<string>();
  const byLength = new Map<number, Map<number, string[]>>();
  for (const needle of needles) {
    const table = byLength.get(needle.length) ?? new Map<number, string[]>();
    const h = hashOf(needle, 0, needle.length);
    table.set(h, [...(table.get(h) ?? []), needle]);
    byLength.set(needle.length, table);
  }
  for (const [length, table] of byLength) {
    if (text.length < length) continue;
    // BASE^(length-1), to take the leaving character out of the window's hash.
    let top = 1;
    for (let i = 1; i < length; i++) top = Math.imul(top, BASE);
    let h = hashOf(text, 0, length);
    for (let i = 0; ; i++) {
      const candidates = table.get(h);
      if (candidates !== undefined) {
        for (const c of candidates) if (text.startsWith(c, i)) found.add(c);
      }
      if (i + length >= text.length) break;
      h = (Math.imul(h - Math.imul(text.charCodeAt(i), top), BASE) + text.charCodeAt(i + length)) | 0;
    }
  }
  return found;
}

const BASE = 0x01000193;

function hashOf(text: string, from: number, to: number): number {
  let h = 0;
  for (let i = from; i < to; i++) h = (Math.imul(h, BASE) + text.charCodeAt(i)) | 0;
  return h;
}
