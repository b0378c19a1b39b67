// The examples run here so they never rot.
import { strict as assert } from 'node:assert';
import { dmaRoundTrip } from '../../examples/dma-round-trip';

describe('examples (real kernel)', function () {
  it('dma-round-trip: every step runs and the bytes come back', async function () {
    const lines: string[] = [];
    assert.equal(await dmaRoundTrip((line) => lines.push(line)), true, lines.join('\n'));
    assert.match(lines.join('\n'), /10\. verified: the bytes came back identical/);
  });
});
