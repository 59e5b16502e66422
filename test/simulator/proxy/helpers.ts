import { connect, createServer, type Server, type Socket } from 'node:net';
import { FaultProxy } from '../../../simulator/proxy/proxy.ts';
import { type ToxicInput, toxicInput } from '../../../simulator/proxy/schema.ts';

/** Real sockets on 127.0.0.1, any free port: an upstream to forward to, clients, and small waits. */

export interface Upstream {
  port: number;
  /** Everything each accepted connection sent, in order of acceptance. */
  received: Buffer[][];
  /** The server side of each accepted connection. */
  sockets: Socket[];
  close(): Promise<void>;
}

/** An upstream that answers each connection with `onConnection` (default: echo every byte back, half-close on FIN). */
export async function upstream(onConnection?: (socket: Socket) => void): Promise<Upstream> {
  const received: Buffer[][] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks: Buffer[] = [];
    received.push(chunks);
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    if (onConnection !== undefined) onConnection(socket);
    else {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('upstream: no port');
  return {
    port: address.port,
    received,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy on 127.0.0.1:0 in front of `upstreamPort`, started. */
export async function proxyTo(
  upstreamPort: number,
  toxics: readonly unknown[] = [],
  options: { seed?: string; name?: string } = {},
): Promise<FaultProxy> {
  const proxy = new FaultProxy({
    name: options.name ?? 'test',
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: upstreamPort },
    seed: options.seed ?? 'proxy-test',
    toxics: toxics.map((t) => toxicInput.parse(t) as ToxicInput),
  });
  await proxy.start();
  return proxy;
}

export function portOf(proxy: FaultProxy): number {
  const address = proxy.address;
  if (address === null) throw new Error(`proxy ${proxy.name} is not listening`);
  return address.port;
}

/** A client connection, with everything it reads and how it ended recorded. */
export interface Client {
  socket: Socket;
  data(): Buffer;
  /** Resolves with the error code (ECONNRESET, ...) or 'end' / 'close' when the connection ends. */
  ended: Promise<string>;
  /** When the first 'end' (FIN) or error came, Date.now(); null until then. */
  endedAtMs(): number | null;
  /** Resolves once at least `bytes` have been read (rejects after `timeoutMs`). */
  read(bytes: number, timeoutMs?: number): Promise<Buffer>;
}

export async function client(port: number): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let endedAt: number | null = null;
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    for (const wake of waiters.splice(0)) wake();
  });
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (error: NodeJS.ErrnoException) => {
      endedAt ??= Date.now();
      resolve(error.code ?? 'error');
    });
    socket.on('end', () => {
      endedAt ??= Date.now();
      resolve('end');
    });
    socket.on('close', () => {
      endedAt ??= Date.now();
      resolve('close');
    });
  });
  // A connection the proxy resets at once may fail before it is seen connected: `ended` tells how it ended.
  await Promise.race([new Promise<void>((resolve) => socket.once('connect', resolve)), ended]);
  const data = () => Buffer.concat(chunks);
  return {
    socket,
    data,
    ended,
    endedAtMs: () => endedAt,
    read: async (bytes, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      while (data().length < bytes) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`read: ${data().length} of ${bytes} bytes after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return data();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it holds (rejects after `timeoutMs`). */
export async function until(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
