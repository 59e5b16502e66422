import koffi from 'koffi';
import type { NativeObject } from './native.ts';

/**
 * An application-side sink interface (IMTUserSink, IMTDealSink) built from JS: one native object whose first word
 * points to a vtable of `slotCount` koffi callbacks, `this` first (x64 has one convention for methods, so cdecl
 * callbacks match; 32-bit thiscall sinks are impossible in koffi — facts section 4). Slots without a handler
 * answer MT_RET_OK (0), the headers' default. The DLL calls sinks on its network thread: koffi queues those calls
 * to the JS thread, so handlers read the object they are given before returning and do nothing that blocks.
 */
export class NativeSink {
  /** The IMT*Sink pointer to pass to the Subscribe slot. */
  readonly pointer: NativeObject;
  readonly #callbacks: unknown[] = [];
  #memory: unknown;

  constructor(slotCount: number, handlers: ReadonlyMap<number, (object: NativeObject) => void>) {
    const pointerBytes = koffi.sizeof('void *');
    const handlerProto = koffi.pointer(koffi.proto('void', ['void *', 'void *']));
    const defaultProto = koffi.pointer(koffi.proto('uint32_t', ['void *']));
    const fallback = koffi.register(() => 0, defaultProto);
    this.#callbacks.push(fallback);
    // One block: word 0 is the object (its vtable pointer), words 1..slotCount the vtable.
    this.#memory = koffi.alloc('void *', slotCount + 1);
    const base = koffi.address(this.#memory);
    koffi.encode(this.#memory, 0, 'void *', base + BigInt(pointerBytes));
    for (let slot = 0; slot < slotCount; slot++) {
      const handler = handlers.get(slot);
      let callback = fallback;
      if (handler !== undefined) {
        // An exception thrown into native code would reach the DLL as 0/NULL: handlers must not throw.
        callback = koffi.register((_self: unknown, object: NativeObject) => handler(object), handlerProto);
        this.#callbacks.push(callback);
      }
      koffi.encode(this.#memory, (slot + 1) * pointerBytes, 'void *', callback);
    }
    this.pointer = this.#memory;
  }

  /** Frees the callbacks and the memory: only after the DLL has let go of the sink (Unsubscribe). */
  dispose(): void {
    for (const callback of this.#callbacks) koffi.unregister(callback as bigint);
    this.#callbacks.length = 0;
    if (this.#memory !== null) koffi.free(this.#memory);
    this.#memory = null;
  }
}
