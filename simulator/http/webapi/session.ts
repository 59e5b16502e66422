import type { Socket } from 'node:net';
import { Random } from '../../../kit/random.ts';
import type { Mt5ManagerApi } from '../../index.ts';
import type { SimHost } from '../host.ts';

/**
 * Web API sessions (facts 3.1): stateful, bound to one kept-alive connection; a lost connection needs a new
 * authentication; a connection with no request for 180 s is dropped. A session here is a `WebApiConnection`:
 * the handshake in progress, then the authenticated manager's own `Mt5ManagerApi` on the cluster.
 *
 * What names a connection:
 * - 'socket' (a listening server): the TCP socket itself. A new socket starts unauthenticated; when it closes
 *   the session ends (the manager's `Disconnect()`); ending a session closes its socket.
 * - 'header' (msw and `app.inject`, which have no real sockets): the `x-mtproof-connection` request header,
 *   one shared connection when it is absent. Never used on a listening server: any client could name another
 *   client's connection and use its session.
 *
 * Idle time is virtual (the host's clock): each connection keeps one timer on `host.clock` that ends it once
 * `idleTimeoutMs` have passed since its last request or answer, and the dispatcher checks the same deadline
 * when a request arrives (a backstop for a clock that has not run its timers yet).
 */

export type ConnectionKey = 'socket' | 'header';

export const CONNECTION_HEADER = 'x-mtproof-connection';

/** The handshake between `auth/start` and `auth/answer`. */
export interface PendingAuth {
  login: number;
  srvRand: Buffer;
  /** Virtual time of `auth/start`. */
  atMs: number;
}

export type EndReason = 'quit' | 'idle' | 'reset' | 'closed' | 'dropped' | 'no-connection' | 'reauth';

export class WebApiConnection {
  /** 1, 2, 3 … per app and world (the counter restarts at a host reset). */
  readonly id: number;
  readonly socket: Socket | null;
  readonly #random: Random;
  pending: PendingAuth | null = null;
  /** The authenticated manager's dialect client; null before the handshake and after the session ended. */
  link: Mt5ManagerApi | null = null;
  /** Virtual time of the last request or answer. */
  lastActivityMs: number;
  /** Requests being answered: an idle check never ends a connection that is busy. */
  inFlight = 0;
  ended = false;
  idleTimerArmed = false;

  constructor(id: number, socket: Socket | null, random: Random, nowMs: number) {
    this.id = id;
    this.socket = socket;
    this.#random = random;
    this.lastActivityMs = nowMs;
  }

  get authenticated(): boolean {
    return this.link !== null && !this.ended;
  }

  /** 16 bytes of the connection's seeded stream: `srv_rand` is a function of (host seed, connection number). */
  nextSrvRand(): Buffer {
    const bytes = Buffer.alloc(16);
    for (let i = 0; i < 16; i += 4) bytes.writeUInt32BE(this.#random.u32(), i);
    return bytes;
  }

  /** Forgets the manager's session (the dialect's Disconnect) and any handshake in progress. */
  logout(): void {
    this.link?.Disconnect();
    this.link = null;
    this.pending = null;
  }
}

export interface ConnectionTableOptions {
  mode: ConnectionKey;
  idleTimeoutMs: number;
}

export class ConnectionTable {
  readonly #host: SimHost;
  readonly #serverId: string;
  readonly #mode: ConnectionKey;
  readonly #idleTimeoutMs: number;
  readonly #bySocket = new Map<Socket, WebApiConnection>();
  readonly #byName = new Map<string, WebApiConnection>();
  #count = 0;

  constructor(host: SimHost, serverId: string, options: ConnectionTableOptions) {
    this.#host = host;
    this.#serverId = serverId;
    this.#mode = options.mode;
    this.#idleTimeoutMs = options.idleTimeoutMs;
  }

  get mode(): ConnectionKey {
    return this.#mode;
  }

  /** The connection a request arrived on, made on its first request. */
  connectionOf(socket: Socket, header: string | string[] | undefined): WebApiConnection {
    if (this.#mode === 'socket') {
      let connection = this.#bySocket.get(socket);
      if (connection === undefined || connection.ended) {
        connection = this.#open(socket);
        this.#bySocket.set(socket, connection);
        const opened = connection;
        socket.once('close', () => this.end(opened, 'closed'));
      }
      return connection;
    }
    const name = typeof header === 'string' ? header : Array.isArray(header) ? (header[0] ?? '') : '';
    let connection = this.#byName.get(name);
    if (connection === undefined || connection.ended) {
      connection = this.#open(null);
      this.#byName.set(name, connection);
    }
    return connection;
  }

  #open(socket: Socket | null): WebApiConnection {
    const id = ++this.#count;
    const random = new Random(this.#host.seed).fork('webapi').fork(this.#serverId).fork(`connection-${id}`);
    return new WebApiConnection(id, socket, random, this.#host.nowMs());
  }

  /** A request or an answer on the connection: its idle time starts again. */
  touch(connection: WebApiConnection): void {
    connection.lastActivityMs = this.#host.nowMs();
    this.#armIdleTimer(connection);
  }

  /** Has the connection been silent for the idle timeout (virtual time)? */
  idleExpired(connection: WebApiConnection): boolean {
    return this.#host.nowMs() - connection.lastActivityMs >= this.#idleTimeoutMs;
  }

  /**
   * Ends a connection's session: the manager disconnects, and in 'socket' mode the socket is destroyed (the
   * client sees the connection close, as when the server drops it). Idempotent.
   */
  end(connection: WebApiConnection, reason: EndReason): void {
    if (connection.ended) return;
    connection.ended = true;
    connection.logout();
    if (connection.socket !== null) {
      if (this.#bySocket.get(connection.socket) === connection) this.#bySocket.delete(connection.socket);
      // A closed socket needs nothing more; 'quit' and 'no-connection' close it after their answer.
      if (reason !== 'closed' && reason !== 'quit' && reason !== 'no-connection') connection.socket.destroy();
    } else {
      for (const [name, c] of this.#byName) if (c === connection) this.#byName.delete(name);
    }
  }

  /** Ends every session (host reset, app close) and restarts the connection numbering. */
  endAll(reason: EndReason): void {
    for (const connection of [...this.#bySocket.values(), ...this.#byName.values()]) this.end(connection, reason);
    this.#count = 0;
  }

  /**
   * One timer per connection on the host's virtual clock. When it fires it ends the connection if it has been
   * idle long enough, or sleeps again for the rest. A timer of a world replaced by a reset never fires, which
   * is right: the reset ended the connection.
   */
  #armIdleTimer(connection: WebApiConnection): void {
    if (connection.idleTimerArmed || connection.ended) return;
    connection.idleTimerArmed = true;
    const waitMs = Math.max(0, connection.lastActivityMs + this.#idleTimeoutMs - this.#host.nowMs());
    this.#host.clock.sleep(waitMs).then(() => {
      connection.idleTimerArmed = false;
      // A busy connection is not idle: the answer's touch arms the timer again.
      if (connection.ended || connection.inFlight > 0) return;
      if (this.idleExpired(connection)) this.end(connection, 'idle');
      else this.#armIdleTimer(connection);
    });
  }
}
