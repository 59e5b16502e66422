import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { MT4_SLOTS, MT4_VTABLE_SLOTS } from '../../adapters/mt4-dll/slots.ts';
import {
  ConGroup,
  ConManager,
  checkLayouts,
  MarginLevel,
  MT4_STRUCT_SIZES,
  TradeRecord,
  TradeTransInfo,
  UserRecord,
} from '../../adapters/mt4-dll/structs.ts';

// Numbers from ../shared/reference/metatrader-api-facts.md sections 1.4 and 1.5, typed here on purpose:
// the test checks the code against the facts file, not against itself.

describe('mt4-dll struct layouts match the facts file', () => {
  it('has the sizes of the build 1403 header', () => {
    expect(koffi.sizeof(UserRecord)).toBe(1120);
    expect(koffi.sizeof(TradeRecord)).toBe(224);
    expect(koffi.sizeof(TradeTransInfo)).toBe(96);
    expect(koffi.sizeof(MarginLevel)).toBe(88);
    expect(koffi.sizeof(ConGroup)).toBe(13696);
    expect(koffi.sizeof(ConManager)).toBe(3904);
    expect(MT4_STRUCT_SIZES).toEqual({
      UserRecord: 1120,
      TradeRecord: 224,
      TradeTransInfo: 96,
      MarginLevel: 88,
      ConGroup: 13696,
      ConManager: 3904,
    });
  });

  it('packs TradeRecord and TradeTransInfo to 1 and aligns the others naturally', () => {
    expect(koffi.alignof(TradeRecord)).toBe(1);
    expect(koffi.alignof(TradeTransInfo)).toBe(1);
    expect(koffi.alignof(UserRecord)).toBe(8);
    expect(koffi.alignof(MarginLevel)).toBe(8);
    expect(koffi.alignof(ConGroup)).toBe(8);
    expect(koffi.alignof(ConManager)).toBe(4);
  });

  it('puts the fields the adapter reads at the offsets of the facts file', () => {
    const offsets: [Parameters<typeof koffi.offsetof>[0], string, number][] = [
      [UserRecord, 'group', 4],
      [UserRecord, 'name', 108],
      [UserRecord, 'email', 508],
      [UserRecord, 'id', 620],
      [UserRecord, 'regdate', 668],
      [UserRecord, 'leverage', 676],
      [UserRecord, 'balance', 696],
      [UserRecord, 'credit', 720],
      [UserRecord, 'api_data', 1100],
      [TradeRecord, 'cmd', 24],
      [TradeRecord, 'open_price', 40],
      [TradeRecord, 'close_time', 64],
      [TradeRecord, 'reason', 76],
      [TradeRecord, 'profit', 128],
      [TradeRecord, 'comment', 148],
      [TradeRecord, 'next', 220],
      [TradeTransInfo, 'cmd', 2],
      [TradeTransInfo, 'orderby', 8],
      [TradeTransInfo, 'price', 28],
      [TradeTransInfo, 'comment', 56],
      [TradeTransInfo, 'crc', 92],
      [MarginLevel, 'balance', 32],
      [MarginLevel, 'margin', 56],
      [MarginLevel, 'level_type', 84],
      [ConGroup, 'default_leverage', 644],
      [ConGroup, 'default_deposit', 648],
      [ConGroup, 'secgroups', 664],
      [ConGroup, 'secmargins', 4248],
      [ConGroup, 'currency', 13468],
      [ConGroup, 'margin_call', 13488],
      [ConGroup, 'margin_stopout', 13496],
      [ConGroup, 'reserved', 13628],
      [ConManager, 'money', 8],
      [ConManager, 'see_trades', 52],
      [ConManager, 'groups', 192],
      [ConManager, 'exp_time', 3776],
    ];
    for (const [type, field, offset] of offsets) expect(koffi.offsetof(type, field), field).toBe(offset);
  });

  it('checkLayouts accepts the layouts as defined', () => {
    expect(() => checkLayouts()).not.toThrow();
  });
});

describe('mt4-dll vtable slots match the facts file', () => {
  it('uses the build 1403 slot numbers', () => {
    expect(MT4_VTABLE_SLOTS).toBe(195);
    expect(MT4_SLOTS).toEqual({
      Release: 2,
      MemFree: 3,
      Connect: 6,
      Disconnect: 7,
      IsConnected: 8,
      Login: 9,
      Ping: 12,
      ManagerRights: 14,
      GroupsRequest: 93,
      UsersRequest: 97,
      UserRecordsRequest: 98,
      UserRecordNew: 99,
      UserRecordUpdate: 100,
      UserPasswordSet: 103,
      TradeTransaction: 105,
      TradesRequest: 106,
      TradesUserHistory: 108,
      ServerTime: 147,
      MarginLevelRequest: 156,
      PumpingSwitchEx: 163,
    });
    expect(Object.isFrozen(MT4_SLOTS)).toBe(true);
  });
});

describe('the g++ fake of mtmanapi64.dll has the same vtable', () => {
  it('declares 195 virtual methods, numbered 0 to 194, with the used ones at the adapter slots', () => {
    const source = readFileSync(new URL('../fixtures/mt4-fake/mtmanapi-fake.cpp', import.meta.url), 'utf8');
    const declared = [...source.matchAll(/^ {2}\/\* +(\d+) \*\/ virtual [^(]*?(\w+)\(/gm)].map((m) => ({
      slot: Number(m[1]),
      name: m[2],
    }));
    expect(declared.map((d) => d.slot)).toEqual([...Array(MT4_VTABLE_SLOTS).keys()]);
    for (const [name, slot] of Object.entries(MT4_SLOTS)) expect(declared[slot]?.name, name).toBe(name);
  });
});
