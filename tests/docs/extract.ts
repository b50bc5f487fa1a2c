/**
 * The shell commands the documentation tells a user to type, extracted from markdown (pure but
 * for reading the files): tests/docs/doc-commands.int.test.ts runs them, tests/unit/doc-commands.test.ts
 * checks them statically.
 *
 * Where commands are taken from (markdown-it's tokens, so code inside HTML comments, tables and
 * lists is handled as a reader sees it):
 * - fenced blocks marked `bash`, `sh`, `shell`, `console` or `zsh`: every command in them (lines
 *   joined at a trailing `\`, a here-document kept with its command, comment lines and a `$ `
 *   prompt dropped). Output and diagrams belong in blocks marked `text` (or unmarked);
 * - inline code whose first word (after `VAR=value` assignments) is a program a user runs
 *   ({@link PROGRAMS}), e.g. `npm run lakehouse -- status` in a sentence or a table cell.
 *
 * A command written as a synopsis (`<placeholder>`, `[optional part]`, `a|b` alternatives or
 * `...`) is not meant to be typed as is: {@link synopsisHelpChecks} turns it into the `--help`
 * calls that prove its script, subcommands and flags exist.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import { parse as parseShell } from 'shell-quote';

/** One command as written in a document. */
export interface DocCommand {
  /** Path of the document, relative to the repository root. */
  file: string;
  /** 1-based line of the command in the document. */
  line: number;
  /** The command as a user types it (a fenced command may span lines). */
  text: string;
  /** From a fenced shell block, or inline code in the prose. */
  source: 'fenced' | 'inline';
}

/** Info strings of fenced blocks whose lines are commands. */
export const SHELL_FENCES = new Set(['bash', 'sh', 'shell', 'console', 'zsh']);

/**
 * Programs whose inline code is a command to type. Keep in sync with what the docs use; a
 * command in a `bash` block is taken whatever its program.
 */
export const PROGRAMS = new Set([
  'npm', 'npx', 'node', 'bash', 'sh', 'kcat', 'psql', 'createdb', 'dropdb', 'pg_basebackup', 'docker', 'curl', 'tail', 'cat',
  'go', 'git', 'mvn', 'java', 'tsx', 'duckdb', 'make', 'kill', 'export', 'set', 'source', 'cp', 'rm', 'mkdir',
]);

/** The documents whose commands are checked: README.md, docs/**\/*.md, services/*\/README.md (sorted). */
export function documentationFiles(root: string): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(path.join(root, dir)).sort()) {
      const rel = path.join(dir, name);
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.md')) files.push(rel);
    }
  };
  walk('docs');
  for (const service of readdirSync(path.join(root, 'services')).sort()) {
    const rel = path.join('services', service, 'README.md');
    try {
      if (statSync(path.join(root, rel)).isFile()) files.push(rel);
    } catch {
      // a service without a README
    }
  }
  return files;
}

/** The words of a command (shell-quote's parse; operators and comments as objects). */
export function shellWords(text: string): string[] {
  return parseShell(text, (name) => `$${name}`).filter((w): w is string => typeof w === 'string');
}

/** The program a command runs: its first word after `VAR=value` assignments (pure). */
export function programOf(text: string): string | undefined {
  return shellWords(text).find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
}

/** Whether inline code is a command to type (pure): see {@link PROGRAMS}. */
export function isInlineCommand(code: string): boolean {
  const program = programOf(code.trim());
  return program !== undefined && PROGRAMS.has(program) && code.trim().includes(' ');
}

/**
 * Splits the text of a shell block into commands (pure): a trailing `\` joins the next line, a
 * here-document (`<<EOF` ... `EOF`) stays with its command, blank and comment lines are dropped,
 * a `$ ` prompt is removed. Returns each command with its 0-based line offset in the block.
 */
export function splitShellBlock(content: string): { text: string; offset: number }[] {
  const lines = content.replace(/\n$/, '').split('\n');
  const out: { text: string; offset: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.replace(/^\s*\$ /, '');
    if (/^\s*(#|$)/.test(first)) continue;
    const offset = i;
    let text = first;
    while ((/\\$/.test(text) || insideQuotes(text)) && i + 1 < lines.length) text = `${text}\n${lines[++i]}`;
    const heredoc = /<<-?\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(text);
    if (heredoc) {
      while (i + 1 < lines.length) {
        const next = lines[++i]!;
        text = `${text}\n${next}`;
        if (next.trim() === heredoc[2]) break;
      }
    }
    out.push({ text, offset });
  }
  return out;
}

/** Whether `text` ends inside a quoted string (a command continuing on the next line) (pure). */
export function insideQuotes(text: string): boolean {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
    } else if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
    } else if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) return false;
  }
  return quote !== null;
}

