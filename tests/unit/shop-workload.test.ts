import { describe, expect, it } from 'vitest';
import { parseWorkload, WORKLOAD_STEPS } from '../support/shop-source.ts';

describe('shop source workload file', () => {
  it('splits on "-- step:" markers, dropping the header', () => {
    expect(parseWorkload('-- header\nSELECT 0;\n-- step: a\nSELECT 1;\n\n-- step: b\nSELECT 2;\nSELECT 3;\n')).toEqual([
      { name: 'a', sql: 'SELECT 1;' },
      { name: 'b', sql: 'SELECT 2;\nSELECT 3;' },
    ]);
  });

  it('refuses duplicate names and files without steps', () => {
    expect(() => parseWorkload('-- step: a\nSELECT 1;\n-- step: a\n')).toThrow('duplicate step "a"');
    expect(() => parseWorkload('SELECT 1;')).toThrow('no "-- step: <name>" marker');
  });

  it('holds every kind of change issue 13 asks for, in this order', () => {
    expect(WORKLOAD_STEPS.map((s) => s.name)).toEqual([
      'inserts', 'toast-skipping-updates', 'key-updates', 'deletes', 'truncate', 'add-column', 'add-column-with-default',
      'drop-column', 'type-change', 'cross-table-transaction', 'rolled-back-transaction', 'final-inserts',
    ]);
    const sql = (name: string) => WORKLOAD_STEPS.find((s) => s.name === name)!.sql;
    expect(sql('truncate')).toMatch(/^TRUNCATE /m);
    expect(sql('add-column')).toMatch(/ADD COLUMN loyalty_points integer;/);
    expect(sql('add-column-with-default')).toMatch(/ADD COLUMN tier text NOT NULL DEFAULT 'standard'/);
    expect(sql('drop-column')).toMatch(/DROP COLUMN legacy_code/);
    expect(sql('type-change')).toMatch(/ALTER COLUMN score TYPE numeric\(8, 2\)/);
    expect(sql('cross-table-transaction')).toMatch(/^BEGIN;[\s\S]*^COMMIT;$/m);
    expect(sql('rolled-back-transaction')).toMatch(/^BEGIN;[\s\S]*^ROLLBACK;$/m);
  });
});
