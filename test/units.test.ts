import t from 'tap';
import { formatDuration, MAX_DURATION_MS, parseDuration, parseSize } from '../src/config/units.ts';

t.test('parseDuration reads durations to whole milliseconds', async (t) => {
  const valid: Array<[string | number, number]> = [
    ['500ms', 500],
    ['2s', 2000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1s500ms', 1500],
    ['1.5s', 1500],
    ['0.25m', 15_000],
    ['1.5ms', 2], // rounded to whole milliseconds
    ['0', 0],
    ['0s', 0],
    ['0ms', 0],
    ['500', 500], // bare digits are milliseconds
    [' 2s ', 2000], // surrounding whitespace is ignored
    ['\t30s\n', 30_000],
    [0, 0],
    [250, 250],
    [1.4, 1], // numbers are milliseconds, rounded like strings are
    [MAX_DURATION_MS, MAX_DURATION_MS],
    [`${MAX_DURATION_MS}ms`, MAX_DURATION_MS],
  ];
  for (const [input, want] of valid) t.equal(parseDuration(input), want, `${JSON.stringify(input)} → ${want}`);
});

t.test('parseDuration returns null for anything it cannot read', async (t) => {
  const invalid: Array<string | number> = [
    '',
    '   ',
    '5x',
    '5q',
    's',
    'ms',
    '-5',
    '-5s',
    '-1m30s',
    '+5s',
    '1.s',
    '.5s',
    '1e3',
    '1e3ms',
    '5 s', // no space between number and unit
    '1s 500ms', // nor between parts
    '1sms',
    '1m1', // trailing unit-less number
    '2d', // no day unit
    '1S', // units are lower case
    '1H',
    'abc',
    '0x10',
    '1,5s',
    'Infinity',
    'NaN',
    -1,
    -0.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    // longer than a Node timer can hold (it would fire after 1 ms instead)
    MAX_DURATION_MS + 1,
    `${MAX_DURATION_MS + 1}`,
    '1000h',
    '596h32m',
    1e12,
  ];
  for (const input of invalid) t.equal(parseDuration(input), null, `${JSON.stringify(String(input))} is rejected`);
});

t.test('parseDuration handles the largest value a timer can hold without overflowing', async (t) => {
  // 596h31m23.647s is exactly 2^31-1 ms
  t.equal(parseDuration('596h31m23s647ms'), MAX_DURATION_MS);
  t.equal(parseDuration('596h31m23s648ms'), null);
  t.equal(MAX_DURATION_MS, 2_147_483_647);
});

t.test('parseSize reads sizes to whole bytes', async (t) => {
  const valid: Array<[string | number, number]> = [
    ['16kb', 16 * 1024],
    ['16KB', 16 * 1024],
    ['16k', 16 * 1024],
    ['16KiB', 16 * 1024],
    ['1.5mb', 1.5 * 1024 * 1024],
    ['10mb', 10 * 1024 * 1024],
    ['10M', 10 * 1024 * 1024],
    ['2mib', 2 * 1024 * 1024],
    ['1gb', 1024 ** 3],
    ['1g', 1024 ** 3],
    ['1gib', 1024 ** 3],
    ['100b', 100],
    ['100', 100],
    ['0', 0],
    ['0kb', 0],
    ['0.5kb', 512],
    ['1 mb', 1024 * 1024], // a space before the unit is fine for sizes
    [' 64kb ', 64 * 1024],
    [0, 0],
    [4096, 4096],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ];
  for (const [input, want] of valid) t.equal(parseSize(input), want, `${JSON.stringify(input)} → ${want}`);
});

t.test('parseSize returns null for anything it cannot read', async (t) => {
  const invalid: Array<string | number> = [
    '',
    '  ',
    '5x',
    'kb',
    '-5',
    '-1kb',
    '+1kb',
    '1e3',
    '.5kb',
    '1.kb',
    '16 k b',
    '16kbs',
    '1tb',
    '0x10',
    '10 mb extra',
    -1,
    1.5, // bytes are whole
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53, // not a safe integer
  ];
  for (const input of invalid) t.equal(parseSize(input), null, `${JSON.stringify(String(input))} is rejected`);
});

t.test('formatDuration writes the largest whole unit', async (t) => {
  const table: Array<[number, string]> = [
    [0, '0ms'],
    [1, '1ms'],
    [500, '500ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1500ms'],
    [2000, '2s'],
    [30_000, '30s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [120_000, '2m'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [7_200_000, '2h'],
    [3_600_001, '3600001ms'],
  ];
  for (const [ms, want] of table) t.equal(formatDuration(ms), want, `${ms} → ${want}`);
});

t.test('formatDuration output parses back to the same number of milliseconds', async (t) => {
  const samples = [0, 1, 7, 999, 1000, 1001, 59_999, 60_000, 61_000, 90_000, 3_599_999, 3_600_000, 86_400_000, MAX_DURATION_MS];
  for (const ms of samples) t.equal(parseDuration(formatDuration(ms)), ms, `${ms} round-trips through ${formatDuration(ms)}`);
});
