/**
 * `npm run bronze`: runs the bronze writer until SIGTERM/SIGINT (see writer.ts and README.md)
 * under the service runtime (services/common/runtime.ts): exit 0 after a graceful stop that
 * stored everything buffered, 1 on a runtime failure, 2 on a bad configuration.
 */
import { runService } from '../common/runtime.ts';
import { bronzeWriterService } from './definition.ts';

await runService(bronzeWriterService);
