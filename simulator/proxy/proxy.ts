import { connect, createServer, type Server, type Socket } from 'node:net';
import { MtproofError } from '../../kit/errors.ts';
import { Random } from '../../kit/random.ts';
import {
  type Address,
  formatAddress,
  NAME_PATTERN,
  type ProxyInput,
  type ProxyPatch,
  parseOrThrow,
  type Stream,
  TOXIC_ATTRIBUTES,
  type Toxic,
  type ToxicInput,
  type ToxicPatch,
} from './schema.ts';

/**
 * A TCP fault proxy in the spirit of Toxiproxy: it listens on a port and forwards every connection to an
 * upstream `host:port`, passing each stream through the toxics in effect on that connection (latency,
 * bandwidth, blackhole, reset, slow close, data limit, timeout).
 *
 * Whether a toxic is in effect on a connection is drawn once per (connection, toxic) from a `Random` that
 * depends only on the proxy's seed, its name, the connection's number and the toxic's name — so a given
 * seed and sequence of connections takes the same decisions, whatever the timing and whatever other
 * toxics exist. This is the wire: timers and sockets are real, and how bytes are cut into chunks (hence how
 * many jitter draws a stream takes) is the operating system's.
 */

/** One draw: was `toxic` in effect on connection number `connection` (logged again when its toxicity changes). */
export interface Decision {
  connection: number;
  toxic: string;
  toxicity: number;
  inEffect: boolean;
}

export interface StreamStats {
  /** Bytes the proxy read from the stream's source. */
  receivedBytes: number;
  /** Bytes it wrote on to the stream's destination (fewer when a toxic swallowed or cut some). */
  forwardedBytes: number;
}

export interface ProxyStats {
  connectionsTotal: number;
  connectionsActive: number;
  /** Client → upstream. */
  upstream: StreamStats;
  /** Upstream → client. */
  downstream: StreamStats;
  /** Per toxic name: on how many connections it came into effect. */
  toxicsFired: Record<string, number>;
}

/** A proxy as the control API shows it. */
export interface ProxyView {
  name: string;
  /** As configured (port 0: any free one). */
  listen: string;
  /** Where it listens now; null while disabled. */
  address: string | null;
  upstream: string;
  enabled: boolean;
  seed: string;
  toxics: Toxic[];
  stats: ProxyStats;
}

export interface FaultProxyOptions {
  name: string;
  listen: Address;
  upstream: Address;
  /** Every decision derives from it (with the proxy's name and the connection's number). */
  seed: string;
  /** Default true. */
  enabled?: boolean;
  toxics?: readonly ToxicInput[];
  /** Most toxics on the proxy (default 32). */
  maxToxics?: number;
  /** Most decisions kept, newest last (default 10 000). */
  decisionLimit?: number;
}

/** A stream's source is paused while this much is queued behind slow toxics, and resumed below a quarter of it. */
const HIGH_WATER_BYTES = 1024 * 1024;