/**
 * Every command of one document, in document order (pure).
 * @param file the document's path relative to the repository root (for {@link DocCommand.file}).
 */
export function extractCommands(file: string, markdown: string): DocCommand[] {
  const md = new MarkdownIt({ html: true });
  const lines = markdown.split('\n');
  const out: DocCommand[] = [];
  let blockLine = 0;
  /** Line of `code` in the document, searching from the current block's first line on. */
  const lineOf = (code: string): number => {
    const candidates = [code, code.replaceAll('|', '\\|')];
    for (let i = blockLine; i < lines.length; i++) if (candidates.some((c) => lines[i]!.includes(c))) return i + 1;
    return blockLine + 1;
  };
  for (const token of md.parse(markdown, {})) {
    if (token.map) blockLine = token.map[0];
    if (token.type === 'fence' && SHELL_FENCES.has(token.info.trim().split(/\s+/)[0] ?? '')) {
      for (const c of splitShellBlock(token.content)) out.push({ file, line: token.map![0] + 2 + c.offset, text: c.text, source: 'fenced' });
    } else if (token.type === 'inline') {
      for (const child of token.children ?? []) {
        if (child.type === 'code_inline' && isInlineCommand(child.content)) out.push({ file, line: lineOf(child.content), text: child.content.trim(), source: 'inline' });
      }
    }
  }
  return out;
}

/**
 * Lines of fenced blocks NOT marked as shell that look like commands (a program of
 * {@link PROGRAMS} and an argument), as `file:line: text` (pure): such a block should be marked
 * `bash` (commands) or `text` (output), so that no command escapes the test.
 */
export function unmarkedCommands(file: string, markdown: string): string[] {
  const md = new MarkdownIt({ html: true });
  const out: string[] = [];
  for (const token of md.parse(markdown, {})) {
    const info = token.info.trim().split(/\s+/)[0] ?? '';
    if (token.type !== 'fence' || SHELL_FENCES.has(info) || info !== '') continue;
    token.content.split('\n').forEach((l, i) => {
      if (isInlineCommand(l.trim().replace(/^\$ /, '').split('#')[0] ?? '')) out.push(`${file}:${token.map![0] + 2 + i}: ${l.trim()}`);
    });
  }
  return out;
}

/** Every command of every documentation file under `root`. */
export function documentedCommands(root: string): DocCommand[] {
  return documentationFiles(root).flatMap((f) => extractCommands(f, readFileSync(path.join(root, f), 'utf8')));
}

/** Whether a command is a synopsis rather than a command to type as is (pure). */
export function isSynopsis(text: string): boolean {
  const bare = text.replace(/'[^']*'|"[^"]*"/g, "''");
  return /<[A-Za-z][^>]*>/.test(bare) || /(^|\s)\[[^\]]*\]/.test(bare) || /\S\|\S/.test(bare) || /(^|\s)\.\.\.(\s|$)/.test(bare) || /=\.\.\.(\s|$)/.test(bare);
}

/** One `--help` call proving that part of a synopsis exists, and the flags its output must name. */
export interface HelpCheck {
  /** The command to run, ending with `--help`. */
  command: string;
  /** Long options the synopsis uses, e.g. `--to-earliest`. */
  flags: string[];
}

/**
 * The `--help` calls of a synopsis (pure): each `a|b|c` alternative of a word gives one call;
 * the call is the synopsis' words up to its first option, placeholder or optional part
 * (`npm run <script>` gets the `--` that passes options to the script), plus `--help`; every
 * `--option` anywhere in the synopsis (optional parts included) must appear in that help.
 * `VAR=...` assignments are dropped.
 */
export function synopsisHelpChecks(text: string): HelpCheck[] {
  const words = text
    .replace(/\[|\]/g, ' ')
    .split(/\s+/)
    .filter((w) => w && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  const flags = [...new Set(words.filter((w) => /^--[a-z][a-z0-9-]*/.test(w)).map((w) => w.replace(/=.*$/, '')))];
  const prefix: string[][] = [[]];
  for (const w of words) {
    if ((w.startsWith('-') && w !== '--') || w.startsWith('<') || w === '...' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) break;
    const alternatives = w.split('|');
    const next = prefix.flatMap((p) => alternatives.map((a) => [...p, a]));
    prefix.splice(0, prefix.length, ...next);
  }
  return prefix.map((p) => {
    const words = p[p.length - 1] === '--' ? p.slice(0, -1) : p;
    const needsSeparator = words[0] === 'npm' && words[1] === 'run' && !words.includes('--');
    return { command: [...words, ...(needsSeparator ? ['--'] : []), '--help'].join(' '), flags };
  });
}
