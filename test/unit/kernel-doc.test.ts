// docs/kernel.md against the code and the VM tests, both ways: every conformance row of
// lib/conformance/rows/ is in the table with the same case, result and library cells; every
// row of the table names VM test files that exist and name the row's id.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { libraryText } from '../../lib/conformance/row';
import { CONFORMANCE_ROWS } from '../../lib/conformance/rows';

const REPO = path.resolve(__dirname, '..', '..', '..');
const DOC = path.join(REPO, 'docs', 'kernel.md');
const VM_TESTS = path.join(REPO, 'test', 'vm');

interface DocRow {
  id: string;
  title: string;
  expected: string;
  library: string;
  tests: string[];
}

function docRows(): DocRow[] {
  return fs
    .readFileSync(DOC, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim());
      assert.equal(cells.length, 5, `five cells in: ${line}`);
      return {
        id: cells[0].replace(/`/g, ''),
        title: cells[1],
        expected: cells[2],
        library: cells[3],
        tests: cells[4].split(', '),
      };
    });
}

/** The table line for a conformance row, as the code defines it. */
function lineFor(row: (typeof CONFORMANCE_ROWS)[number]): string {
  return `| \`${row.id}\` | ${row.title} | ${row.expected} | ${libraryText(row)} | conformance.test.ts |`;
}

describe('docs/kernel.md, the kernel table', function () {
  let rows: DocRow[];
  before(function () {
    rows = docRows();
  });

  it('has each id once', function () {
    const ids = rows.map((r) => r.id);
    assert.deepEqual(
      ids.filter((id, i) => ids.indexOf(id) !== i),
      [],
    );
    assert.ok(rows.length > CONFORMANCE_ROWS.length, 'the table has rows beyond the command');
  });

  it('states every conformance row as the code defines it (case, result, library)', function () {
    for (const row of CONFORMANCE_ROWS) {
      const doc = rows.find((r) => r.id === row.id);
      assert.ok(doc, `${row.id} is missing from docs/kernel.md; add:\n${lineFor(row)}`);
      assert.deepEqual(
        [doc.title, doc.expected, doc.library],
        [row.title, row.expected, libraryText(row)],
        `${row.id} differs from lib/conformance/rows; the code says:\n${lineFor(row)}`,
      );
      assert.ok(doc.tests.includes('conformance.test.ts'), `${row.id}: re-measured by conformance`);
    }
  });

  it('names, for every row, VM tests that exist and name the row', function () {
    const conformance = new Set(CONFORMANCE_ROWS.map((r) => r.id));
    for (const row of rows) {
      assert.ok(row.tests.length > 0 && row.tests[0] !== '', `${row.id} names no VM test`);
      for (const file of row.tests) {
        const source = path.join(VM_TESTS, file);
        assert.ok(fs.existsSync(source), `${row.id}: test/vm/${file} does not exist`);
        // conformance.test.ts titles one test per row from lib/conformance/rows.
        if (file === 'conformance.test.ts') {
          assert.ok(conformance.has(row.id), `${row.id} is not a row of the conformance command`);
          continue;
        }
        assert.ok(
          fs.readFileSync(source, 'utf8').includes(row.id),
          `test/vm/${file} does not name ${row.id} (in a test title or beside its assertion)`,
        );
      }
    }
  });
});