export class FaultProxy {
  readonly name: string;
  readonly seed: string;
  #listen: Address;
  #upstream: Address;
  #enabled = false;
  #wantEnabled: boolean;
  /** The port picked when `listen` asks for port 0, kept so that a re-enabled proxy comes back where it was. */
  #boundPort: number | null = null;
  #server: Server | null = null;
  #toxics: Toxic[] = [];
  readonly #maxToxics: number;
  readonly #connections = new Set<Connection>();
  readonly #random: Random;
  #nextConnection = 0;
  readonly #stats: ProxyStats = {
    connectionsTotal: 0,
    connectionsActive: 0,
    upstream: { receivedBytes: 0, forwardedBytes: 0 },
    downstream: { receivedBytes: 0, forwardedBytes: 0 },
    toxicsFired: {},
  };
  readonly #decisions: Decision[] = [];
  readonly #decisionLimit: number;
  /** Listening changes (enable, disable, move, close) one at a time. */
  #serial: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: FaultProxyOptions) {
    if (!NAME_PATTERN.test(options.name)) {
      throw new MtproofError('MTP_BAD_REQUEST', `bad proxy name ${JSON.stringify(options.name)}`, [
        { path: 'name', message: '1 to 64 letters, digits, _ . - (the first a letter or a digit)' },
      ]);
    }
    if (options.seed === '' || options.seed.includes('/')) {
      throw new MtproofError('MTP_BAD_REQUEST', `bad seed ${JSON.stringify(options.seed)}`, [
        { path: 'seed', message: 'not empty, without /' },
      ]);
    }
    this.name = options.name;
    this.seed = options.seed;
    this.#listen = options.listen;
    this.#upstream = options.upstream;
    this.#wantEnabled = options.enabled ?? true;
    this.#maxToxics = options.maxToxics ?? 32;
    this.#decisionLimit = options.decisionLimit ?? 10_000;
    this.#random = new Random(options.seed).fork(options.name);
    for (const toxic of options.toxics ?? []) this.addToxic(toxic);
  }

  /** Starts listening when the proxy is meant to be enabled; MTP_PROXY_LISTEN_FAILED when it cannot. */
  start(): Promise<void> {
    return this.#oneAtATime(async () => {
      if (this.#wantEnabled) await this.#startListening();
    });
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get listen(): Address {
    return { ...this.#listen };
  }

  /** Where the proxy listens now (the real port when `listen` said 0); null while disabled. */
  get address(): Address | null {
    const bound = this.#server?.address();
    if (bound === null || bound === undefined || typeof bound === 'string') return null;
    return { host: this.#listen.host, port: bound.port };
  }

  get upstream(): Address {
    return { ...this.#upstream };
  }

  /**
   * Changes the upstream (new connections go there), the listen address (connections are cut, the proxy
   * listens anew; on failure it goes back to the old address) and the enabled state (disabled: it stops
   * listening, so new connections are refused, and cuts every open one).
   */
  update(patch: ProxyPatch): Promise<void> {
    return this.#oneAtATime(async () => {
      if (this.#closed) throw unknownProxy(this.name);
      if (patch.upstream !== undefined) this.#upstream = patch.upstream;
      if (patch.enabled !== undefined) this.#wantEnabled = patch.enabled;
      const moved =
        patch.listen !== undefined &&
        (patch.listen.host !== this.#listen.host || patch.listen.port !== this.#listen.port);
      if (moved && patch.listen !== undefined) {
        const old = { listen: this.#listen, boundPort: this.#boundPort };
        await this.#stopListening();
        this.#listen = patch.listen;
        this.#boundPort = null;
        if (this.#wantEnabled) {
          try {
            await this.#startListening();
          } catch (error) {
            this.#listen = old.listen;
            this.#boundPort = old.boundPort;
            await this.#startListening().catch(() => {});
            throw error;
          }
        }
        return;
      }
      if (this.#wantEnabled) await this.#startListening();
      else await this.#stopListening();
    });
  }

  toxics(): Toxic[] {
    return this.#toxics.map(copyToxic);
  }

  toxic(name: string): Toxic {
    const found = this.#toxics.find((t) => t.name === name);
    if (found === undefined) throw unknownToxic(this.name, name);
    return copyToxic(found);
  }

  /** Adds a toxic; open connections draw for it at once, as new ones will. */
  addToxic(input: ToxicInput): Toxic {
    const name = input.name ?? `${input.type}_${input.direction}`;
    if (this.#toxics.some((t) => t.name === name)) {
      throw new MtproofError('MTP_PROXY_TOXIC_EXISTS', `proxy ${this.name} has a toxic named ${name} already`, [
        { path: 'name', message: 'taken' },
      ]);
    }
    if (this.#toxics.length >= this.#maxToxics) {
      throw new MtproofError('MTP_PROXY_LIMIT', `proxy ${this.name} has ${this.#maxToxics} toxics: remove one first`);
    }
    const toxic = { ...input, name } as Toxic;
    this.#toxics = [...this.#toxics, toxic];
    this.#refresh();
    return copyToxic(toxic);
  }

  /**
   * Changes a toxic. Its kind stays; `attributes` are merged onto the current ones and checked for the kind
   * (MTP_BAD_REQUEST naming `attributes.<field>`). A connection keeps its draw for the toxic: raising the
   * toxicity only adds connections to those it is in effect on.
   */
  updateToxic(name: string, patch: ToxicPatch): Toxic {
    const index = this.#toxics.findIndex((t) => t.name === name);
    const current = this.#toxics[index];
    if (current === undefined) throw unknownToxic(this.name, name);
    const attributes =
      patch.attributes === undefined
        ? current.attributes
        : parseOrThrow(
            TOXIC_ATTRIBUTES[current.type],
            { ...current.attributes, ...patch.attributes },
            `the attributes of ${current.type} toxic ${name}`,
            'attributes',
          );
    const next = {
      ...current,
      direction: patch.direction ?? current.direction,
      toxicity: patch.toxicity ?? current.toxicity,
      enabled: patch.enabled ?? current.enabled,
      attributes,
    } as Toxic;
    this.#toxics = this.#toxics.map((t, i) => (i === index ? next : t));
    this.#refresh();
    return copyToxic(next);
  }

  removeToxic(name: string): void {
    if (!this.#toxics.some((t) => t.name === name)) throw unknownToxic(this.name, name);
    this.#toxics = this.#toxics.filter((t) => t.name !== name);
    this.#refresh();
  }

  removeAllToxics(): void {
    this.#toxics = [];
    this.#refresh();
  }

  stats(): ProxyStats {
    const s = this.#stats;
    return {
      connectionsTotal: s.connectionsTotal,
      connectionsActive: this.#connections.size,
      upstream: { ...s.upstream },
      downstream: { ...s.downstream },
      toxicsFired: { ...s.toxicsFired },
    };
  }

  /** The draws taken so far, oldest first (the newest `decisionLimit`). */
  decisions(): Decision[] {
    return this.#decisions.map((d) => ({ ...d }));
  }

  view(): ProxyView {
    const address = this.address;
    return {
      name: this.name,
      listen: formatAddress(this.#listen),
      address: address === null ? null : formatAddress(address),
      upstream: formatAddress(this.#upstream),
      enabled: this.#enabled,
      seed: this.seed,
      toxics: this.toxics(),
      stats: this.stats(),
    };
  }

  /** Stops listening and ends every connection and timer. */
  close(): Promise<void> {
    return this.#oneAtATime(async () => {
      this.#closed = true;
      this.#wantEnabled = false;
      await this.#stopListening();
    });
  }

  #oneAtATime<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(step, step);
    this.#serial = run.catch(() => {});
    return run;
  }

  async #startListening(): Promise<void> {
    if (this.#server !== null || this.#closed) return;
    const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
    const port = this.#boundPort ?? this.#listen.port;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.#listen.host, port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new MtproofError(
        'MTP_PROXY_LISTEN_FAILED',
        `proxy ${this.name} cannot listen on ${formatAddress({ host: this.#listen.host, port })}: ${(error as Error).message}`,
        [{ path: 'listen', message: code }],
      );
    }
    // A failed accept (out of file descriptors) is the operating system's trouble, not a reason to crash the
    // process that hosts the proxy: the client sees its connection refused.
    server.on('error', () => {});
    const bound = server.address();
    if (bound !== null && typeof bound === 'object') this.#boundPort = bound.port;
    this.#server = server;
    this.#enabled = true;
  }

  async #stopListening(): Promise<void> {
    this.#enabled = false;
    const server = this.#server;
    this.#server = null;
    const closed = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.#connections) connection.destroy();
    await closed;
  }

  #accept(client: Socket): void {
    if (!this.#enabled) {
      client.destroy();
      return;
    }
    this.#nextConnection += 1;
    const id = this.#nextConnection;
    this.#stats.connectionsTotal += 1;
    const connection = new Connection(id, this.#random.fork(`conn-${id}`), client, this.#upstream, {
      stats: this.#stats,
      decided: (decision) => {
        if (this.#decisions.length >= this.#decisionLimit) {
          this.#decisions.splice(0, this.#decisions.length - this.#decisionLimit + 1);
        }
        this.#decisions.push(decision);
      },
      fired: (toxic) => {
        this.#stats.toxicsFired[toxic] = (this.#stats.toxicsFired[toxic] ?? 0) + 1;
      },
      closed: () => this.#connections.delete(connection),
    });
    this.#connections.add(connection);
    connection.refresh(this.#toxics);
  }

  #refresh(): void {
    for (const connection of this.#connections) connection.refresh(this.#toxics);
  }
}

