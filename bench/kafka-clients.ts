/**
 * `npm run bench -- kafka-clients [--clients kafkajs,platformatic,confluent] [--rounds 3]
 *   [--produce-messages 200000] [--consume-messages 500000] [--batch 2000] [--in-flight 5] [--headers]`
 *
 * The Kafka clients side by side on the project's two hot paths (issue 12; the decision is
 * docs/decisions/0010-kafka-client.md):
 * - produce, as the CDC service produces: CDC change events, idempotent producer, acks=all,
 *   `--batch` messages per send with their partitions set, `--in-flight` sends outstanding;
 *   afterwards the topic must hold exactly the messages sent (no duplicate, none lost);
 * - consume, as the bronze writer consumes: a new group reads a backlog of `--consume-messages`
 *   events from the beginning; offsets must increase within each partition and every client must
 *   see the same bytes.
 * `--headers` puts on every message (produced, and in the consumed backlog) the five headers the CDC
 * service writes by default: Debezium's four `__debezium.context.*` and `lakehouse.schema.id`.
 * Clients authenticate as the stack's admin principal (SASL/SCRAM, docs/security.md).
 * Each run is a process of its own (bench/lib/kafka-client-run.ts), clients alternate within each
 * round; the table gives the median and the range over the rounds of messages/s, CPU µs per
 * message (user + system of that process) and its peak RSS; `uptime` before and after says how
 * busy the machine was.
 *
 * The clients are installed, at pinned versions, into .local/bench-kafka-clients/ (not the
 * project's dependencies): kafkajs 2.2.4, @platformatic/kafka 2.12.1 and
 * @confluentinc/kafka-javascript 1.10.1. The last one has no prebuilt binary reachable here, so it
 * is built from source against Debian's librdkafka build dependencies: `CKJS_LINKING=dynamic`
 * (its static build downloads OpenSSL, zstd... itself), node-gyp pointed at the headers of the
 * project's Node.js (node_modules/node), and `apt-get install libssl-dev libsasl2-dev zlib1g-dev
 * libzstd-dev liblz4-dev` (without libzstd-dev librdkafka builds without zstd). That takes a few
 * minutes, once; if it fails, the client is reported as not installable and the others run.
 * `kafkajs-patched` was kafkajs with the project's load-time replacements of its internals; they are
 * gone (decision 0010 records its figures), so it now fails with that explanation.
 *
 * Stack: TEST_STACK_PORT_BASE starts/uses the test stack on those ports; otherwise the environment's.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig, REPO_ROOT } from '../services/common/config.ts';
import { clientBase } from '../services/common/kafka/index.ts';
import { cdcServiceHeaders } from './lib/service-headers.ts';
import { stackUp } from '../scripts/lib/stack.ts';
import { testEnv } from '../tests/support/test-env.ts';
import { CLIENTS_DIR, type RunOptions, type RunResult } from './lib/kafka-client-run.ts';

const ALL_CLIENTS = ['kafkajs', 'platformatic', 'confluent'];
const opts = new Command('bench kafka-clients')
  .option('--clients <list>', 'clients to measure', (v) => v.split(','), ALL_CLIENTS)
  .option('--rounds <n>', 'alternating rounds', (v) => Number(v), 3)
  .option('--produce-messages <n>', 'messages per produce run', (v) => Number(v), 200_000)
  .option('--consume-messages <n>', 'backlog read by each consume run', (v) => Number(v), 500_000)
  .option('--batch <n>', 'messages per send (CDC_BATCH_MAX_EVENTS)', (v) => Number(v), 2_000)
  .option('--in-flight <n>', 'sends outstanding at once', (v) => Number(v), 5)
  .option('--only <path>', '"produce" or "consume"')
  .option('--headers', "the CDC service's five headers on every message (Debezium's context headers, the schema id)")
  .parse(process.argv)
  .opts<{ clients: string[]; rounds: number; produceMessages: number; consumeMessages: number; batch: number; inFlight: number; only?: 'produce' | 'consume'; headers?: boolean }>();

/** The Node.js distribution of this runtime (from the npm registry): its include/ has the headers node-gyp needs, which it would otherwise download from nodejs.org. */
const NODE_HEADERS = `node-${process.platform}-${process.arch}`;
const VERSIONS: Record<string, string> = {
  kafkajs: '2.2.4',
  '@platformatic/kafka': '2.12.1',
  [NODE_HEADERS]: process.versions.node,
  '@confluentinc/kafka-javascript': '1.10.1',
};
const PARTITIONS = 3;
const portBase = process.env.TEST_STACK_PORT_BASE;
const env: NodeJS.ProcessEnv = portBase ? { ...process.env, ...testEnv(Number(portBase)) } : { ...process.env };
const config = loadConfig(env);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const uptime = () => `load average ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;

/** Installs one package into CLIENTS_DIR unless present. @returns an error text, or undefined when installed. */
function install(name: string): string | undefined {
  try {
    const installed = (JSON.parse(readFileSync(path.join(CLIENTS_DIR, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    if (installed === VERSIONS[name]) return undefined;
  } catch {
    // not installed yet
  }
  mkdirSync(CLIENTS_DIR, { recursive: true });
  if (!existsSync(path.join(CLIENTS_DIR, 'package.json'))) writeFileSync(path.join(CLIENTS_DIR, 'package.json'), '{ "name": "bench-kafka-clients", "private": true }\n');
  const extraEnv: NodeJS.ProcessEnv =
    name === '@confluentinc/kafka-javascript' ? { CKJS_LINKING: 'dynamic', npm_config_nodedir: path.join(CLIENTS_DIR, 'node_modules', NODE_HEADERS) } : {};
  console.log(`installing ${name}@${VERSIONS[name]} into ${path.relative(REPO_ROOT, CLIENTS_DIR)}${name.startsWith('@confluentinc') ? ' (built from source: a few minutes)' : ''}`);
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--save-exact', '--foreground-scripts', `${name}@${VERSIONS[name]}`], {
      cwd: CLIENTS_DIR,
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    return undefined;
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message);
    return stderr.split('\n').filter((l) => /(^gyp ERR!|^\[error\]|^npm error) (?!stack|System|command|cwd|node|not ok|code|path)/.test(l)).slice(0, 3).join(' | ') || 'npm install failed';
  }
}

function runChild(client: string, path_: 'produce' | 'consume', o: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/lib/kafka-client-run.ts'), client, path_, JSON.stringify(o)], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      if (code === 0 && line) resolve(JSON.parse(line) as RunResult);
      else reject(new Error(`${client} ${path_} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/* eslint-disable @typescript-eslint/no-explicit-any -- kafkajs from the benchmark's install, for the driver's admin calls */
