#!/usr/bin/env node
// Renders the figures of the docs from the committed results: the benchmark tables of
// docs/benchmarks.md from bench/results/*.json (written by `npm run bench`), between the
// markers below, with the same table code the bench prints with, formatted as prettier
// formats the rest of the tree. test/unit/docs.test.ts fails when the page differs from what
// this renders, so a figure in the docs is always the one in the results.
//
//   node scripts/render-docs.js           rewrite the generated part of docs/benchmarks.md
//   node scripts/render-docs.js --check   exit 1 if it is not what the results give
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { ledgerHeading, ledgerTable, vmHeading, vmTables } = require('./bench');

const REPO = path.resolve(__dirname, '..');
const RESULTS = path.join(REPO, 'bench', 'results');
const PAGE = path.join(REPO, 'docs', 'benchmarks.md');
const START = '<!-- generated: bench tables -->';
const END = '<!-- end generated -->';

/** One results file as a section of the page, by its shape; guest runs first, then the ledger. */
function section(file, result) {
  const name = path.basename(file);
  if (Array.isArray(result.cases)) {
    return {
      order: 0,
      text:
        `### The library against C, ${result.kernelFlavour.toUpperCase()}-page kernel (\`bench/results/${name}\`)\n\n` +
        `${vmHeading(result)}.\n\n${vmTables(result)}`,
    };
  }
  if (result.random && result.ascending && Array.isArray(result.sizes)) {
    return {
      order: 1,
      text:
        `### The ledger (\`bench/results/${name}\`)\n\n` +
        `${ledgerHeading(result)}; cost per operation with ` +
        `${result.sizes.map((n) => n.toLocaleString('en-US')).join(', ')} live regions and mappings.\n\n` +
        ledgerTable(result),
    };
  }
  throw new Error(
    `render-docs: bench/results/${name} is neither a guest run nor a ledger run: ` +
      'teach scripts/render-docs.js its shape',
  );
}

/** The markdown between the markers, from every bench/results/*.json, before formatting. */
function renderBenchTables(resultsDir = RESULTS) {
  const files = fs
    .readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`render-docs: no results in ${resultsDir}`);
  return files
    .map((f) => section(f, JSON.parse(fs.readFileSync(path.join(resultsDir, f), 'utf8'))))
    .sort((a, b) => a.order - b.order)
    .map((s) => s.text)
    .join('\n\n');
}

/** `page` with its generated part replaced by what the results give now, prettier-formatted. */
async function renderPage(page, resultsDir = RESULTS) {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start || page.indexOf(START, start + 1) >= 0) {
    throw new Error(`render-docs: docs/benchmarks.md needs one ${START} ... ${END} pair`);
  }
  const text =
    `${page.slice(0, start + START.length)}\n\n` +
    `${renderBenchTables(resultsDir)}\n\n${page.slice(end)}`;
  const prettier = require('prettier');
  const options = (await prettier.resolveConfig(PAGE)) ?? {};
  return prettier.format(text, { ...options, parser: 'markdown' });
}

async function main() {
  const check = process.argv.includes('--check');
  const page = fs.readFileSync(PAGE, 'utf8');
  const rendered = await renderPage(page);
  const where = path.relative(REPO, PAGE);
  if (rendered === page) {
    console.log(`render-docs: ${where} is up to date with bench/results/`);
  } else if (check) {
    console.error(
      `render-docs: ${where} differs from bench/results/: run node scripts/render-docs.js`,
    );
    process.exitCode = 1;
  } else {
    fs.writeFileSync(PAGE, rendered);
    console.log(`render-docs: wrote the tables of ${where} from bench/results/`);
  }
}

module.exports = { PAGE, START, END, renderBenchTables, renderPage };

if (require.main === module) {
  main().catch((error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
}
