/**
 * Listeners bind the loopback interface unless told otherwise (issue 15; docs/security.md):
 * the CDC service's /metrics and /healthz, started with the default configuration, answer on
 * 127.0.0.1 and refuse a connection on the machine's other addresses; the monitor's default host
 * is 127.0.0.1 too (its token is services/monitor/monitor.int.test.ts's).
 */
import os from 'node:os';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection } from '../../services/common/config.ts';
import { dropSlots, runId, startCdc, stopAllCdc } from '../../services/cdc/testing/harness.ts';
import { kafkaTarget, testAdmin } from '../support/kafka.ts';

const RUN = runId();
const SLOT = `listen_${RUN}`;
const PREFIX = `listen${RUN}`;

/** The machine's addresses other than loopback (IPv4 and IPv6). */
function otherAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => !a.internal && !a.address.startsWith('fe80:')).map((a) => a.address));
}

/** 'refused' when nothing listens at `host`:`port`, else the HTTP status of /healthz. */
async function probe(host: string, port: number): Promise<number | 'refused'> {
  const url = host.includes(':') ? `http://[${host}]:${port}/healthz` : `http://${host}:${port}/healthz`;
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(5_000) })).status;
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return 'refused';
    throw err;
  }
}

afterAll(async () => {
  await stopAllCdc();
  const base = loadConfig();
  const db = new pg.Client(pgConnection(base, 'admin'));
  await db.connect();
  await dropSlots(db, [SLOT]).finally(() => db.end());
  const admin = testAdmin(kafkaTarget(base.kafka.brokers));
  await admin.deleteTopics((await admin.listTopics()).filter((t) => t.startsWith(`${PREFIX}.`))).finally(() => admin.close());
});

describe('listeners default to the loopback interface', () => {
  it('the CDC metrics endpoint answers on 127.0.0.1 and is not reachable on any other address of the machine', async () => {
    const addresses = otherAddresses();
    // Without another address the test would prove nothing.
    expect(addresses.length).toBeGreaterThan(0);
    const cdc = await startCdc({ KAFKA_TOPIC_PREFIX: PREFIX, CDC_SLOT_NAME: SLOT, CDC_SNAPSHOT_MODE: 'never', CDC_TABLES: 'public.employees' });
    expect(cdc.config.cdc.metricsHost).toBe('127.0.0.1');
    const port = cdc.service.metricsPort!;
    expect(port).toBeGreaterThan(0);
    expect([await probe('127.0.0.1', port)]).not.toContain('refused');
    for (const address of addresses) expect({ address, answer: await probe(address, port) }).toEqual({ address, answer: 'refused' });
    await cdc.stop();
  });

  it('the monitor binds 127.0.0.1 unless MONITOR_HOST says otherwise', () => {
    const env = { ...process.env };
    delete env.MONITOR_HOST;
    delete env.CDC_METRICS_HOST;
    const config = loadConfig(env);
    expect({ monitor: config.monitor.host, cdc: config.cdc.metricsHost }).toEqual({ monitor: '127.0.0.1', cdc: '127.0.0.1' });
  });
});
