import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { selectTopics } from './topics.ts';

const existing = ['sport.public.employees', 'sport.public.activities', 'sport.public.activities.dlq', '__consumer_offsets', 'sportive.x', 'other.public.t', 'sport._schemas'];

describe('selectTopics', () => {
  it('takes every <prefix>.* topic by default, never a dead-letter, internal or schema topic', () => {
    const { bronze } = loadConfig({ KAFKA_TOPIC_PREFIX: 'sport' });
    expect(selectTopics(existing, bronze)).toEqual(['sport.public.activities', 'sport.public.employees']);
  });

  it('escapes the prefix: "a.b" does not match "aXb"', () => {
    const { bronze } = loadConfig({ KAFKA_TOPIC_PREFIX: 'a.b' });
    expect(selectTopics(['a.b.public.t', 'aXb.public.t'], bronze)).toEqual(['a.b.public.t']);
  });

  it('uses an explicit list or pattern from the configuration', () => {
    expect(selectTopics(existing, loadConfig({ BRONZE_TOPICS: 'sport.public.activities, missing.topic, sport._schemas' }).bronze)).toEqual(['sport.public.activities']);
    expect(selectTopics(existing, loadConfig({ BRONZE_TOPIC_PATTERN: '^other\\.' }).bronze)).toEqual(['other.public.t']);
  });

  it('rejects a pattern that is not a regular expression, naming the variable', () => {
    expect(() => loadConfig({ BRONZE_TOPIC_PATTERN: '(' })).toThrow(/BRONZE_TOPIC_PATTERN: expected a JavaScript regular expression/);
  });
});
