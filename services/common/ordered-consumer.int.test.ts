/**
 * The ordered consumer (ordered-consumer.ts) through a broker restart at the worst moment: while
 * it is still joining its group, the broker waiting on a member killed with kill -9 (the chaos
 * test's case: a service restarted after a kill, then Kafka restarted). The start must wait and
 * then consume, not fail (issue 14), and the consumer reports itself unhealthy meanwhile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT } from './config.ts';
import { createLogger } from './logger.ts';
import { startService, stopService } from '../../scripts/lib/stack.ts';
import { kafkaTarget, testAdmin, testProducer } from '../../tests/support/kafka.ts';
import { waitUntil } from '../../tests/support/debezium-events.ts';
import { watchSettlement } from '../../tests/support/settlement.ts';
import { startOrderedConsumer, type ConsumedMessage, type RunningConsumer } from './ordered-consumer.ts';

const base = loadConfig();
const target = kafkaTarget(base.kafka.brokers);
const logger = createLogger('ordered-consumer-test', process.env.LOG_LEVEL ?? 'warn');
const run = `ordered${randomUUID().slice(0, 8)}`;
const topic = `${run}.public.items`;
const children: ChildProcess[] = [];
const running: RunningConsumer[] = [];

/** Starts tests/support/group-member.ts and resolves once it has joined `groupId`. */
async function joinedMember(groupId: string, sessionTimeoutMs: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/support/group-member.ts', groupId, topic, String(sessionTimeoutMs)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('joined')) {
    if (child.exitCode !== null) throw new Error(`group member exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('group member did not join within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

describe('ordered consumer', () => {
  beforeAll(async () => {
    const admin = testAdmin(target);
    await admin.ensureTopic(topic, 1);
    await admin.close();
  });
  afterAll(async () => {
    for (const c of running) await c.stop();
    for (const child of children) child.kill('SIGKILL');
    const admin = testAdmin(target);
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
  });

  it('a join cut by a broker restart is retried with a new client: the start waits, then every message is handled once, in order (issue 14)', async () => {
    const groupId = `${run}-join`;
    const producer = testProducer(target);
    await producer.send({ messages: [{ topic, partition: 0, key: '{"id":1}', value: 'before' }] });
    // A member killed with kill -9: the broker waits for it (up to its 40 s session) before the
    // next join completes.
    const dead = await joinedMember(groupId, 40_000);
    dead.kill('SIGKILL');
    await once(dead, 'exit');

    const handled: string[] = [];
    const starting = watchSettlement(
      startOrderedConsumer({
        config: base,
        service: 'ordered-test',
        groupId,
        topic,
        logger,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        retryBackoffMs: 500,
        handle: async (m: ConsumedMessage) => {
          handled.push(m.value!.toString());
        },
      }),
      (c) => running.push(c),
    );
    await new Promise((r) => setTimeout(r, 3_000));
    expect(starting.state).toBe('pending'); // still joining: the broker waits on the dead member
    await stopService(base, 'kafka');
    try {
      await new Promise((r) => setTimeout(r, 10_000)); // longer than the client's own join retries
      expect(starting.state, String(starting.error)).toBe('pending');
    } finally {
      await startService(base, 'kafka');
    }
    const consumer = await starting.result;
    expect(consumer, String(starting.error)).not.toBeNull();
    expect(consumer!.clientsReplaced).toBeGreaterThanOrEqual(1);
    await producer.send({ messages: [{ topic, partition: 0, key: '{"id":1}', value: 'after' }] });
    await producer.close();
    await waitUntil('both messages handled', () => handled.length >= 2, 120_000).catch(() => undefined);
    expect(handled).toEqual(['before', 'after']);
    expect(consumer!.health()).toEqual({ healthy: true, detail: 'consuming' });
  }, 300_000);
});
