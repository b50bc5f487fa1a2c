/**
 * How tests/docs/doc-commands.int.test.ts treats each documented command (tests/docs/extract.ts).
 *
 * By default a command RUNS as written, in its document's shell session (one bash per document,
 * on a terminal, in document order, so `export`, `cd` and background jobs carry over as they do
 * for a reader), against a scratch stack on the test ports, and must exit 0. A synopsis
 * (`<name>`, `[--flag]`, `a|b`, `...`) is checked through `--help` instead. The rules below are
 * the exceptions, first match wins; each says why. A command added to the docs later is picked
 * up with no change here: it runs, or fails and asks for a rule.
 */

/** What to do with a command. */
export type Treatment =
  /** Not run here; `reason` says why (and where it is tested, if anywhere). */
  | { how: 'exempt'; reason: string; helpCheck?: boolean; paths?: boolean }
  /**
   * A long-running service: started, waited for until `ready` says it has caught up, stopped
   * with SIGTERM (as a supervisor or `docker compose stop` does), and it must exit 0.
   */
  | { how: 'service'; ready: Readiness }
  /**
   * Run as written; `answer` is typed at its prompt; `before`/`after` prepare and clean up
   * (`{rulesFile}` in them is the default rules file, BATCH_RULES_FILE).
   */
  | { how: 'run'; answer?: string; before?: string; after?: string; last?: boolean; timeoutS?: number };

/** When a service counts as ready (read from `lakehouse status --json` or its HTTP listener). */
export type Readiness =
  | { kind: 'slot-active' }
  | { kind: 'group-caught-up'; group: string }
  | { kind: 'http'; url: 'monitor-healthz' };

export interface Rule {
  /** Matches the command's whole text (after `#` comments are cut). */
  match: RegExp;
  treatment: Treatment;
}

const SUITE = 'the test suite this test belongs to (CI runs `bash .ci/run`, which runs `npm test`)';
const MENTION = 'names a tool or a step in prose, not a command to type';

