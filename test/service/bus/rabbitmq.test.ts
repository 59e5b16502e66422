import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { connect } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemClock } from '../../../kit/clock.ts';
import { RabbitMqBus } from '../../../service/bus/rabbitmq.ts';
import type { LogEntry } from '../../../service/log.ts';
import { busContract, collect, eventually, ManualClock, message, mustPublish } from './bus.contract.ts';

/**
 * The RabbitMQ adapter against a real broker (`AMQP_URL`; CI sets it, see .ci/run): the bus contract, and
 * what only a network can do to it — the connection dropped under it (through a TCP proxy the test cuts),
 * publishing during the outage, reconnecting with backoff and re-establishing its consumers.
 * Every test declares its own exchange and queues (random names) and deletes them afterwards.
 */

const AMQP_URL = process.env.AMQP_URL;

/** Deletes the queues and the exchange a test created, on a connection of its own. */
async function cleanUp(exchange: string, queues: string[]): Promise<void> {
  const conn = await connect(AMQP_URL as string);
  try {
    const ch = await conn.createChannel();
    for (const queue of queues) await ch.deleteQueue(queue);
    await ch.deleteExchange(exchange);
    await ch.close();
  } finally {
    await conn.close();
  }
}

function names() {
  const exchange = `mtproof.test.${process.pid}.${randomBytes(4).toString('hex')}`;
  const queues: string[] = [];
  return {
    exchange,
    queues,
    queue: (name: string) => {
      const queue = `${exchange}.${name}`;
      queues.push(queue);
      return queue;
    },
  };
}

const TITLE = AMQP_URL === undefined ? 'RabbitMQ bus (skipped: AMQP_URL is not set)' : 'RabbitMQ bus (AMQP_URL)';

