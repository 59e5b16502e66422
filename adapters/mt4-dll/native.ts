import koffi, { type KoffiFunc, type TypeObject } from 'koffi';
import { MtproofError } from '../../kit/errors.ts';
import { MT4_API_VERSION } from '../../metatrader/constants.ts';
import { MT4_SLOTS, type Mt4SlotName } from './slots.ts';
import { checkLayouts } from './structs.ts';

// biome-ignore lint/suspicious/noExplicitAny: koffi functions take and return untyped native values.
type NativeFn = KoffiFunc<(...args: any[]) => any>;

/**
 * The binding to `mtmanapi64.dll` (or the test fake): its two exports, and `CManagerInterface` methods
 * called through the vtable. Every method takes `this` as its first parameter: on x64 there is one calling
 * convention (Microsoft x64 on Windows, SysV on Linux), and `__stdcall` is ignored there (facts 1.2, 4).
 * A 32-bit Node would need `__stdcall` prototypes: not supported here.
 */

/**
 * MTAPI_NOTIFY_FUNC_EX (facts 1.2): `void (int code, int type, void *data, void *param)`, stdcall on x86,
 * the single convention on x64. koffi runs it on the JS thread even when the DLL calls from its own thread.
 */
export const NotifyFuncEx = koffi.proto('void Mt4NotifyFuncEx(int code, int type, void *data, void *param)');

/** The prototype of each slot the adapter calls (facts 1.4 signature table; `this` first). */
const PROTOS = {
  Release: koffi.proto('int Mt4Release(void *self)'),
  MemFree: koffi.proto('void Mt4MemFree(void *self, void *ptr)'),
  Connect: koffi.proto('int Mt4Connect(void *self, const void *server)'),
  Disconnect: koffi.proto('int Mt4Disconnect(void *self)'),
  IsConnected: koffi.proto('int Mt4IsConnected(void *self)'),
  Login: koffi.proto('int Mt4Login(void *self, int login, const void *password)'),
  Ping: koffi.proto('int Mt4Ping(void *self)'),
  ManagerRights: koffi.proto('int Mt4ManagerRights(void *self, _Out_ Mt4ConManager *out)'),
  GroupsRequest: koffi.proto('void *Mt4GroupsRequest(void *self, _Inout_ int *total)'),
  UsersRequest: koffi.proto('void *Mt4UsersRequest(void *self, _Inout_ int *total)'),
  UserRecordsRequest: koffi.proto('void *Mt4UserRecordsRequest(void *self, const int *logins, _Inout_ int *total)'),
  UserRecordNew: koffi.proto('int Mt4UserRecordNew(void *self, _Inout_ Mt4UserRecord *user)'),
  UserRecordUpdate: koffi.proto('int Mt4UserRecordUpdate(void *self, const Mt4UserRecord *user)'),
  UserPasswordSet: koffi.proto(
    'int Mt4UserPasswordSet(void *self, int login, const void *password, int change_investor, int clean_pubkey)',
  ),
  TradeTransaction: koffi.proto('int Mt4TradeTransaction(void *self, _Inout_ Mt4TradeTransInfo *info)'),
  TradesRequest: koffi.proto('void *Mt4TradesRequest(void *self, _Inout_ int *total)'),
  TradesUserHistory: koffi.proto(
    'void *Mt4TradesUserHistory(void *self, int login, int from, int to, _Inout_ int *total)',
  ),
  ServerTime: koffi.proto('int Mt4ServerTime(void *self)'),
  PumpingSwitchEx: koffi.proto('int Mt4PumpingSwitchEx(void *self, Mt4NotifyFuncEx *callback, int flags, void *param)'),
  MarginLevelRequest: koffi.proto('int Mt4MarginLevelRequest(void *self, int login, _Out_ Mt4MarginLevel *out)'),
} as const;

type ProtoName = keyof typeof PROTOS;

/** A NULL pointer as koffi returns it. */
export function isNullPointer(pointer: unknown): boolean {
  return pointer === null || pointer === undefined || pointer === 0n;
}

/** The DLL's exports, loaded once per path. */
export interface Mt4Library {
  readonly path: string;
  /** `MtManVersion()`: the DLL's own version (build in the low 16 bits). */
  readonly version: number;
  create(): Mt4Interface;
}

const libraries = new Map<string, Mt4Library>();

