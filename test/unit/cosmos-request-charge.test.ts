/**
 * The embedded Cosmos DB's estimated request-charge model (local/cosmos/requestCharge.ts) against
 * the figures Cosmos DB publishes ("Understand request units consumption", "Optimize request
 * cost"): if the model drifts from them, these fail.
 */
import {
  INDEX_TERM_RU,
  changedLeaves,
  createCharge,
  deleteCharge,
  feedPageCharge,
  indexedTermCount,
  itemBytes,
  pointReadCharge,
  queryPageCharge,
  replaceCharge,
  writeSizeCharge,
} from '../../local/cosmos/requestCharge';
import type { IndexingPolicy } from '../../local/cosmos/rules';

const KB = 1024;

/** An item of exactly `bytes` persisted bytes (one padded string), with `extra` properties. */
function itemOf(bytes: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = { id: 'x', ...extra, pad: '' };
  const pad = bytes - itemBytes(base);
  if (pad < 0) throw new Error('too small');
  return { ...base, pad: 'p'.repeat(pad) };
}

describe('size tables', () => {
  test('the published rows are reproduced exactly', () => {
    expect(pointReadCharge(KB)).toBeCloseTo(1.0, 5);
    expect(pointReadCharge(100 * KB)).toBeGreaterThan(7); // "100 KB ~10 RU" (older page), table: ~7.8
    expect(pointReadCharge(100 * KB)).toBeLessThan(11);
    expect(pointReadCharge(16 * KB)).toBeCloseTo(1.67, 5);
    expect(writeSizeCharge(KB)).toBeCloseTo(4.95, 5);
    expect(writeSizeCharge(2 * KB)).toBeCloseTo(6.29, 5);
    expect(writeSizeCharge(2048 * KB)).toBeCloseTo(1250, 5);
  });

  test('between rows it interpolates, below 1 KB it charges the 1 KB row, and it never decreases', () => {
    expect(pointReadCharge(10)).toBe(1);
    expect(writeSizeCharge(0)).toBe(4.95);
    expect(writeSizeCharge(3 * KB)).toBeCloseTo((6.29 + 6.67) / 2, 5);
    let prevRead = 0;
    let prevWrite = 0;
    for (let b = 0; b <= 2048 * KB; b += 7919) {
      expect(pointReadCharge(b)).toBeGreaterThanOrEqual(prevRead);
      expect(writeSizeCharge(b)).toBeGreaterThanOrEqual(prevWrite);
      prevRead = pointReadCharge(b);
      prevWrite = writeSizeCharge(b);
    }
  });
});

describe('indexed terms', () => {
  test('every scalar leaf under the default policy, array elements each; system properties are not terms', () => {
    const doc = { id: 'a', n: 1, nested: { b: true, c: null }, tags: ['x', 'y', 'x'], _rid: 'r', _ts: 1 };
    expect(indexedTermCount(doc, undefined)).toBe(7);
    expect(indexedTermCount({ id: 'a', empty: {}, none: [] }, undefined)).toBe(1);
  });

  test('excluded paths remove terms; the most precise path wins; mode none indexes nothing', () => {
    const doc = { id: 'a', meetingId: 'm', body: { text: 't', big: [1, 2, 3] }, seq: 4 };
    const lean: IndexingPolicy = {
      indexingMode: 'consistent',
      includedPaths: [{ path: '/*' }],
      excludedPaths: [{ path: '/body/*' }, { path: '/"_etag"/?' }],
    };
    expect(indexedTermCount(doc, lean)).toBe(3); // id, meetingId, seq
    const only: IndexingPolicy = {
      includedPaths: [{ path: '/meetingId/?' }, { path: '/body/text/?' }],
      excludedPaths: [{ path: '/*' }],
    };
    expect(indexedTermCount(doc, only)).toBe(2); // meetingId, body.text
    const arrays: IndexingPolicy = {
      includedPaths: [{ path: '/*' }],
      excludedPaths: [{ path: '/body/big/[]/?' }],
    };
    expect(indexedTermCount(doc, arrays)).toBe(4); // everything but the three array elements
    expect(indexedTermCount(doc, { indexingMode: 'none' })).toBe(0);
    // An invalid path (neither /? nor /*) matches nothing, so only the root decides.
    expect(
      indexedTermCount(doc, { includedPaths: [{ path: '/*' }], excludedPaths: [{ path: '/body' }] }),
    ).toBe(7);
  });
});