describe.skipIf(AMQP_URL === undefined)(TITLE, () => {
  busContract('RabbitMQ', async () => {
    const n = names();
    const clock = new ManualClock();
    const bus = new RabbitMqBus({ url: AMQP_URL as string, clock, exchange: n.exchange });
    return {
      bus,
      clock,
      queue: n.queue,
      dispose: async () => {
        await bus.close();
        await cleanUp(n.exchange, n.queues);
      },
    };
  });

  it('refuses a queue the broker holds with other properties (MTP_BUS_REFUSED) and keeps publishing', async () => {
    const n = names();
    const queue = n.queue('transient');
    // Someone else declared it non-durable: RabbitMQ refuses our durable declaration (406).
    const other = await connect(AMQP_URL as string);
    const ch = await other.createChannel();
    await ch.assertQueue(queue, { durable: false });
    await other.close();
    const bus = new RabbitMqBus({ url: AMQP_URL as string, clock: new SystemClock(), exchange: n.exchange });
    try {
      const declared = await bus.declareQueue({ queue, topics: ['#'] });
      expect(declared.ok ? null : declared.error.code).toBe('MTP_BUS_REFUSED');
      const consumed = await bus.consume({ queue, topics: ['#'] }, async () => {});
      expect(consumed.ok ? null : consumed.error.code).toBe('MTP_BUS_REFUSED');
      // Only the declaring channel failed: the connection and the publisher are fine.
      const c = await collect(bus, n.queue('fine'), ['trade.*']);
      await mustPublish(bus, [message('trade.open', {}, 'still')]);
      await eventually('the delivery', () => c.ids().includes('still'));
      expect(bus.reconnects).toBe(0);
    } finally {
      await bus.close();
      await cleanUp(n.exchange, n.queues);
    }
  });

  it('fails a publish the broker nacks with MTP_BUS_REFUSED (a queue that rejects what overflows it)', async () => {
    const n = names();
    const bus = new RabbitMqBus({ url: AMQP_URL as string, clock: new ManualClock(), exchange: n.exchange });
    const other = await connect(AMQP_URL as string);
    try {
      expect((await bus.connect()).ok).toBe(true);
      // A full queue (length 0) that refuses new messages: the broker nacks each one routed to it.
      const ch = await other.createChannel();
      const full = n.queue('full');
      await ch.assertQueue(full, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
      await ch.bindQueue(full, n.exchange, 'trade.#');
      const result = await bus.publish([message('trade.open', {}, 'refused')]);
      expect(result).toEqual({
        ok: false,
        error: { code: 'MTP_BUS_REFUSED', message: expect.stringContaining('nack') },
      });
    } finally {
      await other.close();
      await bus.close();
      await cleanUp(n.exchange, n.queues);
    }
  });

  it('fails a publish whose channel the broker closes as a value (MTP_BUS_UNAVAILABLE), then recovers', async () => {
    const n = names();
    const log: LogEntry[] = [];
    const bus = new RabbitMqBus({
      url: AMQP_URL as string,
      clock: new SystemClock(),
      exchange: n.exchange,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50, factor: 2, jitter: 0 },
      log: (entry) => log.push(entry),
    });
    try {
      const c = await collect(bus, n.queue('after'), ['trade.*']);
      // The exchange is deleted under the bus: the broker closes the publishing channel (404) on the next
      // publish, with an 'error' event that, unheard, would crash the process.
      const other = await connect(AMQP_URL as string);
      const ch = await other.createChannel();
      await ch.deleteExchange(n.exchange);
      await other.close();
      const result = await bus.publish([message('trade.open', {}, 'lost-channel')]);
      expect(result).toEqual({
        ok: false,
        error: { code: 'MTP_BUS_UNAVAILABLE', message: expect.stringContaining('closed') },
      });
      // The bus starts over on a fresh connection: the exchange and the consumer's binding are declared again.
      await eventually('the reconnect', () => bus.reconnects === 1 && bus.connected);
      await mustPublish(bus, [message('trade.open', {}, 'lost-channel')]);
      await eventually('the delivery after the reconnect', () => c.ids().includes('lost-channel'));
      expect(log.some((e) => e.msg === 'rabbitmq: a channel failed, reconnecting')).toBe(true);
    } finally {
      await bus.close();
      await cleanUp(n.exchange, n.queues);
    }
  });

  describe('through a connection that drops', () => {
    const opened: { bus: RabbitMqBus; proxy: CuttableProxy; n: ReturnType<typeof names> }[] = [];
    afterEach(async () => {
      for (const { bus, proxy, n } of opened.splice(0)) {
        await bus.close();
        await proxy.close();
        await cleanUp(n.exchange, n.queues);
      }
    });

    async function proxied() {
      const proxy = await CuttableProxy.start(new URL(AMQP_URL as string));
      const n = names();
      const log: LogEntry[] = [];
      const bus = new RabbitMqBus({
        url: proxy.url(AMQP_URL as string),
        clock: new SystemClock(),
        exchange: n.exchange,
        reconnect: { initialDelayMs: 20, maxDelayMs: 200, factor: 2, jitter: 0 },
        log: (entry) => log.push(entry),
      });
      opened.push({ bus, proxy, n });
      return { bus, proxy, n, log };
    }

    it('fails publishing during the outage as a value, then reconnects and publishes again', async () => {
      const { bus, proxy, n, log } = await proxied();
      const c = await collect(bus, n.queue('events'), ['trade.*']);
      await mustPublish(bus, [message('trade.open', {}, 'before')]);
      await eventually('the first delivery', () => c.ids().includes('before'));

      proxy.refuse(true);
      proxy.dropAll();
      await eventually('the bus noticing the drop', () => !bus.connected);
      const during = await bus.publish([message('trade.open', {}, 'during')]);
      expect(during.ok).toBe(false);
      if (!during.ok) expect(during.error.code).toBe('MTP_BUS_UNAVAILABLE');

      proxy.refuse(false);
      await eventually('the reconnect', () => bus.connected);
      expect(bus.reconnects).toBe(1);
      expect(log.some((e) => e.msg === 'rabbitmq: connection lost, reconnecting')).toBe(true);
      // The relay retries the batch that failed: it goes through now.
      await mustPublish(bus, [message('trade.open', {}, 'during'), message('trade.close', {}, 'after')]);
      // The consumer was re-established on the new connection: it gets them without being told.
      await eventually('deliveries after the reconnect', () => c.ids().includes('after'));
      expect(c.ids()).toEqual(['before', 'during', 'after']);
    });

    it('redelivers, after the reconnect, what a consumer held unacknowledged when the connection dropped', async () => {
      const { bus, proxy, n } = await proxied();
      let hold = true;
      const c = await collect(bus, n.queue('held'), ['trade.*'], async () => {
        if (hold) await new Promise(() => {});
      });
      await mustPublish(bus, [message('trade.open', {}, 'held-1'), message('trade.open', {}, 'held-2')]);
      await eventually('both held', () => c.deliveries.length === 2);
      hold = false;
      proxy.dropAll();
      await eventually('both delivered again', () => c.deliveries.length === 4);
      expect(c.deliveries.map((d) => [d.id, d.redelivered])).toEqual([
        ['held-1', false],
        ['held-2', false],
        ['held-1', true],
        ['held-2', true],
      ]);
    });

    it('connects lazily and answers MTP_BUS_UNAVAILABLE when the broker cannot be reached at all', async () => {
      const { bus, proxy, n } = await proxied();
      proxy.refuse(true);
      const result = await bus.declareQueue({ queue: n.queue('never'), topics: ['#'] });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe('MTP_BUS_UNAVAILABLE');
      proxy.refuse(false);
      await eventually('the background reconnect', () => bus.connected);
      expect((await bus.declareQueue({ queue: n.queue('never'), topics: ['#'] })).ok).toBe(true);
    });
  });
});

/** A TCP proxy to the broker that a test can cut (every open socket destroyed) or make refuse connections. */
class CuttableProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #refusing = false;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(target: URL): Promise<CuttableProxy> {
    const port = Number(target.port === '' ? 5672 : target.port);
    const proxy: CuttableProxy = new CuttableProxy(
      net.createServer((client) => {
        if (proxy.#refusing) {
          client.destroy();
          return;
        }
        const upstream = net.connect(port, target.hostname);
        for (const s of [client, upstream]) {
          proxy.#sockets.add(s);
          s.on('close', () => proxy.#sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      }),
    );
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  url(original: string): string {
    const u = new URL(original);
    u.hostname = '127.0.0.1';
    u.port = String((this.#server.address() as net.AddressInfo).port);
    return u.toString();
  }

  refuse(refusing: boolean): void {
    this.#refusing = refusing;
  }

  dropAll(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