/** Loads the library at `path` (once), after checking the struct layouts against the facts file. */
export function loadMt4Library(path: string): Mt4Library {
  const cached = libraries.get(path);
  if (cached !== undefined) return cached;
  checkLayouts();
  let version: number;
  let create: NativeFn;
  try {
    const lib = koffi.load(path);
    const versionFn = lib.func('int MtManVersion()');
    create = lib.func('int MtManCreate(int version, _Out_ void **out)');
    version = versionFn() as number;
  } catch (error) {
    throw new MtproofError('MTP_DLL_LOAD', `cannot load the MT4 Manager API from ${path}: ${String(error)}`);
  }
  const library: Mt4Library = {
    path,
    version,
    create(): Mt4Interface {
      const out: unknown[] = [null];
      // The samples pass the header's ManAPIVersion, not the DLL's MtManVersion (facts 1.1).
      const code = create(MT4_API_VERSION, out) as number;
      if (code !== 0 || out[0] === null || out[0] === undefined) {
        throw new MtproofError(
          'MTP_DLL_CREATE',
          `MtManCreate(${MT4_API_VERSION}) of ${path} answered ${code} (the DLL says version ${version})`,
        );
      }
      return new Mt4Interface(out[0]);
    },
  };
  libraries.set(path, library);
  return library;
}

/**
 * One `CManagerInterface`. Calls run on koffi's worker threads (`.async`), so that a slow server does not
 * block the event loop, one at a time: the interface is one connection and its calls are not documented
 * as safe to overlap.
 */
export class Mt4Interface {
  readonly #self: unknown;
  readonly #vtable: unknown;
  readonly #fns = new Map<ProtoName, NativeFn>();
  #queue: Promise<unknown> = Promise.resolve();
  #released = false;
  /** Release is queued: later calls would run on a freed object. */
  #releasing: Promise<void> | null = null;

  constructor(self: unknown) {
    this.#self = self;
    this.#vtable = koffi.decode(self, 'void *');
  }

  #fn(name: ProtoName & Mt4SlotName): NativeFn {
    let fn = this.#fns.get(name);
    if (fn === undefined) {
      const pointerBytes = koffi.sizeof('void *');
      const entry = koffi.decode(this.#vtable, MT4_SLOTS[name] * pointerBytes, 'void *');
      fn = koffi.decode(entry, PROTOS[name]) as NativeFn;
      this.#fns.set(name, fn);
    }
    return fn;
  }

  /** Calls slot `name` with `args` after `this`, after every call queued before it. */
  call<T>(name: ProtoName & Mt4SlotName, ...args: unknown[]): Promise<T> {
    const run = (): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        if (this.#released) {
          reject(new Error(`mt4-dll: ${name} on a released interface`));
          return;
        }
        this.#fn(name).async(this.#self, ...args, (error: unknown, value: T) => {
          if (error) reject(error);
          else resolve(value);
        });
      });
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Copies an array the API returned and frees it with MemFree (slot 3), as the samples do for every one. */
  async takeArray<T>(pointer: unknown, type: TypeObject, count: number): Promise<T[]> {
    if (isNullPointer(pointer)) return [];
    const items = count > 0 ? (koffi.decode(pointer, type, count) as T[]) : [];
    // Once Release is queued the interface is going away: a MemFree behind it would run on a freed object.
    if (this.#releasing === null) await this.call<void>('MemFree', pointer);
    return items;
  }

  /**
   * Registers `listener` as a pumping callback (at once, so that the caller holds `unregister` before any
   * await); `switchOn` switches this interface to pumping (slot 163) and answers its code. The callback stays
   * registered until `unregister` is called, which must come after Disconnect/Release: the DLL may call it
   * until then.
   */
  pump(listener: (code: number, type: number, data: unknown) => void): {
    switchOn: () => Promise<number>;
    unregister: () => void;
  } {
    const callback = koffi.register(
      (code: number, type: number, data: unknown) => listener(code, type, data),
      koffi.pointer(NotifyFuncEx),
    );
    let registered = true;
    return {
      switchOn: () => this.call<number>('PumpingSwitchEx', callback, 0, null),
      unregister: () => {
        if (!registered) return;
        registered = false;
        koffi.unregister(callback);
      },
    };
  }

  /** Release (slot 2): the interface is gone afterwards. */
  release(): Promise<void> {
    this.#releasing ??= this.call<number>('Release')
      .then(() => undefined)
      .finally(() => {
        this.#released = true;
      });
    return this.#releasing;
  }

  /** Disconnect (slot 7), then Release even when Disconnect failed: the interface is never leaked. */
  async dispose(): Promise<void> {
    try {
      if (this.#releasing === null) await this.call<number>('Disconnect');
    } finally {
      await this.release();
    }
  }
}
