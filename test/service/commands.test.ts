import { describe, expect, it } from 'vitest';
import { parseCommand, registerClientInput } from '../../service/commands.ts';

describe('commands', () => {
  const client = { name: 'Anna Schmidt', email: 'anna@example.com', country: 'DE' };

  it('accepts a client with any other unicode in its name', () => {
    expect(parseCommand(registerClientInput, { ...client, name: 'Zoë Ødegård 王' }, 'register client').ok).toBe(true);
  });

  it('refuses a NUL character in a name, an email or an id, naming the field (Postgres text cannot hold it)', () => {
    for (const [field, value] of [
      ['name', 'Anna\u0000Schmidt'],
      ['email', 'anna\u0000@example.com'],
      ['externalId', 'CRM\u00001'],
    ] as const) {
      const parsed = parseCommand(registerClientInput, { ...client, [field]: value }, 'register client');
      expect(parsed.ok).toBe(false);
      if (parsed.ok) continue;
      expect(parsed.error.code).toBe('MTP_BAD_REQUEST');
      expect(parsed.error.issues.map((i) => i.path)).toContain(field);
    }
  });
});
