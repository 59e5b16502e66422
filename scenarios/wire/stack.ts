import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../kit/clock.ts';

/**
 * The real stack's processes: `mtproof sim serve` and `mtproof service`, each a child process of the harness
 * (the same `bin/mtproof.js` a user runs), with what they print kept for the report and a way to wait for a
 * line, to stop them politely, and to kill them with SIGKILL at any point, as a crash would.
 */

const BIN = fileURLToPath(new URL('../../bin/mtproof.js', import.meta.url));

export class MtproofProcess {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #clock: Clock;
  /** Everything it printed, newest last (bounded). */
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  #exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(name: string, args: readonly string[], env: NodeJS.ProcessEnv, clock: Clock, cwd: string) {
    this.name = name;
    this.#clock = clock;
    this.#child = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    const take = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        this.output.push(line);
        if (this.output.length > 2_000) this.output.splice(0, 500);
        for (const waiter of [...this.#waiters]) {
          const match = line.match(waiter.re);
          if (match !== null) {
            this.#waiters = this.#waiters.filter((w) => w !== waiter);
            waiter.resolve(match);
          }
        }
      }
    };
    this.#child.stdout?.on('data', take);
    this.#child.stderr?.on('data', take);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** The first line (from now, or already printed) matching `re`; throws after `timeoutMs` or when it exits. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.output) {
      const match = line.match(re);
      if (match !== null) return match;
    }
    let waiter: { re: RegExp; resolve: (m: RegExpMatchArray) => void } | undefined;
    const found = new Promise<RegExpMatchArray>((resolve) => {
      waiter = { re, resolve };
      this.#waiters.push(waiter);
    });
    const outcome = await Promise.race([
      found,
      this.exited.then((e) => new Error(`${this.name} exited (${e.code ?? e.signal}) before printing ${re}`)),
      this.#clock.sleep(timeoutMs).then(() => new Error(`${this.name} printed no ${re} within ${timeoutMs} ms`)),
    ]);
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
    if (outcome instanceof Error) {
      throw new Error(`${outcome.message}\n--- ${this.name} output ---\n${this.output.slice(-40).join('\n')}`);
    }
    return outcome;
  }

  /** SIGKILL: no handler runs, nothing is flushed — what the store committed is all that survives. */
  async kill(): Promise<void> {
    if (this.#exit !== null) return;
    this.#child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#exit !== null) return;
    this.#child.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), this.#clock.sleep(graceMs).then(() => false)]);
    if (!done) await this.kill();
  }
}
