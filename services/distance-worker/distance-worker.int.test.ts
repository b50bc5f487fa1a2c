/**
 * The distance worker on the real stack (Kafka, PostgreSQL), with a local server speaking the
 * Distance Matrix and Routes formats and the real clients pointed at it (the official
 * @googlemaps/google-maps-services-js Client; fetch for the Routes REST endpoint). Employee change
 * events are produced the way docs/contracts/change-events.md describes them.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, pgConnection, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { startService, stopService } from '../../scripts/lib/stack.ts';
import { connectTestBroker, envelope, type Row, type TestBroker } from '../../tests/support/debezium-events.ts';
import { startFakeGoogleMaps, type FakeGoogleMaps } from '../../tests/support/fake-google-maps.ts';
import { haversineMetres } from './commute.ts';
import { ProviderStartupError, startDistanceWorker, type RunningWorker } from './worker.ts';

const base = loadConfig();
const logger = createLogger('distance-worker-test', process.env.LOG_LEVEL ?? 'warn');
const OFFICE = '1362 Av. des Platanes, 34970 Lattes, France';

let broker: TestBroker;
let admin: pg.Client;
let maps: FakeGoogleMaps;
let running: RunningWorker[] = [];
let run = 0;
let nextEmployeeId = 970_000;

beforeAll(async () => {
  broker = await connectTestBroker(base.kafka.brokers);
  await connectAdmin();
  await admin.query('DELETE FROM employees WHERE employee_id >= 970000 AND employee_id < 980000');
});

/** (Re)connects the test's own admin connection (a PostgreSQL restart ends it). */
async function connectAdmin(): Promise<void> {
  admin = new pg.Client(pgConnection(base, 'admin'));
  admin.on('error', () => undefined);
  await admin.connect();
}

afterEach(async () => {
  await Promise.all(running.map((w) => w.stop()));
  running = [];
  await maps?.close();
});

afterAll(async () => {
  await broker.close();
  // Leave the shared test database as found (commute rows go with their employees).
  await admin.query('DELETE FROM employees WHERE employee_id >= 970000 AND employee_id < 980000');
  await admin.query('DELETE FROM commute_distance_cache');
  await admin.end();
});

async function setUp(provider: Config['distance']['provider'], overrides: Partial<Config['distance']> = {}) {
  run += 1;
  await admin.query('DELETE FROM commute_distance_cache');
  maps = await startFakeGoogleMaps();
  const prefix = `dst${Date.now()}r${run}`;
  const config: Config = {
    ...base,
    kafka: { ...base.kafka, topicPrefix: prefix },
    distance: {
      ...base.distance,
      provider,
      apiKey: provider === 'offline' ? undefined : maps.validKey,
      routesBaseUrl: maps.baseUrl,
      mapsBaseUrl: maps.baseUrl,
      consumerGroup: `${prefix}-distance`,
      retryMinMs: 50,
      retryMaxMs: 200,
      timeoutMs: 2_000,
      maxRequestsPerSecond: 200,
      ...overrides,
    },
  };
  const topic = `${prefix}.public.employees`;
  await broker.createTopic(topic);
  return { config, topic };
}

async function start(config: Config): Promise<RunningWorker> {
  const worker = await startDistanceWorker(config, { logger });
  running.push(worker);
  return worker;
}

/** Inserts the employee in PostgreSQL (the commute row's foreign key) and returns its CDC row image. */
async function employee(overrides: Row = {}): Promise<Row> {
  nextEmployeeId += 1;
  const row: Row = {
    employee_id: nextEmployeeId,
    last_name: 'Mendes',
    first_name: 'Juliette',
    birth_date: 7305,
    business_unit: 'Ventes',
    hire_date: 18262,
    gross_annual_salary_eur: '42000.00',
    contract_type: 'CDI',
    paid_leave_days: 25,
    home_address: `${nextEmployeeId % 100} rue de la Loge`,
    home_postcode: '34000',
    home_city: 'Montpellier',
    home_lat: 43.6108,
    home_lon: 3.8767,
    commute_mode: 'Marche/running',
    updated_at: '2024-05-02T07:00:00.000000Z',
    ...overrides,
  };
  await admin.query(
    `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
     VALUES ($1, 'Mendes', 'Juliette', '1990-01-01', 'Ventes', '2020-01-01', 42000, 'CDI', 25, $2, $3, $4, $5, $6, $7)`,
    [row.employee_id, row.home_address, row.home_postcode, row.home_city, row.home_lat, row.home_lon, row.commute_mode],
  );
  return row;
}

const created = (row: Row) => ({ key: { employee_id: row.employee_id }, value: envelope('employees', 'c', null, row) });
const updated = (before: Row, after: Row) => ({ key: { employee_id: after.employee_id }, value: envelope('employees', 'u', before, after) });
const origin = (row: Row) => `${String(row.home_address)}, ${String(row.home_postcode)} ${String(row.home_city)}, France`;

async function commuteRow(employeeId: unknown) {
  const r = await admin.query(
    'SELECT origin_address, destination_address, travel_mode, distance_m, duration_s, provider, status FROM commute_distances WHERE employee_id = $1',
    [employeeId],
  );
  return r.rows[0];
}

