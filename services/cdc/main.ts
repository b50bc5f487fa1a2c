/**
 * `npm run cdc`: PostgreSQL logical replication into Kafka (services/cdc/README.md), under the
 * service runtime (services/common/runtime.ts): exit 0 after a graceful stop (flush, confirm),
 * 1 on a fatal runtime error (a restart resumes at the last confirmed LSN), 2 on a bad
 * configuration (reported before any connection opens). PostgreSQL and broker outages are not
 * fatal: the service reconnects by itself (service.ts); anything that still escapes (an uncaught
 * exception or unhandled rejection) is one `fatal` line with the cause, exit 1 (the runtime).
 */
import { runService } from '../common/runtime.ts';
import { cdcService } from './definition.ts';

await runService(cdcService);
