import { describe, expect, it } from 'vitest';
import { AnsiCodec } from '../../adapters/mt4-dll/codec.ts';
import { Mt4DllManagerApi } from '../../adapters/mt4-dll/index.ts';

describe('mt4-dll ANSI text', () => {
  it('decodes windows-1252 by default, up to the first NUL', () => {
    const codec = new AnsiCodec();
    expect(codec.decode(new Uint8Array([0x43, 0x61, 0x66, 0xe9, 0x20, 0x80, 0, 0x41]))).toBe('Café €');
  });

  it('decodes with the configured code page', () => {
    const codec = new AnsiCodec('windows-1251');
    expect(codec.decode(new Uint8Array([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0]))).toBe('Привет');
    expect(codec.decode(codec.encode('Привет', 16))).toBe('Привет');
  });

  it('encodes into a NUL-terminated field, cut to size - 1 bytes, unknown characters as ?', () => {
    const codec = new AnsiCodec();
    const field = codec.encode('déposé 日本', 8);
    expect(field).toHaveLength(8);
    expect(field[7]).toBe(0);
    expect(codec.decode(field)).toBe('déposé ');
    expect(codec.decode(codec.encode('x日', 8))).toBe('x?');
    expect(codec.decode(codec.encode('a'.repeat(40), 32))).toBe('a'.repeat(31));
    // The windows-1252 row Node's TextDecoder gets wrong, both ways.
    expect([...codec.encode('€‚™Ÿ', 5)]).toEqual([0x80, 0x82, 0x99, 0x9f, 0]);
  });
});

describe('mt4-dll loading', () => {
  it('refuses to start without a library path, naming the variable', () => {
    expect(() => new Mt4DllManagerApi({ serverId: 's', address: 'h:1', env: {} })).toThrow(/MTPROOF_MT4_DLL/);
  });

  it('reports a library that cannot be loaded as MTP_DLL_LOAD', () => {
    expect(
      () => new Mt4DllManagerApi({ serverId: 's', address: 'h:1', libraryPath: '/nonexistent/mtmanapi64.dll' }),
    ).toThrow(expect.objectContaining({ code: 'MTP_DLL_LOAD' }));
  });
});
