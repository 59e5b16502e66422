import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../kit/clock.ts';
import { StoreConflictError } from '../../../service/store/port.ts';
import type { SqlClient, SqlConnection, SqlQuery, SqlResult } from '../../../service/store/sql.ts';
import { SqlStore } from '../../../service/store/sql.ts';
import { job } from './store.contract.ts';

/**
 * SqlStore's transaction control on a scripted connection: what it sends, and how it gives the connection
 * back, when a statement, COMMIT or the connection itself fails. (The contract suite runs the same store on
 * PGlite and Postgres; these are the failures a real server will not produce on demand.)
 */

type Answer = SqlResult | Error | Promise<SqlResult>;

/** A connection that answers each statement with `answer(text)` and records what it saw. */
class ScriptedClient implements SqlClient {
  readonly sent: string[] = [];
  /** One entry per connection handed out: undefined when given back healthy, the error when discarded. */
  readonly released: unknown[] = [];
  connections = 0;
  readonly #answer: (text: string, sent: string[]) => Answer;
  readonly #pipelined: boolean;
  readonly exclusive: boolean;

  constructor(
    answer: (text: string, sent: string[]) => Answer = () => ({ rows: [] }),
    pipelined = false,
    exclusive = false,
  ) {
    this.#answer = answer;
    this.#pipelined = pipelined;
    this.exclusive = exclusive;
  }

  async connect(): Promise<SqlConnection> {
    this.connections++;
    let released = false;
    return {
      query: async (query: SqlQuery) => {
        if (released) throw new Error(`statement on a connection already given back: ${query.text}`);
        const text = query.text.split(' ')[0] as string;
        this.sent.push(text);
        const answer = await this.#answer(text, this.sent);
        if (answer instanceof Error) throw answer;
        return answer;
      },
      exec: async () => {},
      pipelined: this.#pipelined,
      release: (error?: unknown) => {
        released = true;
        this.released.push(error);
      },
    };
  }

  async end(): Promise<void> {}
}

function fails(code: string | undefined, message = `failed (${code})`): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

const inserted = { rows: [{ inserted: 1 }] };

/** A clock whose sleeps return at once, recording how long each was, and whether a connection was held. */
function pausing(client: ScriptedClient) {
  const pauses: { ms: number; holding: boolean }[] = [];
  const clock: Clock = {
    nowMs: () => 0,
    sleep: async (ms) => {
      pauses.push({ ms, holding: client.released.length < client.connections });
    },
  };
  return { clock, pauses };
}