describe.each([
  { provider: 'distance-matrix' as const, walking: 'walking', bicycling: 'bicycling' },
  { provider: 'routes' as const, walking: 'WALK', bicycling: 'BICYCLE' },
])('distance worker with the $provider API', ({ provider, walking, bicycling }) => {
  it('stores OK, NOT_FOUND and ZERO_RESULTS rows with the travel mode of the commute mode', async () => {
    const { config, topic } = await setUp(provider);
    const walker = await employee();
    const cyclist = await employee({ commute_mode: 'Vélo/Trottinette/Autres' });
    const lost = await employee({ home_address: 'Lieu-dit Introuvable' });
    const islander = await employee({ home_address: '1 quai du Large', home_city: 'Île de Riou', home_postcode: '13008' });
    maps.places.set(origin(walker), { distance_m: 5_234, duration_s: 3_761 });
    maps.places.set(origin(cyclist), { distance_m: 18_020, duration_s: 4_080 });
    maps.places.set(origin(islander), 'ZERO_RESULTS');
    const worker = await start(config);
    await broker.send(topic, [walker, cyclist, lost, islander].map(created));
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);

    expect(await commuteRow(walker.employee_id)).toEqual({ origin_address: origin(walker), destination_address: OFFICE, travel_mode: 'walking', distance_m: 5_234, duration_s: 3_761, provider: 'google', status: 'OK' });
    expect(await commuteRow(cyclist.employee_id)).toMatchObject({ travel_mode: 'bicycling', distance_m: 18_020, duration_s: 4_080, status: 'OK' });
    expect(await commuteRow(lost.employee_id)).toMatchObject({ travel_mode: 'walking', distance_m: null, duration_s: null, provider: 'google', status: 'NOT_FOUND' });
    expect(await commuteRow(islander.employee_id)).toMatchObject({ distance_m: null, duration_s: null, status: 'ZERO_RESULTS' });
    // Events of different employees may sit in different partitions: order is per employee only.
    expect(maps.lookups().map((r) => [r.origin, r.mode]).sort()).toEqual(
      [
        [origin(walker), walking],
        [origin(cyclist), bicycling],
        [origin(lost), walking],
        [origin(islander), walking],
      ].sort(),
    );
    expect(worker.stats).toMatchObject({ requests: 4, written: 4, deadLettered: 0 });
    if (provider === 'routes') expect(maps.requests.every((r) => r.fieldMask?.includes('status'))).toBe(true);
  });

  it('retries OVER_QUERY_LIMIT, a server error and a dropped connection, and loses nothing', async () => {
    const { config, topic } = await setUp(provider);
    const walker = await employee();
    maps.places.set(origin(walker), { distance_m: 2_500, duration_s: 1_800 });
    const worker = await start(config);
    maps.script.push('OVER_QUERY_LIMIT', 'SERVER_ERROR', 'HANG_UP');
    await broker.send(topic, [created(walker)]);
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);

    expect(maps.lookups()).toHaveLength(4);
    expect(worker.stats).toMatchObject({ retries: 3, requests: 1, written: 1 });
    expect(await commuteRow(walker.employee_id)).toMatchObject({ distance_m: 2_500, duration_s: 1_800, status: 'OK' });
  });

  it('requests again only when the address changes: not for other updates, the same address or a replay', async () => {
    const { config, topic } = await setUp(provider);
    const walker = await employee();
    const moved = { ...walker, home_address: '3 place de la Comédie' };
    const neighbour = await employee({ home_address: String(walker.home_address).toUpperCase() });
    maps.places.set(origin(walker), { distance_m: 5_234, duration_s: 3_761 });
    maps.places.set(origin(moved), { distance_m: 6_100, duration_s: 4_400 });
    const worker = await start(config);

    await broker.send(topic, [created(walker)]);
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);
    expect(maps.lookups()).toHaveLength(1);

    await broker.send(topic, [updated(walker, { ...walker, gross_annual_salary_eur: '45000.00' }), created(neighbour)]);
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);
    expect(maps.lookups()).toHaveLength(1); // salary change skipped; same address (other case) from the cache
    expect(await commuteRow(neighbour.employee_id)).toMatchObject({ distance_m: 5_234, status: 'OK' });

    await admin.query('UPDATE employees SET home_address = $2 WHERE employee_id = $1', [walker.employee_id, moved.home_address]);
    await broker.send(topic, [updated(walker, moved)]);
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);
    expect(maps.lookups().map((r) => r.origin)).toEqual([origin(walker), origin(moved)]);
    expect(await commuteRow(walker.employee_id)).toMatchObject({ origin_address: origin(moved), distance_m: 6_100, duration_s: 4_400 });
    expect(worker.stats).toMatchObject({ requests: 2, cacheHits: 1 });

    await worker.stop();
    await broker.resetToEarliest(config.distance.consumerGroup, topic);
    const replay = await start(config);
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);
    expect(maps.lookups()).toHaveLength(2);
    expect(replay.stats).toMatchObject({ requests: 0, written: 0, cacheHits: 3 });
    expect(await commuteRow(walker.employee_id)).toMatchObject({ origin_address: origin(moved), distance_m: 6_100 });
  });

  it('fails at start-up with a clear error when the API key is rejected', async () => {
    const { config } = await setUp(provider, { apiKey: 'not-a-valid-key' });
    await expect(startDistanceWorker(config, { logger })).rejects.toThrow(ProviderStartupError);
    await expect(startDistanceWorker(config, { logger })).rejects.toThrow(/GOOGLE_MAPS_API_KEY was rejected by the .*(REQUEST_DENIED|API_KEY_INVALID)/);
    expect(maps.requests.every((r) => r.key === 'not-a-valid-key')).toBe(true);
    expect(maps.lookups()).toEqual([]);
  });
});