export const RULES: Rule[] = [
  // ----------------------------------------------------------------------------- not runnable here
  { match: /^npm ci( --omit=dev)?$/, treatment: { how: 'exempt', reason: 'installs node_modules: CI\'s own first step (.ci/run); --omit=dev is the Docker image\'s step (Dockerfile)' } },
  { match: /^npm ci && npm run demo$/, treatment: { how: 'exempt', reason: 'installs node_modules (CI\'s step), then the demo: see `npm run demo`' } },
  { match: /^(KEEP_TEST_STACK=1 )?npm test$|^bash \.ci\/run$/, treatment: { how: 'exempt', reason: SUITE } },
  { match: /^npx vitest run --project (unit|integration) /, treatment: { how: 'exempt', reason: `a part of ${SUITE}`, paths: true } },
  {
    match: /^npm run demo( -- --once)?$/,
    treatment: { how: 'exempt', reason: 'runs every service for minutes (until Ctrl-C without --once); tests/e2e/demo.int.test.ts runs scripts/demo.ts --once on the test stack', helpCheck: true },
  },
  { match: /^docker (compose|build)\b/, treatment: { how: 'exempt', reason: 'needs a Docker engine, which CI has not; tests/foundation/docker-compose.int.test.ts validates docker-compose.yml with compose-go' } },
  { match: /^npm run stack -- up --docker$/, treatment: { how: 'exempt', reason: 'needs a Docker engine (see docker compose)', helpCheck: true } },
  { match: /^(TEST_STACK_PORT_BASE=\d+ )?npm run bench -- /, treatment: { how: 'exempt', reason: 'a benchmark: minutes of load, meant for a quiet machine (docs/benchmarks.md); its flags are checked through --help', helpCheck: true } },
  { match: /^tail -f /, treatment: { how: 'exempt', reason: 'follows a file until Ctrl-C; the Slack dry-run lines are tested in services/slack-notifier' } },
  { match: /^npm link$/, treatment: { how: 'exempt', reason: 'installs the bin on the machine (a global symlink); tests/docs and scripts/lib/lakehouse/lakehouse.int.test.ts run bin/lakehouse.js itself' } },
  { match: /^npm install --save-dev --save-exact node@24\.x\.y$/, treatment: { how: 'exempt', reason: 'how to move the Node.js pin (decision 0009): changes package.json' } },
  {
    match: /^(go install( github\.com\/minio\/minio@v[\w.-]+)?|go build|mvn dependency:copy-dependencies|java -cp 'libs\/\*' kafka\.Kafka)$/,
    treatment: { how: 'exempt', reason: 'what scripts/install-services and the local stack run; tests/foundation/stack.int.test.ts starts that stack' },
  },
  { match: /^(git clone|kill -9|kcat -P|npm exec|npm run|npm run \.\.\.|npx \.\.\.|node --import tsx( <entry>)?)$/, treatment: { how: 'exempt', reason: MENTION } },
  {
    match: /^(MALLOC_ARENA_MAX=2 )?node --enable-source-maps /,
    treatment: { how: 'exempt', reason: 'the node flags of `npm run bronze` (package.json), quoted to explain them; `npm run bronze` runs them' },
  },

  // ----------------------------------------------------------------------------- services
  {
    match: /^npm run refresh -- (--watch|--until-caught-up)$/,
    treatment: { how: 'exempt', reason: 'needs the CDC service and the bronze writer running (the watermark): services/batch/refresh-watch.int.test.ts runs --watch, tests/e2e/demo.int.test.ts --until-caught-up (the demo waits with it)', helpCheck: true },
  },
  { match: /^npm run cdc$/, treatment: { how: 'service', ready: { kind: 'slot-active' } } },
  { match: /^npm run bronze$/, treatment: { how: 'service', ready: { kind: 'group-caught-up', group: 'bronze-writer' } } },
  { match: /^npm run slack-notifier$/, treatment: { how: 'service', ready: { kind: 'group-caught-up', group: 'slack-notifier' } } },
  { match: /^npm run distance-worker$/, treatment: { how: 'service', ready: { kind: 'group-caught-up', group: 'distance-worker' } } },
  { match: /^npm run monitor$/, treatment: { how: 'service', ready: { kind: 'http', url: 'monitor-healthz' } } },

  // ----------------------------------------------------------------------------- run, with help
  // Dropping the slot or rewinding the bronze group changes what every later document sees (a new
  // slot snapshots every table again; a rewound group re-reads from offset zero): after every
  // document, like stopping the stack, so each document runs on the baseline it was written for.
  { match: /^npm run lakehouse -- (reset-slot|cdc drop-slot)$/, treatment: { how: 'run', answer: 'y', last: true } },
  { match: /^npm run lakehouse -- replay --group \S+ --to-earliest$/, treatment: { how: 'run', last: true } },
  // A rules file of the reader's own: a copy of the default one ({rulesFile}: BATCH_RULES_FILE's default).
  { match: /--rules my-rules\.json$/, treatment: { how: 'run', before: 'cp {rulesFile} my-rules.json', after: 'rm -f my-rules.json' } },
  { match: /--rules other\.json /, treatment: { how: 'run', before: 'cp {rulesFile} other.json', after: 'rm -f other.json' } },
  // Stopping or deleting the stack: after every document, so the others find it running.
  { match: /^npm run stack -- (down|reset)$/, treatment: { how: 'run', last: true } },
];

/** The first rule matching `text`, or undefined (then: run as written, or --help for a synopsis). */
export function ruleFor(text: string): Rule | undefined {
  const bare = withoutComment(text);
  return RULES.find((r) => r.match.test(bare));
}

/** The command without a trailing `# comment` (outside quotes) and surrounding blanks (pure). */
export function withoutComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!)) && !text.slice(0, i).includes('<<')) return text.slice(0, i).trim();
  }
  return text.trim();
}