function copyToxic(toxic: Toxic): Toxic {
  return { ...toxic, attributes: { ...toxic.attributes } } as Toxic;
}

export function unknownProxy(name: string): MtproofError {
  return new MtproofError('MTP_PROXY_UNKNOWN', `no proxy named ${name}`, [{ path: 'name', message: 'unknown' }]);
}

function unknownToxic(proxy: string, name: string): MtproofError {
  return new MtproofError('MTP_PROXY_TOXIC_UNKNOWN', `proxy ${proxy} has no toxic named ${name}`, [
    { path: 'toxic', message: 'unknown' },
  ]);
}

// ---- one connection ----

interface ConnectionHooks {
  stats: ProxyStats;
  decided(decision: Decision): void;
  fired(toxic: string): void;
  closed(): void;
}

interface Draw {
  /** Compared with the toxicity: in effect when below it. */
  u: number;
  /** The same (connection, toxic) stream, for the toxic's further draws (jitter). */
  random: Random;
}

/** A toxic kind that swallows its stream. */
function swallows(toxic: Toxic): boolean {
  return toxic.type === 'blackhole' || toxic.type === 'timeout';
}

class Connection {
  readonly id: number;
  readonly client: Socket;
  readonly upstream: Socket;
  closed = false;
  readonly #random: Random;
  readonly #hooks: ConnectionHooks;
  readonly #draws = new Map<string, Draw>();
  /** The toxicity each toxic's draw was last logged with. */
  readonly #logged = new Map<string, number>();
  #inEffect: Toxic[] = [];
  /** Connection-wide timers (reset at once, timeout), by toxic name, with the toxic they were armed for. */
  readonly #armed = new Map<string, { toxic: Toxic; timer: NodeJS.Timeout }>();
  /** Bytes counted against each byte-limited toxic (reset after N bytes, limitData), both streams added. */
  readonly #seen = new Map<string, number>();
  readonly #sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  readonly #pipes: Record<Stream, Pipe>;
  #socketsOpen = 2;

