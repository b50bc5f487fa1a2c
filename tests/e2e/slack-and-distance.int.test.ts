/**
 * End to end on the real stack: PostgreSQL -> CDC service -> Kafka -> Slack notifier (local
 * Slack server) and -> distance worker -> PostgreSQL -> CDC again.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConnection, type Config } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { adminClient, dropSlots, runId, startCdc, type InProcessCdc } from '../../services/cdc/testing/harness.ts';
import { haversineMetres } from '../../services/distance-worker/commute.ts';
import { startDistanceWorker } from '../../services/distance-worker/worker.ts';
import { startSlackNotifier } from '../../services/slack-notifier/notifier.ts';
import { connectTestBroker, waitUntil, type TestBroker } from '../support/debezium-events.ts';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.ts';

const RUN = runId();
const PREFIX = `e2e${RUN}`;
const SLOT = `e2e_${RUN}`;
const EMPLOYEE = 990_001;
const logger = createLogger('e2e-test', process.env.LOG_LEVEL ?? 'warn');

let cdc: InProcessCdc;
let config: Config;
let admin: pg.Client;
let app: pg.Client;
let broker: TestBroker;
let slack: FakeSlack;

beforeAll(async () => {
  cdc = await startCdc({ KAFKA_TOPIC_PREFIX: PREFIX, CDC_SLOT_NAME: SLOT, CDC_SNAPSHOT_MODE: 'never' });
  config = cdc.config;
  admin = await adminClient(config);
  app = new pg.Client(pgConnection(config, 'simulator'));
  await app.connect();
  broker = await connectTestBroker(config.kafka.brokers);
  slack = await startFakeSlack();
  await admin.query('DELETE FROM activities WHERE employee_id = $1', [EMPLOYEE]);
  await admin.query('DELETE FROM employees WHERE employee_id = $1', [EMPLOYEE]);
  await admin.query(
    `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
     VALUES ($1, 'Mendes', 'Juliette', '1990-05-01', 'Marketing', '2020-09-01', 42000, 'CDI', 25, '12 rue de la Loge', '34000', 'Montpellier', 43.6108, 3.8767, 'Marche/running')`,
    [EMPLOYEE],
  );
});

afterAll(async () => {
  await slack?.close();
  await broker?.close();
  await app?.end();
  await cdc?.stop();
  await dropSlots(admin, [SLOT]);
  await admin.query('DELETE FROM activities WHERE employee_id = $1', [EMPLOYEE]);
  await admin.query('DELETE FROM employees WHERE employee_id = $1', [EMPLOYEE]);
  await admin.end();
});

describe('end to end through the CDC service', () => {
  it('an activity inserted in PostgreSQL yields exactly one Slack post; its update and delete none', async () => {
    const notifierConfig: Config = { ...config, slack: { ...config.slack, webhookUrl: slack.url, consumerGroup: `${PREFIX}-notifier` } };
    const notifier = await startSlackNotifier(notifierConfig, { logger });
    try {
      const inserted = await app.query<{ activity_id: string }>(
        `INSERT INTO activities (employee_id, sport_type, started_at, ended_at, elapsed_seconds, distance_m, comment)
         VALUES ($1, 'Randonnée', now() - interval '3 hours', now(), 10800, 10000, 'Sortie découverte autour du Pic Saint-Loup') RETURNING activity_id::text`,
        [EMPLOYEE],
      );
      const activityId = inserted.rows[0]?.activity_id;
      const [post] = await slack.waitForAccepted(1);
      // The wording variant follows the activity id's parity (announcement.ts).
      const headline = Number(activityId) % 2 === 0 ? 'Magnifique Juliette Mendes ! Une randonnée de 10 km terminée ! 🏕' : 'Quelle balade Juliette Mendes ! 10 km de randonnée en 3 h ! 🥾';
      expect(post?.payload.text).toBe(`${headline}\n« Sortie découverte autour du Pic Saint-Loup »`);

      await app.query(`UPDATE activities SET comment = 'modifié' WHERE activity_id = $1`, [activityId]);
      await app.query('DELETE FROM activities WHERE activity_id = $1', [activityId]);
      const topic = `${PREFIX}.public.activities`;
      // c, u, d and the tombstone: 4 messages, all consumed and committed.
      await waitUntil('the 4 activity messages', async () => (await broker.admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0) >= 4);
      await broker.waitForGroupCaughtUp(notifierConfig.slack.consumerGroup, topic);
      expect(slack.requests).toHaveLength(1);
      expect(slack.violations).toEqual([]);
      expect(notifier.stats).toMatchObject({ posted: 1, skipped: 3 });
    } finally {
      await notifier.stop();
    }
  });

  it('a new employee yields a commute row, which CDC captures; an address change updates it', async () => {
    const workerConfig: Config = { ...config, distance: { ...config.distance, apiKey: undefined, provider: 'offline', consumerGroup: `${PREFIX}-distance` } };
    const worker = await startDistanceWorker(workerConfig, { logger });
    const newcomer = EMPLOYEE + 1;
    try {
      await admin.query('DELETE FROM employees WHERE employee_id = $1', [newcomer]);
      await admin.query(
        `INSERT INTO employees (employee_id, last_name, first_name, birth_date, business_unit, hire_date, gross_annual_salary_eur, contract_type, paid_leave_days, home_address, home_postcode, home_city, home_lat, home_lon, commute_mode)
         VALUES ($1, 'Attal', 'Laurence', '1985-02-11', 'R&D', '2019-03-01', 51000, 'CDI', 25, '5 avenue de Pérols', '34970', 'Lattes', 43.5676, 3.9006, 'Vélo/Trottinette/Autres')`,
        [newcomer],
      );
      const topic = `${PREFIX}.public.commute_distances`;
      const expected = Math.round(haversineMetres({ lat: 43.5676, lon: 3.9006 }, config.distance.office) * config.distance.detourFactor);
      let events: { op: string; after: Record<string, unknown> | null }[] = [];
      await waitUntil('the commute row event', async () => {
        events = (await broker.readAll(topic, 1, 2_000)).map((m) => JSON.parse(m.value ?? 'null')).filter((e) => e?.after?.employee_id === newcomer || e?.before?.employee_id === newcomer);
        return events.length >= 1;
      });
      expect(events[0]).toMatchObject({
        op: 'c',
        after: { employee_id: newcomer, origin_address: '5 avenue de Pérols, 34970 Lattes, France', travel_mode: 'bicycling', distance_m: expected, provider: 'offline', status: 'OK' },
      });

      await admin.query(`UPDATE employees SET home_address = '40 rue de l''Aiguillerie', home_postcode = '34000', home_city = 'Montpellier', home_lat = 43.6125, home_lon = 3.8803 WHERE employee_id = $1`, [newcomer]);
      const moved = Math.round(haversineMetres({ lat: 43.6125, lon: 3.8803 }, config.distance.office) * config.distance.detourFactor);
      await waitUntil('the commute row update event', async () => {
        events = (await broker.readAll(topic, 2, 2_000)).map((m) => JSON.parse(m.value ?? 'null')).filter((e) => e?.after?.employee_id === newcomer);
        return events.length >= 2;
      });
      expect(events[1]).toMatchObject({ op: 'u', before: { distance_m: expected }, after: { origin_address: "40 rue de l'Aiguillerie, 34000 Montpellier, France", distance_m: moved } });
      expect(worker.stats).toMatchObject({ written: 3 }); // also the employee inserted in beforeAll
    } finally {
      await worker.stop();
      await admin.query('DELETE FROM employees WHERE employee_id = $1', [newcomer]);
    }
  });
});
