/**
 * A local HTTP server playing a Slack incoming webhook (Slack docs, "Sending messages using
 * incoming webhooks"): POST JSON to /services/T…/B…/…, answer `200 ok`, or the scripted failure.
 *
 * Every request body is checked against the documented payload limits (JSON object, non-empty
 * `text` fallback, at most 50 blocks, known block types, section text 1-3000 chars, context with
 * 1-10 elements); a violation is answered `400 invalid_blocks` and recorded in `violations`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Destroy the socket without answering (network error). */
  hangUp?: boolean;
  /** Answer after this many ms (timeouts). */
  delayMs?: number;
  /** Runs before answering (e.g. stop a server between Slack's acceptance and the caller's next step). */
  beforeAnswer?: () => Promise<void>;
}

export interface ReceivedRequest {
  atMs: number;
  path: string;
  payload: { text?: string; blocks?: unknown[]; [k: string]: unknown };
  status: number;
}

export interface FakeSlack {
  /** The webhook URL to configure. */
  url: string;
  /** Every request, in arrival order. */
  requests: ReceivedRequest[];
  /** Requests answered 200. */
  accepted(): ReceivedRequest[];
  /** Payload violations found so far (should stay empty). */
  violations: string[];
  /** Responses used, in order, for the next requests; once empty, valid posts get 200. */
  script: ScriptedResponse[];
  waitForAccepted(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

const BLOCK_TYPES = new Set(['section', 'context', 'divider', 'header', 'actions', 'image', 'rich_text', 'input', 'file', 'video']);

/** Checks a payload against Slack's documented limits. @returns the problems found. */
export function slackPayloadProblems(payload: unknown): string[] {
  const problems: string[] = [];
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return ['body is not a JSON object'];
  const p = payload as Record<string, unknown>;
  if (typeof p.text !== 'string' || p.text.trim().length === 0) problems.push('missing text fallback');
  if (p.blocks !== undefined) {
    if (!Array.isArray(p.blocks)) return [...problems, 'blocks is not an array'];
    if (p.blocks.length > 50) problems.push('more than 50 blocks');
    for (const [i, block] of p.blocks.entries()) {
      const b = block as Record<string, unknown>;
      if (!BLOCK_TYPES.has(String(b.type))) problems.push(`block ${i}: unknown type ${String(b.type)}`);
      if (b.type === 'section') {
        const t = b.text as { type?: string; text?: string } | undefined;
        if (!t || !['mrkdwn', 'plain_text'].includes(String(t.type))) problems.push(`block ${i}: section text type`);
        else if (typeof t.text !== 'string' || t.text.length < 1 || t.text.length > 3000) problems.push(`block ${i}: section text length`);
      }
      if (b.type === 'context') {
        const elements = b.elements as unknown[] | undefined;
        if (!Array.isArray(elements) || elements.length < 1 || elements.length > 10) problems.push(`block ${i}: context elements`);
      }
    }
  }
  return problems;
}

/** Starts the server on a free loopback port. */
export async function startFakeSlack(): Promise<FakeSlack> {
  const requests: ReceivedRequest[] = [];
  const violations: string[] = [];
  const script: ScriptedResponse[] = [];
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let payload: ReceivedRequest['payload'] = {};
      const problems: string[] = [];
      if (req.method !== 'POST') problems.push(`method ${req.method}`);
      if (!String(req.headers['content-type']).startsWith('application/json')) problems.push('content-type is not application/json');
      try {
        payload = JSON.parse(raw);
        problems.push(...slackPayloadProblems(payload));
      } catch {
        problems.push('body is not JSON');
      }
      const scripted = script.shift();
      const record: ReceivedRequest = { atMs: Date.now(), path: req.url ?? '', payload, status: 0 };
      requests.push(record);
      const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'text/plain', ...headers });
        res.end(body);
        notify();
      };
      if (scripted?.hangUp) {
        record.status = -1;
        req.socket.destroy();
        notify();
        return;
      }
      const respond = () => {
        if (scripted) return answer(scripted.status, scripted.body ?? '', scripted.headers);
        if (!/^\/services\/T\w+\/B\w+\/\w+$/.test(req.url ?? '')) return answer(404, 'no_service');
        if (problems.length > 0) {
          violations.push(...problems);
          return answer(400, 'invalid_blocks');
        }
        return answer(200, 'ok');
      };
      if (scripted?.beforeAnswer) void scripted.beforeAnswer().then(respond, (err: unknown) => answer(500, `beforeAnswer failed: ${String(err)}`));
      else if (scripted?.delayMs) setTimeout(respond, scripted.delayMs);
      else respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const accepted = () => requests.filter((r) => r.status === 200);

  return {
    url: `http://127.0.0.1:${port}/services/T0TEST/B0TEST/xTestSecretToken`,
    requests,
    violations,
    script,
    accepted,
    waitForAccepted(count, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (accepted().length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(accepted());
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fake Slack: ${accepted().length}/${count} posts accepted after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