  constructor(id: number, random: Random, client: Socket, upstream: Address, hooks: ConnectionHooks) {
    this.id = id;
    this.#random = random;
    this.#hooks = hooks;
    this.client = client;
    this.upstream = connect({ host: upstream.host, port: upstream.port, allowHalfOpen: true });
    // Latency is per chunk: Nagle's algorithm would merge chunks behind the toxics' backs.
    client.setNoDelay(true);
    this.upstream.setNoDelay(true);
    this.#pipes = {
      upstream: new Pipe(this, 'upstream', client, this.upstream, hooks.stats.upstream),
      downstream: new Pipe(this, 'downstream', this.upstream, client, hooks.stats.downstream),
    };
    for (const [socket, pipe] of [
      [client, this.#pipes.upstream],
      [this.upstream, this.#pipes.downstream],
    ] as const) {
      socket.on('data', (chunk: Buffer) => pipe.push(chunk));
      socket.on('end', () => pipe.push(null));
      // Either side failing (refused, reset) ends both: nothing more can flow.
      socket.on('error', () => this.destroy());
      socket.on('close', (hadError: boolean) => {
        pipe.sourceClosed = true;
        // A close whose FIN a blackhole swallowed would otherwise leave the other side open for ever.
        if (hadError || pipe.finSwallowed) this.destroy();
        this.#socketsOpen -= 1;
        if (this.#socketsOpen === 0) this.#finish();
      });
    }
  }

  /** Draws for toxics it has not seen, and takes the current list as the one in effect. */
  refresh(toxics: readonly Toxic[]): void {
    if (this.closed) return;
    const before = new Set(this.#inEffect.map((t) => t.name));
    const inEffect: Toxic[] = [];
    for (const toxic of toxics) {
      if (!toxic.enabled) continue;
      let draw = this.#draws.get(toxic.name);
      if (draw === undefined) {
        const random = this.#random.fork(`toxic-${toxic.name}`);
        draw = { u: random.float(), random };
        this.#draws.set(toxic.name, draw);
      }
      const on = draw.u < toxic.toxicity;
      if (this.#logged.get(toxic.name) !== toxic.toxicity) {
        this.#logged.set(toxic.name, toxic.toxicity);
        this.#hooks.decided({ connection: this.id, toxic: toxic.name, toxicity: toxic.toxicity, inEffect: on });
      }
      if (on) {
        inEffect.push(toxic);
        if (!before.has(toxic.name)) this.#hooks.fired(toxic.name);
      }
    }
    this.#inEffect = inEffect;
    this.#arm();
    this.#pipes.upstream.poke();
    this.#pipes.downstream.poke();
  }

  /** The toxics in effect on `stream`, in the proxy's order. */
  inEffect(stream: Stream): Toxic[] {
    return this.#inEffect.filter((t) => t.direction === stream || t.direction === 'both');
  }

  /** A latency toxic's delay for one chunk: its latency and a uniform jitter draw, never below 0. */
  delayMs(toxic: Toxic & { type: 'latency' }): number {
    const { latencyMs, jitterMs } = toxic.attributes;
    const jitter = jitterMs === 0 ? 0 : (this.#draws.get(toxic.name)?.random.int(-jitterMs, jitterMs) ?? 0);
    return Math.max(0, latencyMs + jitter);
  }

  seen(toxic: string): number {
    return this.#seen.get(toxic) ?? 0;
  }

  count(toxic: string, bytes: number): void {
    this.#seen.set(toxic, this.seen(toxic) + bytes);
  }

  /** A real wait that ends early (at once) when the connection is torn down. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.#sleeps.add(entry);
    });
  }

  /** Ends both sides at once (a FIN, or an RST where data is still unread). */
  destroy(): void {
    if (this.closed) return;
    this.#stop();
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Resets both sides: the client reads ECONNRESET. */
  reset(): void {
    if (this.closed) return;
    this.#stop();
    resetSocket(this.client);
    resetSocket(this.upstream);
  }

  #arm(): void {
    for (const [name, armed] of this.#armed) {
      if (!this.#inEffect.includes(armed.toxic)) {
        clearTimeout(armed.timer);
        this.#armed.delete(name);
      }
    }
    for (const toxic of this.#inEffect) {
      if (this.closed) return;
      if (this.#armed.has(toxic.name)) continue;
      if (toxic.type === 'reset' && toxic.attributes.afterBytes === 0 && toxic.attributes.delayMs === 0) {
        // At once means before any byte passes: a timer would let the first chunks through.
        this.reset();
      } else if (toxic.type === 'reset' && toxic.attributes.afterBytes === 0) {
        this.#armed.set(toxic.name, { toxic, timer: setTimeout(() => this.reset(), toxic.attributes.delayMs) });
      } else if (toxic.type === 'timeout' && toxic.attributes.timeoutMs > 0) {
        this.#armed.set(toxic.name, { toxic, timer: setTimeout(() => this.destroy(), toxic.attributes.timeoutMs) });
      }
    }
  }

  #stop(): void {
    this.closed = true;
    for (const { timer } of this.#armed.values()) clearTimeout(timer);
    this.#armed.clear();
    for (const sleep of this.#sleeps) {
      clearTimeout(sleep.timer);
      sleep.resolve();
    }
    this.#sleeps.clear();
  }

  #finish(): void {
    this.#stop();
    this.#hooks.closed();
  }
}

function resetSocket(socket: Socket): void {
  // An RST needs a connected handle: a socket still connecting (or already gone) is simply destroyed.
  if (socket.connecting || socket.destroyed) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

// ---- one stream of a connection ----

/**
 * One direction of a connection: chunks (and the FIN, as `null`) in arrival order, each passed through the
 * toxics in effect when its turn comes, one at a time, so order is kept whatever the delays.
 */
class Pipe {
  readonly #connection: Connection;
  readonly #stream: Stream;
  readonly #source: Socket;
  readonly #dest: Socket;
  readonly #stats: StreamStats;
  readonly #queue: { chunk: Buffer | null; atMs: number }[] = [];
  #queuedBytes = 0;
  #running = false;
  #paused = false;
  /** When the bandwidth toxic lets the next bytes go. */
  #nextFreeMs = 0;
  /** The source's FIN was swallowed by a blackhole: delivered if the blackhole goes away. */
  finSwallowed = false;
  sourceClosed = false;

  constructor(connection: Connection, stream: Stream, source: Socket, dest: Socket, stats: StreamStats) {
    this.#connection = connection;
    this.#stream = stream;
    this.#source = source;
    this.#dest = dest;
    this.#stats = stats;
  }

  push(chunk: Buffer | null): void {
    if (this.#connection.closed) return;
    if (chunk !== null) {
      this.#stats.receivedBytes += chunk.length;
      this.#queuedBytes += chunk.length;
      if (this.#queuedBytes > HIGH_WATER_BYTES && !this.#paused) {
        this.#paused = true;
        this.#source.pause();
      }
    }
    this.#queue.push({ chunk, atMs: Date.now() });
    if (!this.#running) {
      this.#running = true;
      this.#run().then(
        () => {
          this.#running = false;
        },
        () => {
          // A toxic step that threw (a socket gone in a way not foreseen): the connection cannot go on.
          this.#running = false;
          this.#connection.destroy();
        },
      );
    }
  }

  /** The toxics changed: a FIN a blackhole swallowed goes on once no toxic swallows the stream. */
  poke(): void {
    if (this.finSwallowed && !this.#connection.inEffect(this.#stream).some(swallows)) {
      this.finSwallowed = false;
      this.push(null);
    }
  }

  async #run(): Promise<void> {
    for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
      if (this.#connection.closed) return;
      if (item.chunk === null) {
        await this.#fin(item.atMs);
        continue;
      }
      this.#queuedBytes -= item.chunk.length;
      if (this.#paused && this.#queuedBytes < HIGH_WATER_BYTES / 4) {
        this.#paused = false;
        this.#source.resume();
      }
      await this.#data(item.chunk, item.atMs);
    }
  }

  async #data(chunk: Buffer, atMs: number): Promise<void> {
    const connection = this.#connection;
    const toxics = connection.inEffect(this.#stream);
    if (toxics.some(swallows)) return;
    let data = chunk;
    let then: 'reset' | 'close' | null = null;
    const limited = toxics.filter((t) => (t.type === 'reset' && t.attributes.afterBytes > 0) || t.type === 'limitData');
    for (const toxic of limited) {
      const limit =
        toxic.type === 'reset' ? toxic.attributes.afterBytes : toxic.type === 'limitData' ? toxic.attributes.bytes : 0;
      const room = Math.max(0, limit - connection.seen(toxic.name));
      if (data.length >= room) {
        data = data.subarray(0, room);
        then = toxic.type === 'reset' || then === 'reset' ? 'reset' : 'close';
      }
    }
    for (const toxic of limited) connection.count(toxic.name, data.length);
    await this.#delay(toxics, atMs);
    if (connection.closed) return;
    await this.#write(data, toxics);
    if (then === null) return;
    // The bytes let through go out before the connection is cut: an RST would drop what is still buffered.
    await this.#flushed();
    if (then === 'reset') connection.reset();
    else connection.destroy();
  }

  async #fin(atMs: number): Promise<void> {
    const toxics = this.#connection.inEffect(this.#stream);
    if (toxics.some(swallows)) {
      this.finSwallowed = true;
      if (this.sourceClosed) this.#connection.destroy();
      return;
    }
    await this.#delay(toxics, atMs);
    let closeDelayMs = 0;
    for (const toxic of toxics) if (toxic.type === 'slowClose') closeDelayMs += toxic.attributes.delayMs;
    await this.#connection.sleep(closeDelayMs);
    if (!this.#connection.closed && !this.#dest.destroyed) this.#dest.end();
  }

  /** Latency counts from the chunk's arrival: chunks queued behind a slow one are not delayed twice. */
  async #delay(toxics: readonly Toxic[], atMs: number): Promise<void> {
    let delayMs = 0;
    for (const toxic of toxics) if (toxic.type === 'latency') delayMs += this.#connection.delayMs(toxic);
    if (delayMs > 0) await this.#connection.sleep(atMs + delayMs - Date.now());
  }

  async #write(data: Buffer, toxics: readonly Toxic[]): Promise<void> {
    let rate = Number.POSITIVE_INFINITY;
    for (const toxic of toxics) if (toxic.type === 'bandwidth') rate = Math.min(rate, toxic.attributes.rateBytesPerSec);
    if (rate === Number.POSITIVE_INFINITY) {
      await this.#send(data);
      return;
    }
    // Slices of about 50 ms of the rate, so that the stream flows evenly rather than in bursts.
    const sliceBytes = Math.max(1, Math.min(64 * 1024, Math.ceil(rate / 20)));
    for (let at = 0; at < data.length; at += sliceBytes) {
      await this.#connection.sleep(this.#nextFreeMs - Date.now());
      if (this.#connection.closed) return;
      const part = data.subarray(at, at + sliceBytes);
      this.#nextFreeMs = Math.max(Date.now(), this.#nextFreeMs) + (part.length * 1000) / rate;
      await this.#send(part);
    }
  }

  /** Resolves once everything written so far has left for the kernel (or the socket is gone). */
  #flushed(): Promise<void> {
    const dest = this.#dest;
    if (dest.destroyed || dest.writableEnded || dest.writableLength === 0) return Promise.resolve();
    // Writes complete in order: an empty write's callback comes after every earlier one's.
    return new Promise((resolve) => dest.write(Buffer.alloc(0), () => resolve()));
  }

  async #send(data: Buffer): Promise<void> {
    const dest = this.#dest;
    if (data.length === 0 || dest.destroyed || dest.writableEnded) return;
    this.#stats.forwardedBytes += data.length;
    if (dest.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        dest.off('drain', done);
        dest.off('close', done);
        resolve();
      };
      dest.on('drain', done);
      dest.on('close', done);
    });
  }
}

