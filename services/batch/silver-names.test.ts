import { describe, expect, it } from 'vitest';
import { decodeNamePart, encodeNamePart, parseSilverName, parseTopic, silverName } from './silver-names.ts';

describe('silver table names', () => {
  it('are <source>__<schema>__<table>, typed without quotes for ordinary names', () => {
    expect(silverName({ source: 'sport', schema: 'public', table: 'activities' })).toBe('sport__public__activities');
    expect(silverName({ source: 'shop', schema: 'hr', table: 'employees' })).toBe('shop__hr__employees');
    expect(silverName({ source: 'shop2', schema: 'sales', table: 'order_lines' })).toBe('shop2__sales__order_lines');
  });

  it('escape every other part so that no two sources, schemas or tables share a name', () => {
    expect(encodeNamePart('Customer')).toBe('_x0043ustomer');
    expect(encodeNamePart('shop-db')).toBe('_shopx002ddb');
    expect(encodeNamePart('a__b')).toBe('_ax005fx005fb');
    const parts = ['a', 'a_b', 'a__b', 'a_', '_a', 'A', 'x', 'x0041', '_x0041', 'shop.eu', 'shop_eu', 'é', 'sales', 'sales_x', 'Sales'];
    const seen = new Map<string, string>();
    for (const source of parts) {
      for (const schema of parts) {
        for (const table of parts) {
          const name = silverName({ source, schema, table });
          const id = JSON.stringify([source, schema, table]);
          expect(seen.get(name), `${name} for ${id}`).toBeUndefined();
          seen.set(name, id);
          expect(name).toBe(name.toLowerCase());
          expect(parseSilverName(name)).toEqual({ source, schema, table });
        }
      }
    }
  });

  it('decode only what they encode', () => {
    expect(decodeNamePart('_x0043ustomer')).toBe('Customer');
    expect(() => decodeNamePart('_x00')).toThrow(/not a silver name part/);
    expect(() => parseSilverName('sport__activities')).toThrow(/not a silver table name/);
  });

  it('split topics whose prefix holds dots', () => {
    expect(parseTopic('eu.shop.sales.orders')).toEqual({ source: 'eu.shop', schema: 'sales', table: 'orders' });
    expect(parseTopic('sport.public.activities.dlq')).toBeUndefined();
  });
});
