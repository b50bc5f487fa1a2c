import { describe, expect, it } from 'vitest';
import { encodeSignalMessage, encodeWatermark, parseSignalMessage, parseWatermark, type CdcSignal } from './cdc-signal.ts';

const signal: CdcSignal = {
  type: 'execute-snapshot', id: '0b0c5d5e-8d3e-4d59-9a55-3c8f4a1e2b10', slot: 'sport_cdc_slot', table: 'public.activities',
  where: "started_at >= '2024-06-01'", chunkRows: 1000, requestedAt: '2026-12-05T03:00:00.000Z', requestedBy: 'lakehouse-cli@host',
};

describe('cdc signal contract', () => {
  it('reads back what it writes, with the MAC of the CDC role password', () => {
    const content = encodeSignalMessage(signal, 'secret');
    expect(parseSignalMessage(content, 'secret')).toEqual(signal);
    const stop: CdcSignal = { type: 'stop-snapshot', id: signal.id, slot: 'sport_cdc_slot', table: null, requestedAt: signal.requestedAt, requestedBy: 'x' };
    expect(parseSignalMessage(encodeSignalMessage(stop, ''), '')).toEqual(stop);
  });

  it('refuses a signal signed with another password, altered, or off contract', () => {
    const content = encodeSignalMessage(signal, 'secret');
    expect(() => parseSignalMessage(content, 'other')).toThrow("cdc signal: mac: not signed with the CDC role's password");
    const tampered = JSON.parse(content) as { signal: string };
    tampered.signal = tampered.signal.replace('public.activities', 'public.employees');
    expect(() => parseSignalMessage(JSON.stringify(tampered), 'secret')).toThrow('not signed');
    expect(() => encodeSignalMessage({ ...signal, table: 'Bad' }, 'secret')).toThrow('cdc signal: expected schema.table');
    expect(() => encodeSignalMessage({ ...signal, chunkRows: 0 }, 'secret')).toThrow('chunkRows');
    expect(() => parseSignalMessage('{', 'secret')).toThrow('cdc signal: not valid JSON');
  });

  it('watermarks round-trip and need a chunk id with a nonce', () => {
    const w = { format: 1 as const, kind: 'open' as const, slot: 's', table: 'public.t', chunk: '0123456789abcdef-12' };
    expect(parseWatermark(encodeWatermark(w))).toEqual(w);
    expect(() => parseWatermark(JSON.stringify({ ...w, chunk: '12' }))).toThrow('chunk: expected <nonce>-<number>');
  });
});