// ---- many proxies ----

export interface ProxyRegistryOptions {
  /** The seed of every proxy created here (each derives its own stream from its name). */
  seed: string;
  /** Most proxies (default 64). */
  maxProxies?: number;
  /** Most toxics per proxy (default 32). */
  maxToxics?: number;
}

/** Named proxies, as the control API manages them. */
export class ProxyRegistry {
  readonly seed: string;
  readonly #proxies = new Map<string, FaultProxy>();
  /** Names being created: a second create with the same name is refused while the first one is listening. */
  readonly #pending = new Set<string>();
  readonly #maxProxies: number;
  readonly #maxToxics: number;

  constructor(options: ProxyRegistryOptions) {
    this.seed = options.seed;
    this.#maxProxies = options.maxProxies ?? 64;
    this.#maxToxics = options.maxToxics ?? 32;
  }

  /** Creates a proxy and starts it (when enabled); not kept when it cannot listen. */
  async create(input: ProxyInput & { toxics?: readonly ToxicInput[] }): Promise<FaultProxy> {
    if (this.#proxies.has(input.name) || this.#pending.has(input.name)) {
      throw new MtproofError('MTP_PROXY_EXISTS', `a proxy named ${input.name} exists already`, [
        { path: 'name', message: 'taken' },
      ]);
    }
    if (this.#proxies.size + this.#pending.size >= this.#maxProxies) {
      throw new MtproofError('MTP_PROXY_LIMIT', `there are ${this.#maxProxies} proxies already: delete one first`);
    }
    const proxy = new FaultProxy({
      name: input.name,
      listen: input.listen,
      upstream: input.upstream,
      enabled: input.enabled,
      seed: this.seed,
      toxics: input.toxics,
      maxToxics: this.#maxToxics,
    });
    this.#pending.add(input.name);
    try {
      await proxy.start();
    } catch (error) {
      await proxy.close();
      throw error;
    } finally {
      this.#pending.delete(input.name);
    }
    this.#proxies.set(input.name, proxy);
    return proxy;
  }

