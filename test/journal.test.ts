import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Journal, type DeployRecord } from '../src/deploy/journal.ts';
import { tempDir } from './fixtures/harness.ts';

const record = (id: string, createdAt: string): DeployRecord => ({
  id,
  kind: 'deploy',
  service: 'web',
  state: 'running',
  image: 'web:v2',
  settings: {},
  generation: 1,
  createdAt,
  updatedAt: createdAt,
  old: [{ id: 'c1', name: 'web-1', image: 'web:v1' }],
  new: [],
  steps: [],
});

t.test('records are written atomically, read back and listed oldest first', async (t) => {
  const dir = tempDir(t);
  const j = new Journal(dir);
  j.write(record('d-2', '2026-01-02T00:00:00Z'));
  j.write(record('d-1', '2026-01-01T00:00:00Z'));
  const r = j.read('d-1')!;
  t.equal(r.service, 'web');
  r.steps.push({ n: 1, at: 'x', action: 'create', containers: ['web-g1-a'], status: 'started' });
  j.write(r);
  t.equal(j.read('d-1')!.steps.length, 1, 'a rewrite replaces the record');
  t.same(j.list().map((x) => x.id), ['d-1', 'd-2']);
  t.same(readdirSync(join(dir, 'deploys')).sort(), ['d-1.json', 'd-2.json'], 'no temp files left');
  t.equal(statSync(join(dir, 'deploys', 'd-1.json')).mode & 0o777, 0o600, 'records are private');
});

t.test('a torn or foreign file never breaks the journal', async (t) => {
  const dir = tempDir(t);
  const j = new Journal(dir);
  j.write(record('d-ok', '2026-01-01T00:00:00Z'));
  writeFileSync(join(dir, 'deploys', 'd-torn.json'), '{"id": "d-torn", "sta');
  writeFileSync(join(dir, 'deploys', 'd-x.json.123.tmp'), '{}');
  t.same(j.list().map((x) => x.id), ['d-ok']);
  t.equal(j.read('d-torn'), null);
  t.equal(j.read('../../etc/passwd'), null, 'ids are not paths');
});