describe('distance worker offline (no API key)', () => {
  it('rides out a PostgreSQL restart: one warning, unhealthy meanwhile, the change computed once it is back, never exits (issue 14)', async () => {
    const { config, topic } = await setUp('offline');
    const lines: { level: number; msg: string }[] = [];
    const worker = await startDistanceWorker(config, { logger: createLogger('distance-worker', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) }) });
    running.push(worker);
    const walker = await employee();
    expect(worker.health()).toEqual({ healthy: true, detail: 'consuming' });
    await stopService(base, 'postgres');
    let healthDuringOutage: { healthy: boolean; detail: string } | undefined;
    try {
      await broker.send(topic, [created(walker)]);
      const deadline = Date.now() + 60_000;
      while (worker.health().healthy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      await new Promise((r) => setTimeout(r, 5_000)); // several attempts during the outage
      healthDuringOutage = worker.health();
    } finally {
      await startService(base, 'postgres');
      await connectAdmin();
    }
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic, 90_000);

    expect(healthDuringOutage).toMatchObject({ healthy: false, detail: expect.stringContaining('handler failed') });
    expect(worker.health()).toEqual({ healthy: true, detail: 'consuming' });
    expect(await commuteRow(walker.employee_id)).toMatchObject({ provider: 'offline', status: 'OK', travel_mode: 'walking' });
    expect(worker.stats.deadLettered).toBe(0);
    const outageLines = lines.filter((l) => l.level >= 40);
    expect(outageLines.map((l) => l.msg)).toEqual(['handler failed; the message will be retried; retrying with backoff until it succeeds']);
    expect(lines.filter((l) => l.msg === 'resumed')).toHaveLength(1);
    expect(await Promise.race([worker.crashed.then(() => 'crashed'), Promise.resolve('running')])).toBe('running');
  });

  it('estimates from coordinates x the detour factor, NOT_FOUND without coordinates, and never calls Google', async () => {
    const { config, topic } = await setUp('offline', { detourFactor: 1.3, otherModes: 'skip' });
    const walker = await employee();
    const unlocated = await employee({ home_lat: null, home_lon: null });
    const commuter = await employee({ commute_mode: 'Transports en commun' });
    const worker = await start(config);
    expect(worker.provider.name).toBe('offline');
    await admin.query(
      `INSERT INTO commute_distances (employee_id, origin_address, destination_address, travel_mode, distance_m, duration_s, provider, status)
       VALUES ($1, 'old', 'old', 'walking', 1, 1, 'offline', 'OK')`,
      [commuter.employee_id],
    );
    await broker.send(topic, [created(walker), created(unlocated), created(commuter), { key: { employee_id: walker.employee_id }, value: envelope('employees', 'c', null, { ...walker, commute_mode: 'Téléportation' }) },
      // The envelope checks every consumer shares (issue 14): dead-lettered, never computed.
      { ...created(walker), rawKey: 'employee-1' },
      { ...created(walker), value: '' },
    ]);
    await broker.waitForGroupCaughtUp(config.distance.consumerGroup, topic);

    const expected = Math.round(haversineMetres({ lat: 43.6108, lon: 3.8767 }, { lat: 43.567, lon: 3.899 }) * 1.3);
    expect(await commuteRow(walker.employee_id)).toEqual({
      origin_address: origin(walker),
      destination_address: OFFICE,
      travel_mode: 'walking',
      distance_m: expected,
      duration_s: Math.round(expected / (5000 / 3600)),
      provider: 'offline',
      status: 'OK',
    });
    expect(expected).toBeGreaterThan(6_000);
    expect(expected).toBeLessThan(7_000);
    expect(await commuteRow(unlocated.employee_id)).toMatchObject({ provider: 'offline', status: 'NOT_FOUND', distance_m: null });
    expect(await commuteRow(commuter.employee_id)).toBeUndefined(); // transit skipped by config: row removed
    expect(maps.requests).toEqual([]);
    const dead = await broker.readAll(`${topic}.dlq`, 3);
    expect(dead.map((m) => m.headers['dlq.reason']).sort()).toEqual(['empty_value', 'invalid_key', 'unknown_commute_mode']);
    expect(dead.every((m) => m.headers['dlq.service'] === 'distance-worker')).toBe(true);
  });
});
