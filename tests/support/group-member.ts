/**
 * A consumer-group member to kill: joins `<group>` on `<topic>` through the project's Kafka factory
 * (as the environment's admin principal), prints `joined` on stdout once it has partitions, then
 * idles. A test kills it with SIGKILL so that the broker keeps it in the group until its session
 * times out (`<sessionTimeoutMs>`), as after a kill -9 of a service: a new member's join then waits
 * on the broker.
 *
 * Usage: node --import tsx tests/support/group-member.ts <group> <topic> <sessionTimeoutMs>
 */
import { loadConfig } from '../../services/common/config.ts';
import { createLogger } from '../../services/common/logger.ts';
import { createConsumer } from '../../services/common/kafka/index.ts';
import { kafkaTarget } from './kafka.ts';

const [groupId, topic, sessionTimeout] = process.argv.slice(2);
if (!groupId || !topic || !sessionTimeout) {
  console.error('usage: node --import tsx tests/support/group-member.ts <group> <topic> <sessionTimeoutMs>');
  process.exit(2);
}
const consumer = createConsumer(kafkaTarget(loadConfig().kafka.brokers), 'member', createLogger('group-member', 'warn'), {
  groupId,
  sessionTimeout: Number(sessionTimeout),
  rebalanceTimeout: Number(sessionTimeout),
  heartbeatInterval: 1_000,
});
await consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest' });
process.stdout.write('joined\n');
setInterval(() => undefined, 60_000);
