import koffi from 'koffi';
import { MtproofError } from '../../kit/errors.ts';
import { MT5_EXPORTS, MT5_MANAGER_API_VERSION } from './slots.ts';

/**
 * The koffi binding of the MT5 Manager API: the DLL's factory exports and calls through interface vtables.
 * An interface pointer's first word is its vtable; slot i is the function at i x pointer size. Methods take
 * `this` as their first argument — the x64 conventions (Microsoft x64 on Windows, SysV on Linux, the fake)
 * have no separate thiscall, so a plain prototype with `this` first matches. Strings are UTF-16 (`str16`).
 */

/** An interface pointer the DLL gave out (an opaque koffi pointer or address). */
export type NativeObject = unknown;

const POINTER_BYTES = koffi.sizeof('void *');

/** Prototypes by shape: one koffi type per distinct signature, `this` first. */
export const PROTO = Object.freeze({
  void: koffi.proto('void', ['void *']),
  res: koffi.proto('uint32_t', ['void *']),
  ptr: koffi.proto('void *', ['void *']),
  u64: koffi.proto('uint64_t', ['void *']),
  i64: koffi.proto('int64_t', ['void *']),
  u32: koffi.proto('uint32_t', ['void *']),
  f64: koffi.proto('double', ['void *']),
  str: koffi.proto('str16', ['void *']),
  setStr: koffi.proto('uint32_t', ['void *', 'str16']),
  setU64: koffi.proto('uint32_t', ['void *', 'uint64_t']),
  setU32: koffi.proto('uint32_t', ['void *', 'uint32_t']),
  connect: koffi.proto('uint32_t', ['void *', 'str16', 'uint64_t', 'str16', 'str16', 'uint64_t', 'uint32_t']),
  timeServerRequest: koffi.proto('uint32_t', ['void *', koffi.out(koffi.pointer('int64_t'))]),
  indexObj: koffi.proto('uint32_t', ['void *', 'uint32_t', 'void *']),
  nameObj: koffi.proto('uint32_t', ['void *', 'str16', 'void *']),
  obj: koffi.proto('uint32_t', ['void *', 'void *']),
  loginObj: koffi.proto('uint32_t', ['void *', 'uint64_t', 'void *']),
  userAdd: koffi.proto('uint32_t', ['void *', 'void *', 'str16', 'str16']),
  passwordChange: koffi.proto('uint32_t', ['void *', 'uint32_t', 'uint64_t', 'str16']),
  dealRequest: koffi.proto('uint32_t', ['void *', 'uint64_t', 'int64_t', 'int64_t', 'void *']),
  dealerBalance: koffi.proto('uint32_t', [
    'void *',
    'uint64_t',
    'double',
    'uint32_t',
    'str16',
    koffi.out(koffi.pointer('uint64_t')),
  ]),
  next: koffi.proto('void *', ['void *', 'uint32_t']),
});

type Proto = (typeof PROTO)[keyof typeof PROTO];

/** Calls slot `slot` of the interface `self` with `args` after `this`. */
export function callSlot(self: NativeObject, slot: number, proto: Proto, ...args: unknown[]): unknown {
  const vtable = koffi.decode(self, 'void *');
  const fn = koffi.decode(vtable, slot * POINTER_BYTES, 'void *');
  return koffi.call(fn, proto, self, ...args);
}

/**
 * Calls slot `slot` of `self` on a koffi worker thread and resolves with its result. Manager calls that talk to
 * the server go this way: the DLL calls sinks on its network thread and koffi runs them on the JS thread, so a
 * JS thread blocked in a synchronous call that waits for the network thread would deadlock with it.
 */
export function sendSlot(self: NativeObject, slot: number, proto: Proto, ...args: unknown[]): Promise<unknown> {
  const vtable = koffi.decode(self, 'void *');
  const fn = koffi.decode(koffi.decode(vtable, slot * POINTER_BYTES, 'void *'), proto) as {
    async: (...a: unknown[]) => void;
  };
  return new Promise((resolve, reject) => {
    // The callback keeps `fn` and the arguments reachable until the call ends: the collector must not free the
    // function (or a buffer an argument points into) while a worker thread is inside it.
    fn.async(self, ...args, (err: unknown, value: unknown) => {
      void [fn, args];
      if (err) reject(err);
      else resolve(value);
    });
  });
}

/** A 64-bit integer koffi may hand back as a bigint: logins, tickets and times fit a double exactly. */
export function toNumber(value: unknown): number {
  return typeof value === 'bigint' ? Number(value) : (value as number);
}

/**
 * Every library loaded, kept for the process's life: koffi unloads a library when its handle is collected, and
 * interfaces the DLL created (their vtables point into its code) outlive the handle.
 */
const LOADED = new Set<unknown>();

export interface Mt5Library {
  /** The DLL's own version (MTManagerVersion). */
  readonly dllVersion: number;
  /** A new IMTManagerAPI, created with the header version the slots are for (3802, whatever the DLL's build). */
  createManager(): NativeObject;
}

/**
 * Loads the library and resolves its factory exports. Throws MTP_DLL_LOAD when it cannot be loaded or
 * lacks an export (as the header's factory, which fails unless every export resolves), MTP_DLL_CREATE when
 * the DLL is older than the slot tables (3802) or the factory refuses.
 */
export function loadMt5Library(path: string): Mt5Library {
  let version: (out: number[]) => number;
  let createExt: (apiVersion: number, dataPath: string | null, out: unknown[]) => number;
  try {
    const lib = koffi.load(path);
    LOADED.add(lib);
    version = lib.func(MT5_EXPORTS.version, 'uint32_t', [koffi.out(koffi.pointer('uint32_t'))]);
    createExt = lib.func(MT5_EXPORTS.createExt, 'uint32_t', ['uint32_t', 'str16', koffi.out(koffi.pointer('void *'))]);
  } catch (err) {
    throw new MtproofError('MTP_DLL_LOAD', `cannot load the MT5 Manager API from ${path}: ${String(err)}`);
  }
  const versionOut = [0];
  const vcode = version(versionOut);
  const dllVersion = versionOut[0] ?? 0;
  if (vcode !== 0 || dllVersion < MT5_MANAGER_API_VERSION) {
    // The slot tables are build 3802's. MetaQuotes only fills reserved slots and appends new methods (facts 2.3:
    // stable across 2690 -> 3802 -> 5830), so a newer DLL serves them at the same indexes, created with 3802 as
    // the header version it should emulate; an older one lacks methods the tables name.
    throw new MtproofError(
      'MTP_DLL_CREATE',
      `${path}: MTManagerVersion answered ${vcode} with version ${dllVersion}; the adapter needs ${MT5_MANAGER_API_VERSION} or newer`,
    );
  }
  return {
    dllVersion,
    createManager() {
      const out: unknown[] = [null];
      const code = createExt(MT5_MANAGER_API_VERSION, null, out);
      if (code !== 0 || out[0] === null || out[0] === undefined) {
        throw new MtproofError('MTP_DLL_CREATE', `${path}: MTManagerCreateExt answered ${code}`);
      }
      return out[0];
    },
  };
}
