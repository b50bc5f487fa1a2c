import { describe, expect, it } from 'vitest';
import { topLevelMembers } from './json-members.ts';

describe('topLevelMembers', () => {
  it('returns the exact source text of each top-level value', () => {
    const text = '{"before":null, "after" : {"id":9007199254740993,"s":"a\\"}b,c","n":[1,{"x":"]"}]} ,"op":"c","ts_ms":1700000000123}';
    const members = topLevelMembers(text);
    expect([...members.keys()]).toEqual(['before', 'after', 'op', 'ts_ms']);
    expect(members.get('before')).toBe('null');
    // 2^53 + 1 survives, unlike JSON.parse + JSON.stringify.
    expect(members.get('after')).toBe('{"id":9007199254740993,"s":"a\\"}b,c","n":[1,{"x":"]"}]}');
    expect(members.get('op')).toBe('"c"');
    expect(members.get('ts_ms')).toBe('1700000000123');
  });

  it('handles escaped backslashes before a closing quote, escaped names and empty objects', () => {
    expect(topLevelMembers('{"a":"x\\\\","b":1}').get('a')).toBe('"x\\\\"');
    expect(topLevelMembers('{"\\u0061b":true}').get('ab')).toBe('true');
    expect(topLevelMembers(' { } ').size).toBe(0);
  });

  it('keeps the last of repeated names, as JSON.parse does', () => {
    expect(topLevelMembers('{"a":1,"a":2}').get('a')).toBe('2');
  });

  it('throws on text that is not an object', () => {
    expect(() => topLevelMembers('[1]')).toThrow(SyntaxError);
    expect(() => topLevelMembers('{"a":"unterminated')).toThrow(SyntaxError);
  });
});
