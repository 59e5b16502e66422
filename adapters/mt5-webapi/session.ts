import { isSuccess } from '../port/errors.ts';
import { decodeRand, newCliRand, passwordHash, randAnswer, serverProofMatches } from './auth.ts';
import type { HttpChannel, Query, WireOutcome } from './transport.ts';
import { parseRetcode } from './wire.ts';

/**
 * One command of the MT5 Web API and what its answer says (facts 3.3): a JSON envelope whose `retcode` is
 * "<code> <text>", then `answer` when the command returns data. The official sample treats any HTTP status
 * other than 200 as a failure; when such an answer still carries a retcode envelope, the retcode is the
 * server's own word and is kept.
 */

export type Reply =
  /** Success (retcode 0, or 10009 for trade requests); the whole envelope (auth fields sit beside `answer`). */
  | { readonly kind: 'ok'; readonly code: number; readonly envelope: Record<string, unknown> }
  /** The server refused with a retcode. */
  | { readonly kind: 'retcode'; readonly code: number; readonly text: string; readonly status: number }
  /**
   * HTTP 403 with no retcode: the access server refused the command before running it. The documented
   * causes are a session that is not (or no longer) authenticated and a manager without the right.
   */
  | { readonly kind: 'forbidden'; readonly detail: string }
  /** An answer the adapter cannot read: a status other than 200 without an envelope, or not JSON. */
  | { readonly kind: 'bad_answer'; readonly status: number; readonly detail: string }
  | { readonly kind: 'not_sent' | 'lost' | 'timeout'; readonly detail: string };

export interface Command {
  readonly path: string;
  readonly query?: Query;
  /** A JSON body (POST); absent: GET with the query only. */
  readonly body?: unknown;
}

/** Sends one command on the session's socket (never opening a new one) and reads its envelope. */
export async function send(channel: HttpChannel, command: Command, mayOpen = false): Promise<Reply> {
  const method = command.body === undefined ? 'GET' : 'POST';
  return readReply(await channel.request(method, command.path, command.query ?? {}, command.body, mayOpen));
}

export function readReply(outcome: WireOutcome): Reply {
  if (outcome.kind !== 'answer') return outcome;
  const { status, text } = outcome;
  let envelope: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      envelope = parsed as Record<string, unknown>;
    }
  } catch {
    envelope = null;
  }
  const retcode = envelope === null ? null : parseRetcode(envelope.retcode);
  const snippet = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  if (envelope === null || retcode === null) {
    if (status === 403) return { kind: 'forbidden', detail: `HTTP 403 without a retcode: ${snippet}` };
    return { kind: 'bad_answer', status, detail: `HTTP ${status} without a retcode envelope: ${snippet}` };
  }
  if (isSuccess('mt5', retcode.code)) {
    if (status === 200) return { kind: 'ok', code: retcode.code, envelope };
    // A success code on a failed status: the two disagree, so nothing can be concluded from either.
    return { kind: 'bad_answer', status, detail: `HTTP ${status} with retcode "${String(envelope.retcode)}"` };
  }
  return { kind: 'retcode', code: retcode.code, text: retcode.text, status };
}

export type Handshake =
  | { readonly kind: 'ok'; readonly socketId: number; readonly versionAccess: string; readonly versionTrade: string }
  /** The server answered both steps but failed to prove it knows the password. */
  | { readonly kind: 'server_proof'; readonly detail: string }
  | { readonly kind: 'failed'; readonly step: 'auth/start' | 'auth/answer'; readonly reply: Reply };

export interface Login {
  readonly login: number;
  readonly password: string;
  /** `version`: any build number ≥ 484 (facts 3.2). */
  readonly version: number;
  /** `agent`: non-empty, no spaces. */
  readonly agent: string;
}

/**
 * The two-step login of facts 3.2 on a fresh socket: `auth/start` (which may open one) then `auth/answer`
 * on the same socket, then the server's proof checked. The password never leaves this function except
 * hashed with the server's random bytes.
 */
export async function handshake(channel: HttpChannel, login: Login): Promise<Handshake> {
  const start = await send(
    channel,
    {
      path: '/api/auth/start',
      query: { version: login.version, agent: login.agent, login: login.login, type: 'manager' },
    },
    true,
  );
  if (start.kind !== 'ok') return { kind: 'failed', step: 'auth/start', reply: start };
  const srvRand = decodeRand(start.envelope.srv_rand);
  if (srvRand === null) {
    return {
      kind: 'failed',
      step: 'auth/start',
      reply: { kind: 'bad_answer', status: 200, detail: 'srv_rand is not 32 hex characters' },
    };
  }
  const socketId = channel.socketId;
  const hash = passwordHash(login.password);
  const cliRand = newCliRand();
  const answer = await send(channel, {
    path: '/api/auth/answer',
    query: { srv_rand_answer: randAnswer(hash, srvRand), cli_rand: cliRand.toString('hex') },
  });
  if (answer.kind !== 'ok') return { kind: 'failed', step: 'auth/answer', reply: answer };
  if (!serverProofMatches(hash, cliRand, answer.envelope.cli_rand_answer)) {
    return { kind: 'server_proof', detail: 'cli_rand_answer does not match: the server did not prove the password' };
  }
  if (channel.socketId !== socketId || socketId === 0) {
    // Both steps must ride one socket; a session split over two is no session.
    return {
      kind: 'failed',
      step: 'auth/answer',
      reply: { kind: 'not_sent', detail: 'the socket closed during the login' },
    };
  }
  return {
    kind: 'ok',
    socketId,
    versionAccess: String(answer.envelope.version_access ?? start.envelope.version_access ?? ''),
    versionTrade: String(answer.envelope.version_trade ?? ''),
  };
}
