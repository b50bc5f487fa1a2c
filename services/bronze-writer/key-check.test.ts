import { describe, expect, it } from 'vitest';
import { KeyChecks } from './key-check.ts';

const ID = 'aaaaaaaaaaaaaaaaaaaa';
const KEYLESS = 'bbbbbbbbbbbbbbbbbbbb';
const checks = new KeyChecks({ [ID]: ['tenant', 'id'], [KEYLESS]: [] });
const b = (s: string) => Buffer.from(s);
const check = (key: string | null, op: 'c' | 'd' | 't' | null, row: string | null, id = ID) => {
  const bytes = row === null ? null : b(`{"before":null,"after":${row}}`);
  const start = row === null ? -1 : bytes!.indexOf('{"', 1);
  return checks.problem(b(id), key === null ? null : b(key), op, bytes, start, row === null ? -1 : bytes!.length - 1)?.reason ?? 'ok';
};

describe('KeyChecks (the contract key checks on packed bytes)', () => {
  it('accepts a key holding exactly the key columns with the row values, in any order or spelling', () => {
    expect(check('{"tenant":"a","id":1}', 'c', '{"id":1,"tenant":"a","x":{"id":2}}')).toBe('ok');
    expect(check('{"id":1,"tenant":"a"}', 'c', '{"x":[1,{"id":9}],"tenant":"a","id":1}')).toBe('ok');
    expect(check('{ "tenant" : "a", "id" : 1.0 }', 'c', '{"tenant":"a","id":1}')).toBe('ok'); // equal values, other spelling: slow path
    expect(check('{"tenant":"a","id":1}', null, null)).toBe('ok'); // tombstone
    expect(check(null, 't', '{}')).toBe('ok');
    expect(check(null, 'c', '{"v":1}', KEYLESS)).toBe('ok');
    expect(check(null, 'c', '{"v":1}', 'cccccccccccccccccccc')).toBe('ok'); // schema unknown: not checked
  });

  it('dead-letters a missing key, a key that is not the table key, a row that disagrees', () => {
    expect(check(null, 'c', '{"tenant":"a","id":1}')).toBe('missing_key');
    expect(check('', 'c', '{"tenant":"a","id":1}')).toBe('missing_key');
    expect(check(null, null, null)).toBe('missing_key');
    expect(check('{"id":1}', 'c', '{"tenant":"a","id":1}')).toBe('key_mismatch');
    expect(check('{"tenant":"a","id":1,"z":0}', 'c', '{"tenant":"a","id":1}')).toBe('key_mismatch');
    expect(check('{"tenant":"a","id":2}', 'c', '{"tenant":"a","id":1}')).toBe('key_mismatch');
    expect(check('{"tenant":"a","id":"1"}', 'c', '{"tenant":"a","id":1}')).toBe('key_mismatch');
    expect(check('{"tenant":"a","id":1}', 'c', '{"tenant":"a"}')).toBe('key_mismatch');
    expect(check('[1]', 'c', '{"tenant":"a","id":1}')).toBe('invalid_key');
    expect(check('{"id":1}', 'c', '{"v":1}', KEYLESS)).toBe('key_mismatch');
  });
});