const kafkajs: any = createRequire(path.join(CLIENTS_DIR, 'package.json'));
/* eslint-enable @typescript-eslint/no-explicit-any */

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const digits = mid < 100 ? 1 : 0;
  return sorted.length > 1 ? `${fmt(mid, digits)} (${fmt(sorted[0]!, digits)}-${fmt(sorted.at(-1)!, digits)})` : fmt(mid, digits);
}

if (portBase) await stackUp(config, (l) => console.log(`[stack] ${l}`));
const failures = new Map<string, string>();
for (const name of Object.keys(VERSIONS)) {
  const client = name === '@platformatic/kafka' ? 'platformatic' : name === '@confluentinc/kafka-javascript' || name === NODE_HEADERS ? 'confluent' : name;
  const needed = name === 'kafkajs' || (opts.clients.includes(client) && !failures.has(client));
  if (!needed) continue;
  const error = install(name);
  if (error) failures.set(client, error);
}
const clients = opts.clients.filter((c) => !failures.has(c));
for (const [client, error] of failures) console.log(`${client}: not installable here (${error})`);

const { sasl } = clientBase(config, 'bench-kafka-clients');
const { Kafka, logLevel } = kafkajs('kafkajs');
const admin = new Kafka({
  clientId: 'bench-kafka-clients', brokers: config.kafka.brokers, logLevel: logLevel.NOTHING, ...(sasl ? { sasl: { ...sasl, mechanism: sasl.mechanism.toLowerCase() } } : {}),
}).admin();
await admin.connect();
const run = `benchclients${Date.now().toString(36)}`;
const topics: string[] = [];
const newTopic = async (name: string) => {
  await admin.createTopics({ topics: [{ topic: name, numPartitions: PARTITIONS }], waitForLeaders: true });
  topics.push(name);
  return name;
};
const endOffsetsSum = async (topic: string) => ((await admin.fetchTopicOffsets(topic)) as { high: string }[]).reduce((a, p) => a + Number(p.high), 0);

