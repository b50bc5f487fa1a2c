/**
 * Who may do what on the broker (docs/security.md, "Kafka"): the SASL/SCRAM users of the
 * platform's principals and the ACLs of one source namespace (KAFKA_TOPIC_PREFIX), least privilege:
 *
 * | principal | may |
 * |---|---|
 * | admin | everything (a super user of the broker: topic and ACL setup, the ops CLI, scripts, tests) |
 * | cdc | write, create and describe the topics `<prefix>.*` (source topics, their dead-letter topics, `<prefix>._schemas`); read `<prefix>._schemas` and its configuration (cleanup.policy) with groups `<slot>.schemas.*` (documents of earlier runs); read and write its incremental snapshot state `__cdc_snapshots.<prefix>.<slot>` with groups `<slot>.snapshot-state.*` |
 * | bronze-writer | read and describe `<prefix>.*` with its group (and `<group>.schemas.*`); write, create and describe the dead-letter topic of each captured table (CDC_TABLES) |
 * | slack-notifier | read `<prefix>.public.activities` with its group; write its dead-letter topic |
 * | distance-worker | read `<prefix>.public.employees` with its group; write its dead-letter topic |
 * | monitor | describe `<prefix>.*` (watermarks) and describe the three consumer groups (offsets, members): no message |
 *
 * No principal but the CDC service's may write a source topic, and a consumer reads only its own
 * topics through its own group. Kafka's ACLs match a topic by literal name or by prefix only, so
 * the bronze writer's dead-letter topics are granted by name, one per captured table: after adding
 * a table to CDC_TABLES, run `npm run lakehouse -- kafka-access` again (the local stack does it on
 * every `stack up` for its configuration).
 *
 * {@link kafkaAccessPlan} is pure; {@link applyKafkaAccess} creates the SCRAM credentials (upsert,
 * so a changed password takes effect) and the ACLs (CreateAcls is idempotent) as the admin.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import {
  AclOperations,
  AclPermissionTypes,
  alterUserScramCredentialsV0,
  Connection,
  ResourcePatternTypes,
  ResourceTypes,
  ScramMechanisms,
  type Acl,
} from '@platformatic/kafka';
import type { Config, KafkaPrincipal } from '../config.ts';
import { deadLetterTopic } from '../dead-letter.ts';
import { schemaTopic } from '../contracts/table-schema.ts';
import { snapshotStateTopic } from '../contracts/snapshot-state.ts';
import { connectionSecurity } from './client.ts';
import type { KafkaAdmin } from './admin.ts';

/** What a principal may do on one resource (a readable form of a Kafka ACL binding). */
export interface AccessRule {
  principal: KafkaPrincipal;
  resource: 'topic' | 'group';
  /** literal: this exact name; prefixed: every name starting with it. */
  pattern: 'literal' | 'prefixed';
  name: string;
  operations: ('READ' | 'WRITE' | 'CREATE' | 'DESCRIBE' | 'DESCRIBE_CONFIGS')[];
}

/** The settings the plan depends on. */
export type AccessConfig = Pick<Config, 'kafka' | 'cdc' | 'bronze' | 'slack' | 'distance'>;

/**
 * The ACLs of `config`'s source namespace (pure; see the module documentation).
 * @returns one rule per (principal, resource), in a stable order.
 */
