// The docs stay true to the tree: the README is a user's page of at most 200 lines that opens
// with the two commands; every relative link of README.md and docs/*.md reaches a file (and a
// heading, where it names one); the benchmark tables of docs/benchmarks.md are what
// scripts/render-docs.js renders from bench/results/ now; and the pages that list the code's
// error classes, commands, source files and VM test files list all of them and nothing gone.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as api from '../../lib';
import { GLOBAL_OPTIONS } from '../../lib/cli/args';
import { COMMANDS } from '../../lib/cli/commands';
import * as drivers from '../../lib/drivers';

const REPO = path.resolve(__dirname, '..', '..', '..');

/**
 * Pages other branches are writing, linked before they land. Empty this as they are merged:
 * a page listed here that exists fails the test, so the list cannot outlive them.
 */
const PENDING_PAGES: readonly string[] = [];

const README_MAX_LINES = 200;

function read(relative: string): string {
  return fs.readFileSync(path.join(REPO, relative), 'utf8');
}

function docPages(): string[] {
  return [
    'README.md',
    ...fs
      .readdirSync(path.join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
}

/** The text of a page without its fenced code blocks (links there are not links). */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** Every `[text](target)` of a page outside code, as written. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown).replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\[[^\]\n]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  return new Set([...prose(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1])));
}

/** Every `code span` of a page, outside fenced blocks. */
function codeSpans(markdown: string): string[] {
  return [...prose(markdown).matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
}

function filesUnder(dir: string, keep: (file: string) => boolean): string[] {
  return fs
    .readdirSync(path.join(REPO, dir), { withFileTypes: true })
    .flatMap((entry) => {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) return filesUnder(rel, keep);
      return keep(rel) ? [rel] : [];
    })
    .sort();
}