describe('SqlStore transaction control', () => {
  it('rolls back and gives the connection back healthy when fn throws', async () => {
    const client = new ScriptedClient(() => inserted);
    const store = new SqlStore(client);
    await expect(
      store.transaction(async (tx) => {
        await tx.insert('jobs', job('J1'));
        throw new Error('the caller changed its mind');
      }),
    ).rejects.toThrow('the caller changed its mind');
    expect(client.sent).toEqual(['BEGIN', 'INSERT', 'ROLLBACK']);
    expect(client.released).toEqual([undefined]);
  });

  it('runs fn again when COMMIT fails with a serialization failure, giving back each connection once', async () => {
    let commits = 0;
    const client = new ScriptedClient((text) =>
      text === 'COMMIT' && ++commits === 1 ? fails('40001', 'could not serialize access') : inserted,
    );
    const store = new SqlStore(client);
    let runs = 0;
    await store.transaction(async (tx) => {
      runs++;
      await tx.insert('jobs', job('J1'));
    });
    expect(runs).toBe(2);
    expect(client.sent).toEqual(['BEGIN', 'INSERT', 'COMMIT', 'ROLLBACK', 'BEGIN', 'INSERT', 'COMMIT']);
    expect(client.released).toEqual([undefined, undefined]);
  });

  it('pauses before each rerun after a conflict, a random while growing with the conflicts, holding no connection', async () => {
    let commits = 0;
    const client = new ScriptedClient((text) => (text === 'COMMIT' && ++commits <= 9 ? fails('40001') : inserted));
    const { clock, pauses } = pausing(client);
    const store = new SqlStore(client, { clock });
    await store.transaction((tx) => tx.insert('jobs', job('J1')));
    expect(client.connections).toBe(10);
    expect(pauses.map((p) => p.holding)).toEqual(Array.from({ length: 9 }, () => false));
    // The n-th pause is drawn from [0, min(2^(n-1), 64)) ms: transactions that met once meet again rarely.
    pauses.forEach(({ ms }, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(Math.min(2 ** i, 64));
    });
    expect(new Set(pauses.map((p) => p.ms)).size).toBe(9);
    expect(pauses.slice(5).some((p) => p.ms > 1)).toBe(true);
  });

  it('reruns at once, without a pause, after a preempted turn on a one-session client (PGlite)', async () => {
    let commits = 0;
    const client = new ScriptedClient(
      (text) => (text === 'COMMIT' && ++commits === 1 ? fails('40001') : inserted),
      false,
      true,
    );
    const { clock, pauses } = pausing(client);
    const store = new SqlStore(client, { clock });
    await store.transaction((tx) => tx.insert('jobs', job('J1')));
    expect(client.connections).toBe(2);
    expect(pauses).toEqual([]);
  });

  it('surfaces the conflict after 50 runs, with every connection given back', async () => {
    const client = new ScriptedClient((text) => (text === 'COMMIT' ? fails('40001') : inserted));
    const store = new SqlStore(client, { clock: pausing(client).clock });
    const error = await store.transaction((tx) => tx.insert('jobs', job('J1'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConflictError);
    expect(client.connections).toBe(50);
    expect(client.released).toEqual(Array.from({ length: 50 }, () => undefined));
  });

  it('discards a connection that cannot even roll back', async () => {
    const reset = fails('ECONNRESET', 'read ECONNRESET');
    const client = new ScriptedClient((text) => (text === 'INSERT' || text === 'ROLLBACK' ? reset : inserted));
    const store = new SqlStore(client);
    await expect(store.transaction((tx) => tx.insert('jobs', job('J1')))).rejects.toBe(reset);
    expect(client.released).toEqual([reset]);
  });

  it('discards a connection that broke while beginning (a network error has a code too, but no SQLSTATE)', async () => {
    const reset = fails('ECONNRESET', 'read ECONNRESET');
    const client = new ScriptedClient((text) => (text === 'BEGIN' ? reset : inserted));
    const store = new SqlStore(client);
    await expect(store.transaction((tx) => tx.insert('jobs', job('J1')))).rejects.toBe(reset);
    expect(client.released).toEqual([reset]);
  });

  it('gives back healthy a connection whose claim peek the database refused (no transaction was open)', async () => {
    const missing = fails('42P01', 'relation "jobs" does not exist');
    const client = new ScriptedClient(() => missing);
    const store = new SqlStore(client);
    await expect(store.transaction((tx) => tx.claimJobs(0, 'w1', 1_000, 1))).rejects.toBe(missing);
    expect(client.sent).toEqual(['SELECT']);
    expect(client.released).toEqual([undefined]);
  });

  it('sends BEGIN with the first statement on a pipelining connection, and fails that statement with BEGIN', async () => {
    const lost = fails('08006', 'connection failure');
    let answerBegin!: (result: SqlResult | Error) => void;
    const beginAnswer = new Promise<SqlResult | Error>((resolve) => {
      answerBegin = resolve;
    });
    const client = new ScriptedClient((text, sent) => {
      if (text === 'BEGIN') return beginAnswer.then((a) => (a instanceof Error ? Promise.reject(a) : a));
      // The statement was sent before BEGIN was answered: BEGIN's answer decides it.
      if (text === 'SELECT') answerBegin(sent.length === 2 ? lost : new Error('SELECT sent after BEGIN was answered'));
      return text === 'ROLLBACK' ? lost : { rows: [{ ref: 'R1' }] };
    }, true);
    const store = new SqlStore(client);
    const error = await store.transaction((tx) => tx.get('transfers', 'R1')).catch((e: unknown) => e);
    expect(error).toBe(lost);
    expect(client.sent).toEqual(['BEGIN', 'SELECT', 'ROLLBACK']);
    expect(client.released).toEqual([lost]);
  });

  it('ends every statement fn started before giving the connection back, even one fn did not wait for', async () => {
    // BEGIN answers late: fn fails while its first statement still waits for it.
    let answerBegin!: () => void;
    const begun = new Promise<SqlResult>((resolve) => {
      answerBegin = () => resolve({ rows: [] });
    });
    const client = new ScriptedClient((text) => (text === 'BEGIN' ? begun : inserted));
    const store = new SqlStore(client);
    let late: Promise<unknown> = Promise.resolve();
    const failed = store
      .transaction(async (tx) => {
        late = tx.insert('jobs', job('J1')).catch((e: unknown) => e);
        throw new Error('fn failed at once');
      })
      .catch((e: unknown) => e);
    // Let the store act on the failure before BEGIN is answered.
    await new Promise((resolve) => setImmediate(resolve));
    answerBegin();
    expect(await failed).toEqual(new Error('fn failed at once'));
    await late;
    // The BEGIN it sent is rolled back on the same connection, before that connection is given back.
    expect(client.sent.at(-1)).toBe('ROLLBACK');
    expect(client.released).toEqual([undefined]);
  });

  it('commits the statements fn started and did not wait for, as the memory store does', async () => {
    const client = new ScriptedClient(() => inserted);
    const store = new SqlStore(client);
    await store.transaction(async (tx) => {
      void tx.insert('jobs', job('J1'));
    });
    expect(client.sent).toEqual(['BEGIN', 'INSERT', 'COMMIT']);
    expect(client.released).toEqual([undefined]);
  });
});