export function kafkaAccessPlan(config: AccessConfig): AccessRule[] {
  const prefix = config.kafka.topicPrefix;
  const ns = `${prefix}.`;
  const table = (schema: string, name: string) => `${prefix}.${schema}.${name}`;
  const activities = table('public', 'activities');
  const employees = table('public', 'employees');
  return [
    { principal: 'cdc', resource: 'topic', pattern: 'prefixed', name: ns, operations: ['WRITE', 'CREATE', 'DESCRIBE'] },
    { principal: 'cdc', resource: 'topic', pattern: 'literal', name: schemaTopic(prefix), operations: ['READ', 'DESCRIBE_CONFIGS'] },
    { principal: 'cdc', resource: 'group', pattern: 'prefixed', name: `${config.cdc.slotName}.schemas.`, operations: ['READ'] },
    // Its incremental snapshot state (services/cdc/snapshot-state-store.ts), outside the namespace.
    { principal: 'cdc', resource: 'topic', pattern: 'literal', name: snapshotStateTopic(prefix, config.cdc.slotName), operations: ['READ', 'WRITE', 'CREATE', 'DESCRIBE'] },
    { principal: 'cdc', resource: 'group', pattern: 'prefixed', name: `${config.cdc.slotName}.snapshot-state.`, operations: ['READ'] },
    { principal: 'bronze-writer', resource: 'topic', pattern: 'prefixed', name: ns, operations: ['READ', 'DESCRIBE'] },
    { principal: 'bronze-writer', resource: 'group', pattern: 'literal', name: config.bronze.consumerGroup, operations: ['READ'] },
    { principal: 'bronze-writer', resource: 'group', pattern: 'prefixed', name: `${config.bronze.consumerGroup}.schemas.`, operations: ['READ'] },
    ...config.cdc.tables.map((t): AccessRule => ({ principal: 'bronze-writer', resource: 'topic', pattern: 'literal', name: deadLetterTopic(table(t.schema, t.table)), operations: ['WRITE', 'CREATE', 'DESCRIBE'] })),
    { principal: 'slack-notifier', resource: 'topic', pattern: 'literal', name: activities, operations: ['READ', 'DESCRIBE'] },
    { principal: 'slack-notifier', resource: 'group', pattern: 'literal', name: config.slack.consumerGroup, operations: ['READ'] },
    { principal: 'slack-notifier', resource: 'topic', pattern: 'literal', name: deadLetterTopic(activities), operations: ['WRITE', 'CREATE', 'DESCRIBE'] },
    { principal: 'distance-worker', resource: 'topic', pattern: 'literal', name: employees, operations: ['READ', 'DESCRIBE'] },
    { principal: 'distance-worker', resource: 'group', pattern: 'literal', name: config.distance.consumerGroup, operations: ['READ'] },
    { principal: 'distance-worker', resource: 'topic', pattern: 'literal', name: deadLetterTopic(employees), operations: ['WRITE', 'CREATE', 'DESCRIBE'] },
    { principal: 'monitor', resource: 'topic', pattern: 'prefixed', name: ns, operations: ['DESCRIBE'] },
    ...[config.bronze.consumerGroup, config.slack.consumerGroup, config.distance.consumerGroup].map((g): AccessRule => ({ principal: 'monitor', resource: 'group', pattern: 'literal', name: g, operations: ['DESCRIBE'] })),
  ];
}

/** `User:<name>`, Kafka's principal of a SASL user. */
export function kafkaPrincipalName(config: Pick<Config, 'kafka'>, principal: KafkaPrincipal): string {
  return `User:${config.kafka.principals[principal].username}`;
}

/** The rules as Kafka ACL bindings (allow, any host). */
export function aclBindings(config: Pick<Config, 'kafka'>, rules: readonly AccessRule[]): Acl[] {
  return rules.flatMap((r) =>
    r.operations.map((op) => ({
      resourceType: r.resource === 'topic' ? ResourceTypes.TOPIC : ResourceTypes.GROUP,
      resourceName: r.name,
      resourcePatternType: r.pattern === 'literal' ? ResourcePatternTypes.LITERAL : ResourcePatternTypes.PREFIXED,
      principal: kafkaPrincipalName(config, r.principal),
      host: '*',
      operation: AclOperations[op],
      permissionType: AclPermissionTypes.ALLOW,
    })),
  );
}

/**
 * The same rules as `kafka-acls.sh` command lines (for an operator who manages the cluster with
 * Kafka's own tools; `--command-config` holds the admin's SASL settings).
 */