describe('docs', function () {
  describe('README.md', function () {
    const readme = read('README.md');
    const lines = readme.split('\n');

    it(`is a user's page of at most ${README_MAX_LINES} lines`, function () {
      const count = readme.endsWith('\n') ? lines.length - 1 : lines.length;
      assert.ok(count <= README_MAX_LINES, `README.md has ${count} lines: move detail to docs/`);
    });

    it('opens with the two commands: the demo, then the tests', function () {
      assert.equal(lines[0], '# vfio-spapr');
      assert.equal(lines[2], '```sh');
      assert.match(lines[3], /^npm ci && npm run demo +# /);
      assert.match(lines[4], /^npm ci && npm test +# /);
      assert.equal(lines[5], '```');
    });

    it('lists every command of vfio-spapr', function () {
      const spans = codeSpans(readme);
      for (const command of COMMANDS) {
        assert.ok(
          spans.some((s) => s === command.name || s.startsWith(`${command.name} `)),
          `README.md's command table lacks ${command.name}`,
        );
      }
    });
  });

  describe('links', function () {
    it('every relative link of README.md and docs/*.md reaches a file and heading', function () {
      const broken: string[] = [];
      for (const page of docPages()) {
        for (const target of linkTargets(read(page))) {
          if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
          const [file, anchor] = target.split('#', 2);
          const resolved =
            file === ''
              ? page
              : path.posix.normalize(path.posix.join(path.posix.dirname(page), file));
          if (PENDING_PAGES.includes(resolved)) continue;
          if (!fs.existsSync(path.join(REPO, resolved))) {
            broken.push(`${page}: ${target} (no ${resolved})`);
          } else if (anchor && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor)) {
            broken.push(`${page}: ${target} (no heading #${anchor} in ${resolved})`);
          }
        }
      }
      assert.deepEqual(broken, [], 'broken links');
    });

    it('finds links, anchors and code outside fenced blocks as GitHub does', function () {
      const page = '# A `b`: c\n\n[x](a.md) `[y](b.md)`\n```\n[z](c.md)\n```\n[w](d.md#a-b-c)\n';
      assert.deepEqual(linkTargets(page), ['a.md', 'd.md#a-b-c']);
      assert.deepEqual([...anchorsOf(page)], ['a-b-c']);
    });

    it('names only pending pages that have not landed', function () {
      const landed = PENDING_PAGES.filter((p) => fs.existsSync(path.join(REPO, p)));
      assert.deepEqual(landed, [], 'these pages exist now: take them out of PENDING_PAGES');
    });

    it('names repository files that exist', function () {
      const missing: string[] = [];
      for (const page of docPages()) {
        for (const span of codeSpans(read(page))) {
          const file = span.split(/\s/)[0];
          if (!/^(lib|native|test|scripts|bench|examples)\/[\w./-]+\.\w+$/.test(file)) continue;
          if (!fs.existsSync(path.join(REPO, file))) missing.push(`${page}: ${file}`);
        }
      }
      assert.deepEqual(missing, [], 'files the docs name that are not in the tree');
    });
  });

  describe('docs/benchmarks.md', function () {
    type Renderer = {
      PAGE: string;
      renderBenchTables(): string;
      renderPage(page: string): Promise<string>;
    };
    const renderer = require(path.join(REPO, 'scripts', 'render-docs.js')) as Renderer;
    const bench = require(path.join(REPO, 'scripts', 'bench.js')) as { time(ns?: number): string };

    it('carries the tables scripts/render-docs.js renders from bench/results/ now', async function () {
      this.timeout(20000);
      const page = fs.readFileSync(renderer.PAGE, 'utf8');
      const rendered = await renderer.renderPage(page);
      assert.ok(
        rendered === page,
        'docs/benchmarks.md differs from bench/results/: run node scripts/render-docs.js',
      );
    });

    it('renders the figures of every results file, and notices a figure changed by hand', async function () {
      this.timeout(20000);
      const tables = renderer.renderBenchTables();
      const results = fs.readdirSync(path.join(REPO, 'bench', 'results'));
      for (const file of results.filter((f) => f.endsWith('.json'))) {
        assert.ok(tables.includes(`bench/results/${file}`), `no section for ${file}`);
        const result = JSON.parse(read(`bench/results/${file}`)) as {
          cases?: { label: string; ratio?: { median: number }; rootNsPerOp?: number }[];
        };
        for (const c of result.cases ?? []) {
          // A guest run's ratios; the host-library run's cost per operation (shown beside them).
          const figure = c.ratio ? `**${c.ratio.median.toFixed(3)}**` : bench.time(c.rootNsPerOp);
          assert.ok(
            tables.includes(figure),
            `${file}: ${c.label} (${figure}) is not in the tables`,
          );
        }
      }
      const page = fs.readFileSync(renderer.PAGE, 'utf8');
      const figure = /\*\*(\d+\.\d{3})\*\*/.exec(page);
      assert.ok(figure, 'docs/benchmarks.md shows no ratio');
      const tampered = page.replace(figure[0], '**9.999**');
      assert.notEqual(await renderer.renderPage(tampered), tampered);
    });
  });

  describe('pages that list what the code has', function () {
    it('docs/errors.md: every error class and code', function () {
      const page = read('docs/errors.md');
      const spans = new Set(codeSpans(page));
      const classes = Object.entries({ ...api, ...drivers })
        .filter(([, v]) => typeof v === 'function' && v.prototype instanceof Error)
        .map(([name]) => name);
      assert.ok(classes.length > 30, `only ${classes.length} error classes found`);
      const sources = [
        ...filesUnder('lib/errors', (f) => f.endsWith('.ts')),
        'lib/drivers/nvme-errors.ts',
      ].map(read);
      const codes = new Set(
        sources.flatMap((s) => [...s.matchAll(/'((?:ERR|ABORT)_[A-Z0-9_]+)'/g)].map((m) => m[1])),
      );
      const unlisted = [...classes, ...codes].filter((name) => !spans.has(name));
      assert.deepEqual(unlisted, [], 'docs/errors.md does not list these: add rows');
      const everything = [
        ...filesUnder('lib', (f) => f.endsWith('.ts')),
        ...filesUnder('native', () => true),
      ]
        .map(read)
        .join('\n');
      const gone = [...spans].filter(
        (s) => (/^ERR_[A-Z0-9_]+$/.test(s) || /^\w+Error$/.test(s)) && !everything.includes(s),
      );
      assert.deepEqual(gone, [], 'docs/errors.md names codes or classes the code lacks');
    });

    it('docs/cli.md: every command and option', function () {
      const page = read('docs/cli.md');
      for (const command of COMMANDS) {
        assert.ok(page.includes(`vfio-spapr ${command.name}`), `no vfio-spapr ${command.name}`);
        for (const option of Object.keys({ ...command.options, ...GLOBAL_OPTIONS })) {
          assert.ok(page.includes(`--${option}`), `${command.name}: no --${option}`);
        }
      }
    });

    it('docs/layout.md: every file under lib/ and native/', function () {
      const spans = new Set(codeSpans(read('docs/layout.md')));
      const files = [
        ...filesUnder('lib', (f) => f.endsWith('.ts')),
        ...filesUnder('native', () => true),
      ];
      const unlisted = files.filter((f) => !spans.has(f));
      assert.deepEqual(unlisted, [], 'docs/layout.md has no line for these: say their concern');
    });

    it('docs/testing.md: every VM test file, and no test file that is gone', function () {
      const spans = codeSpans(read('docs/testing.md'));
      const vm = fs
        .readdirSync(path.join(REPO, 'test', 'vm'))
        .filter((f) => f.endsWith('.test.ts'));
      const unlisted = vm.filter((f) => !spans.includes(f));
      assert.deepEqual(unlisted, [], 'docs/testing.md does not say what these prove');
      const tests = new Set([
        ...vm,
        ...fs.readdirSync(path.join(REPO, 'test', 'unit')).filter((f) => f.endsWith('.test.ts')),
      ]);
      const gone = spans
        .flatMap((s) => s.split(/,\s*/))
        .filter((s) => /^[\w-]+\.test\.ts$/.test(s) && !tests.has(s));
      assert.deepEqual(gone, [], 'docs/testing.md names test files that are gone');
    });
  });
});