describe('writes', () => {
  test('create: a 1 KB item with 10 indexed terms costs 5 + 0.2 × 10 ≈ 7 RU', () => {
    const terms = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`p${i}`, i])); // + id = 10
    const doc = itemOf(KB, terms);
    const unindexed: IndexingPolicy = {
      includedPaths: Object.keys(terms)
        .map((k) => ({ path: `/${k}/?` }))
        .concat([{ path: '/id/?' }]),
      excludedPaths: [{ path: '/*' }],
    };
    expect(indexedTermCount(doc, unindexed)).toBe(10);
    expect(createCharge(doc, unindexed)).toBeCloseTo(4.95 + 10 * INDEX_TERM_RU, 2);
    // Every property indexed (the default) costs more: `pad` is a term too.
    expect(createCharge(doc, undefined)).toBeCloseTo(4.95 + 11 * INDEX_TERM_RU, 2);
  });

  test('a bigger item costs more to write, and so does one with more indexed terms', () => {
    expect(createCharge(itemOf(8 * KB), undefined)).toBeGreaterThan(createCharge(itemOf(KB), undefined));
    const many = itemOf(2 * KB, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])));
    const few = itemOf(2 * KB);
    expect(createCharge(many, undefined) - createCharge(few, undefined)).toBeCloseTo(50 * INDEX_TERM_RU, 2);
    const excluded: IndexingPolicy = { includedPaths: [{ path: '/*' }], excludedPaths: [{ path: '/k*' }] };
    // `/k*` is not a valid wildcard form: nothing is excluded by it.
    expect(createCharge(many, excluded)).toBe(createCharge(many, undefined));
  });

  test('replace of a 1 KB item with 2 changed indexed terms costs 5 + 5 + 0.4 + 0.4 ≈ 10.8 RU', () => {
    const prev = itemOf(KB, { a: 'one', b: 'two', c: 'same' });
    const next = { ...prev, a: 'uno', b: 'dos' }; // same length values: same size
    expect(itemBytes(next)).toBe(KB);
    expect(replaceCharge(prev, next, undefined)).toBeCloseTo(4.95 * 2 + 4 * INDEX_TERM_RU, 2);
  });

  test('replace counts only the indexed terms that changed, not the whole document', () => {
    const participants = Object.fromEntries(
      Array.from({ length: 2000 }, (_, i) => [`p${i}`, { name: `user${i}`, talk: i }]),
    );
    const prev = { id: 's', meetingId: 'm', seq: 1, participants };
    const next = { ...prev, seq: 2, participants: { ...participants, p7: { name: 'user7', talk: 99 } } };
    const size = writeSizeCharge(itemBytes(prev)) + writeSizeCharge(itemBytes(next));
    // seq and participants.p7.talk changed: two terms out, two in.
    expect(replaceCharge(prev, next, undefined)).toBeCloseTo(size + 4 * INDEX_TERM_RU, 1);
    const lean: IndexingPolicy = {
      includedPaths: [{ path: '/*' }],
      excludedPaths: [{ path: '/participants/*' }],
    };
    expect(replaceCharge(prev, next, lean)).toBeCloseTo(size + 2 * INDEX_TERM_RU, 1);
    expect(createCharge(prev, lean)).toBeLessThan(createCharge(prev, undefined) - 700);
  });

  test('patch adds 0.4 per patched property; delete costs about a create', () => {
    const prev = itemOf(KB, { a: 'one', b: 'two' });
    const next = { ...prev, a: 'uno', b: 'dos' };
    expect(changedLeaves(prev, next)).toBe(2);
    expect(replaceCharge(prev, next, undefined, true)).toBeCloseTo(10.7 + 0.8, 1);
    expect(deleteCharge(prev, undefined)).toBe(createCharge(prev, undefined));
  });
});

describe('reads', () => {
  test('feeds cost one point read per item; an empty page the minimum', () => {
    expect(feedPageCharge([KB, KB, KB, KB, KB])).toBeCloseTo(5, 5);
    expect(feedPageCharge([])).toBe(1);
    expect(feedPageCharge([16 * KB])).toBeCloseTo(1.67, 2);
  });

  test('queries: a base per page plus their results, ~1 RU per returned 1 KB item', () => {
    expect(queryPageCharge([])).toBe(2.5);
    expect(queryPageCharge(Array(1000).fill(KB))).toBeCloseTo(1002.5, 1);
    // The published single-result example (10 KB returned): 3.19 RU.
    expect(queryPageCharge([10_012])).toBeGreaterThan(3);
    expect(queryPageCharge([10_012])).toBeLessThan(4.5);
    expect(queryPageCharge([8])).toBeLessThan(2.52); // a COUNT's one number is not a point read
  });
});
