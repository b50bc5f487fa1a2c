/**
 * Environment of the test stack: its own STACK_DIR and ports, so tests never touch the
 * developer's `npm run stack` servers, and two checkouts can test side by side by setting
 * TEST_STACK_PORT_BASE (default 55000: PostgreSQL 55432, Kafka 55092/55093, MinIO 55900/55901,
 * the consumers' health endpoints 55465-55467).
 */
export function testEnv(base = Number(process.env.TEST_STACK_PORT_BASE ?? 55000)): Record<string, string> {
  if (!Number.isInteger(base) || base < 1024 || base > 64000) {
    throw new Error(`TEST_STACK_PORT_BASE: expected an integer between 1024 and 64000 (got "${process.env.TEST_STACK_PORT_BASE}")`);
  }
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
