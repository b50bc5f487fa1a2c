/**
 * `npm run monitor`: metrics, health, quality API, alerts and the dashboard
 * (services/monitor/README.md), under the service runtime (services/common/runtime.ts): exit 0
 * after a graceful stop, 1 on a fatal error (e.g. the port is taken), 2 on a bad configuration.
 */
import { runService } from '../common/runtime.ts';
import { monitorService } from './definition.ts';

await runService(monitorService);
