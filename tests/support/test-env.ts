/**
 * Default base of the test stack's ports. Above Linux's ephemeral range (32768-60999, where the
 * kernel picks the local port of every outgoing connection): a server restarted by a test, or a
 * service's metrics port, cannot find its port held by some client socket (issue 14: the CDC
 * service met EADDRINUSE on 51464 in CI).
 */
export const DEFAULT_TEST_PORT_BASE = 61000;

/** TEST_STACK_PORT_BASE, else {@link DEFAULT_TEST_PORT_BASE}. @throws when it is not an integer in 1024-64000. */
export function testPortBase(): number {
  const base = Number(process.env.TEST_STACK_PORT_BASE ?? DEFAULT_TEST_PORT_BASE);
  if (!Number.isInteger(base) || base < 1024 || base > 64000) {
    throw new Error(`TEST_STACK_PORT_BASE: expected an integer between 1024 and 64000 (got "${process.env.TEST_STACK_PORT_BASE}")`);
  }
  return base;
}

/**
 * Environment of the test stack: its own STACK_DIR and ports, so tests never touch the
 * developer's `npm run stack` servers, and two checkouts can test side by side by setting
 * TEST_STACK_PORT_BASE (default 61000: PostgreSQL 61432, Kafka 61092/61093, MinIO 61900/61901,
 * the consumers' health endpoints 61465-61467).
 */
export function testEnv(base = testPortBase()): Record<string, string> {
  return {
    STACK_DIR: `.local/test-stack-${base}`,
    POSTGRES_HOST: '127.0.0.1',
    POSTGRES_PORT: String(base + 432),
    POSTGRES_DB: 'sport_test',
    KAFKA_BROKERS: `127.0.0.1:${base + 92}`,
    KAFKA_CONTROLLER_PORT: String(base + 93),
    S3_ENDPOINT: `http://127.0.0.1:${base + 900}`,
    MINIO_CONSOLE_PORT: String(base + 901),
    // The consumers' /healthz and /metrics (services/common/health-server.ts), off the defaults
    // 9465-9467 so that a test run never meets a developer's services or another run.
    BRONZE_HEALTH_PORT: String(base + 465),
    SLACK_HEALTH_PORT: String(base + 466),
    DISTANCE_HEALTH_PORT: String(base + 467),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
}