console.log(`# bench kafka-clients (${new Date().toISOString()}, node ${process.version}, ${config.kafka.brokers.join(',')})`);
console.log(`machine before: ${uptime()}`);
const headers = opts.headers ? cdcServiceHeaders(run) : undefined;
console.log(headers ? `headers on every message: ${Object.keys(headers).join(', ')}` : 'no headers');
const base: Omit<RunOptions, 'topic' | 'messages' | 'groupId'> = { brokers: config.kafka.brokers, partitions: PARTITIONS, batch: opts.batch, inFlight: opts.inFlight, ...(sasl ? { sasl } : {}), ...(headers ? { headers } : {}) };
const results = new Map<string, RunResult[]>();
const problems: string[] = [];
try {
  let backlog: string | undefined;
  let backlogMessages = 0;
  if (opts.only !== 'produce') {
    backlog = await newTopic(`${run}.backlog`);
    await runChild('kafkajs', 'produce', { ...base, topic: backlog, messages: opts.consumeMessages, groupId: '', inFlight: 1 });
    backlogMessages = await endOffsetsSum(backlog);
    console.log(`consume backlog: ${fmt(backlogMessages)} messages in ${backlog}`);
  }
  let checksum: number | undefined;
  for (let round = 1; round <= opts.rounds; round++) {
    // Alternate the order between rounds so no client always runs first or last.
    const order = round % 2 ? clients : [...clients].reverse();
    for (const client of order) {
      for (const path_ of ['produce', 'consume'] as const) {
        if (opts.only && opts.only !== path_) continue;
        const key = `${client} ${path_}`;
        try {
          let result: RunResult;
          if (path_ === 'produce') {
            const topic = await newTopic(`${run}.p${round}.${client}`);
            result = await runChild(client, 'produce', { ...base, topic, messages: opts.produceMessages, groupId: '' });
            const stored = await endOffsetsSum(topic);
            // The warm-up message comes on top of the measured ones.
            if (stored !== opts.produceMessages + 1) problems.push(`${key} round ${round}: topic holds ${stored} messages, ${opts.produceMessages + 1} sent`);
          } else {
            result = await runChild(client, 'consume', { ...base, topic: backlog!, messages: backlogMessages, groupId: `${run}-${client}-${round}` });
            if (!result.ordered) problems.push(`${key} round ${round}: offsets not increasing within a partition`);
            checksum ??= result.checksum;
            if (result.checksum !== checksum) problems.push(`${key} round ${round}: saw ${result.checksum} key+value bytes, others ${checksum}`);
          }
          results.set(key, [...(results.get(key) ?? []), result]);
          console.log(`  round ${round} ${key}: ${fmt(result.messages / result.seconds)} msg/s, ${fmt(result.cpuUs / result.messages, 1)} µs CPU/msg, peak RSS ${fmt(result.maxRssBytes / 2 ** 20)} MB`);
        } catch (err) {
          problems.push(`${key} round ${round}: ${(err as Error).message}`);
          console.log(`  round ${round} ${key}: FAILED ${(err as Error).message}`);
        }
      }
    }
  }
} finally {
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}
console.log(`machine after: ${uptime()}`);
console.log(`\n| client | path | messages/s | CPU µs/message | peak RSS MB | runs |`);
console.log('|---|---|---:|---:|---:|---:|');
for (const [key, rs] of results) {
  const [client, path_] = key.split(' ');
  console.log(
    `| ${client} | ${path_} | ${summary(rs.map((r) => r.messages / r.seconds))} | ${summary(rs.map((r) => r.cpuUs / r.messages))} | ${summary(rs.map((r) => r.maxRssBytes / 2 ** 20))} | ${rs.length} |`,
  );
}
console.log(`\nmedian (range) over alternating rounds; produce: ${fmt(opts.produceMessages)} CDC events, ${fmt(opts.batch)} per send, ${opts.inFlight} sends outstanding, idempotent, acks=all, ${PARTITIONS} partitions; consume: ${fmt(opts.consumeMessages)} events from the beginning`);
if (problems.length > 0) {
  console.log(`\nproblems:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  process.exitCode = 1;
}
process.exit();