export function aclCommands(config: Pick<Config, 'kafka'>, rules: readonly AccessRule[]): string[] {
  return rules.map(
    (r) =>
      `kafka-acls.sh --bootstrap-server ${config.kafka.brokers[0]} --command-config admin.properties --add --allow-principal ${kafkaPrincipalName(config, r.principal)} ` +
      `${r.operations.map((o) => `--operation ${o.split('_').map((w) => w[0] + w.slice(1).toLowerCase()).join('')}`).join(' ')} --${r.resource} '${r.name}'${r.pattern === 'prefixed' ? ' --resource-pattern-type prefixed' : ''}`,
  );
}

/** SCRAM iterations of the credentials created here (Kafka's minimum is 4096). */
export const SCRAM_ITERATIONS = 8192;

/**
 * A SCRAM credential for `password` (RFC 5802: SaltedPassword = PBKDF2-HMAC(password, salt, i)),
 * as AlterUserScramCredentials takes it: the broker never receives the password.
 */
export function scramCredential(mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', password: string, salt = randomBytes(24), iterations = SCRAM_ITERATIONS) {
  const [digest, length] = mechanism === 'SCRAM-SHA-256' ? (['sha256', 32] as const) : (['sha512', 64] as const);
  return { salt, iterations, saltedPassword: pbkdf2Sync(password.normalize('NFKC'), salt, iterations, length, digest) };
}

/**
 * Creates or updates the SCRAM credentials of `principals` (the admin's own included) on the
 * broker, through a connection authenticated as the admin. Needs KAFKA_SASL_MECHANISM other than none.
 * @throws the broker's error (e.g. the admin's password is not the broker's).
 */
export async function upsertScramUsers(config: Pick<Config, 'kafka'>, principals: readonly KafkaPrincipal[]): Promise<void> {
  const mechanism = config.kafka.security.mechanism;
  if (mechanism === 'none') throw new Error('KAFKA_SASL_MECHANISM=none: there are no SCRAM users to create');
  const asAdmin = { kafka: { ...config.kafka, as: 'admin' as const } };
  const [host, port] = splitHostPort(config.kafka.brokers[0]!);
  const connection = new Connection(`${config.kafka.clientId}-access`, { connectTimeout: 10_000, ...connectionSecurity(asAdmin) });
  try {
    await connection.connect(host, port);
    const upsertions = principals.map((p) => {
      const { username, password } = config.kafka.principals[p];
      return { name: username, mechanism: mechanism === 'SCRAM-SHA-256' ? ScramMechanisms.SCRAM_SHA_256 : ScramMechanisms.SCRAM_SHA_512, ...scramCredential(mechanism, password) };
    });
    await alterUserScramCredentialsV0.api.async(connection, [], upsertions);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
}

/**
 * Gives `config`'s source namespace its principals and ACLs: the SCRAM users of every non-admin
 * principal (upserted) and the ACLs of {@link kafkaAccessPlan} (existing ones are kept; Kafka
 * ignores a binding that already exists). Idempotent.
 * @param admin a client authenticated as the admin (a super user).
 * @param options.users false: the ACLs only, for a broker whose users are managed elsewhere
 *   (Redpanda, which has no AlterUserScramCredentials: `rpk security user create`, docker-compose.yml).
 * @returns the rules applied.
 */
export async function applyKafkaAccess(config: AccessConfig, admin: KafkaAdmin, options: { users?: boolean } = {}): Promise<AccessRule[]> {
  const rules = kafkaAccessPlan(config);
  if (config.kafka.security.mechanism === 'none') return [];
  if (options.users !== false) await upsertScramUsers(config, ['cdc', 'bronze-writer', 'slack-notifier', 'distance-worker', 'monitor']);
  await admin.client.createAcls({ creations: aclBindings(config, rules) });
  return rules;
}