  /** Every proxy, by name. */
  list(): FaultProxy[] {
    return [...this.#proxies.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): FaultProxy | undefined {
    return this.#proxies.get(name);
  }

  /** The proxy named `name`, or MTP_PROXY_UNKNOWN. */
  require(name: string): FaultProxy {
    const proxy = this.#proxies.get(name);
    if (proxy === undefined) throw unknownProxy(name);
    return proxy;
  }

  async update(name: string, patch: ProxyPatch): Promise<FaultProxy> {
    const proxy = this.require(name);
    await proxy.update(patch);
    return proxy;
  }

  async delete(name: string): Promise<void> {
    const proxy = this.require(name);
    this.#proxies.delete(name);
    await proxy.close();
  }

  /**
   * Every toxic removed and every proxy enabled (as Toxiproxy's reset). Tries them all; the first proxy that
   * cannot listen again is reported after.
   */
  async reset(): Promise<void> {
    let failure: unknown = null;
    for (const proxy of this.list()) {
      proxy.removeAllToxics();
      try {
        await proxy.update({ enabled: true });
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== null) throw failure;
  }

  /** Closes every proxy (ends their sockets and timers). */
  async close(): Promise<void> {
    const proxies = [...this.#proxies.values()];
    this.#proxies.clear();
    await Promise.all(proxies.map((p) => p.close()));
  }
}
