import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';

/**
 * The wire under the MT5 Web API: one keep-alive HTTP(S) agent with `maxSockets: 1`, as the official sample
 * has it, so that every command rides the socket the session was authenticated on (facts 3.1: the session
 * is bound to one kept-alive connection). The agent may open a new socket only when the caller says so
 * (`auth/start`): a command that would otherwise go out on a fresh, unauthenticated socket is stopped
 * before anything is written, and reported as not sent.
 *
 * What a request came to, as the adapter reasons about it:
 * - `answer`: an HTTP response arrived (any status);
 * - `not_sent`: nothing reached the server (connection refused, no session socket, TLS handshake failed);
 * - `lost`: the request was written and the socket broke before the whole answer came;
 * - `timeout`: written, and no answer within `timeoutMs` (the socket is destroyed: with HTTP/1.1 a late
 *   answer would otherwise be read as the answer to the next command).
 */

export type WireOutcome =
  | { readonly kind: 'answer'; readonly status: number; readonly text: string }
  | { readonly kind: 'not_sent' | 'lost' | 'timeout'; readonly detail: string };

export interface ChannelOptions {
  /** `https://host:port` (real servers) or `http://host:port` (the simulator on loopback). */
  readonly url: URL;
  /** Wall-clock wait for an answer, per request, from the moment it is handed to the socket. */
  readonly timeoutMs: number;
  /** The User-Agent header (the docs' example names the Web API client there). */
  readonly userAgent: string;
  readonly tls?: { readonly rejectUnauthorized?: boolean; readonly ca?: string };
}

export type Query = Readonly<Record<string, string | number>>;

/** Thrown into the agent's socket factory when the caller did not allow a new socket. */
class NoSessionSocket extends Error {
  override readonly name = 'NoSessionSocket';
}

export class HttpChannel {
  readonly #options: ChannelOptions;
  readonly #secure: boolean;
  readonly #agent: http.Agent;
  #mayOpen = false;
  #destroyed = false;
  #socket: Socket | null = null;
  #socketSeq = 0;
  #socketId = 0;
  /** Called once for every socket the channel rode when it closes (server idle close, network, destroy). */
  onSocketClosed: ((socketId: number) => void) | null = null;

  constructor(options: ChannelOptions) {
    this.#options = options;
    this.#secure = options.url.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: 1, maxFreeSockets: 1 };
    this.#agent = this.#secure
      ? new https.Agent({
          ...agentOptions,
          rejectUnauthorized: options.tls?.rejectUnauthorized ?? true,
          ...(options.tls?.ca === undefined ? {} : { ca: options.tls.ca }),
        })
      : new http.Agent(agentOptions);
    const base = this.#agent.createConnection.bind(this.#agent);
    this.#agent.createConnection = (
      connectOptions: http.ClientRequestArgs,
      callback?: (err: Error | null, stream: Duplex) => void,
    ): Duplex => {
      if (!this.#mayOpen || this.#destroyed) {
        // The agent reports this to the request as an error before anything is written.
        callback?.(new NoSessionSocket('no authenticated socket: nothing sent'), undefined as unknown as Duplex);
        return undefined as unknown as Duplex;
      }
      this.#mayOpen = false;
      const socket = base(connectOptions, callback) as Socket;
      this.#adopt(socket);
      return socket;
    };
  }

  /** Whether the socket the session rides is still open (a closed one means the session is gone). */
  get open(): boolean {
    return this.#socket !== null && !this.#socket.destroyed;
  }

  /** Identifies the current socket (0: none yet); a session is bound to one. */
  get socketId(): number {
    return this.open ? this.#socketId : 0;
  }

  #adopt(socket: Socket): void {
    this.#socketSeq += 1;
    const id = this.#socketSeq;
    this.#socket = socket;
    this.#socketId = id;
    socket.once('close', () => {
      if (this.#socket === socket) this.#socket = null;
      this.onSocketClosed?.(id);
    });
  }

  /** Closes the socket now (the session with it); the next request may open a new one only if allowed. */
  dropSocket(): void {
    this.#socket?.destroy();
  }

  /** Ends the channel: no request is sent any more. */
  destroy(): void {
    this.#destroyed = true;
    this.#agent.destroy();
    this.#socket?.destroy();
  }

  /**
   * Sends one request and resolves with what it came to; never rejects. `mayOpen`: the request may open a
   * new socket (only `auth/start` does); otherwise it must ride the current one or is not sent.
   */
  request(method: 'GET' | 'POST', path: string, query: Query, body: unknown, mayOpen: boolean): Promise<WireOutcome> {
    if (this.#destroyed) return Promise.resolve({ kind: 'not_sent', detail: 'the connection is closed' });
    if (!mayOpen && !this.open) return Promise.resolve({ kind: 'not_sent', detail: 'no authenticated socket' });
    const url = this.#options.url;
    const search = new URLSearchParams(
      Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string | number> = {
      Connection: 'keep-alive',
      Accept: 'application/json',
      'User-Agent': this.#options.userAgent,
    };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const send = this.#secure ? https.request : http.request;
    return new Promise((resolve) => {
      let settled = false;
      let written = false;
      const finish = (outcome: WireOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#mayOpen = false;
        resolve(outcome);
      };
      const failed = (detail: string): WireOutcome => ({ kind: written ? 'lost' : 'not_sent', detail });
      this.#mayOpen = mayOpen;
      const req = send({
        agent: this.#agent,
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port === '' ? undefined : Number(url.port),
        method,
        path: `${url.pathname.replace(/\/$/, '')}${path}${search === '' ? '' : `?${search}`}`,
        headers,
      });
      // Real time: the socket is real, so is the wait for its answer.
      const timer = setTimeout(() => {
        finish(
          written
            ? { kind: 'timeout', detail: `no answer within ${this.#options.timeoutMs} ms` }
            : { kind: 'not_sent', detail: `could not connect within ${this.#options.timeoutMs} ms` },
        );
        req.destroy();
      }, this.#options.timeoutMs);
      req.on('socket', (socket: Socket) => {
        // Written once the socket can carry it: at once on the kept-alive socket, after the TCP (and TLS)
        // handshake on a new one.
        if (!socket.connecting) written = true;
        else socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => (written = true));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          finish({ kind: 'answer', status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('aborted', () => finish({ kind: 'lost', detail: 'the answer was cut off' }));
        res.on('error', (error) => finish({ kind: 'lost', detail: `the answer was cut off: ${error.message}` }));
      });
      req.on('error', (error) => finish(failed(error.message)));
      req.on('close', () => finish(failed('the connection closed before an answer')));
      req.end(payload);
    });
  }
}
