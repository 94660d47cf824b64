// The pure parts of compose-aware and multi-service deploys: compose identity, names, numbers and labels
// (src/deploy/compose.ts), label removal in a clone (clone.ts), the group request's checks (group.ts), and the
// CLI's target parsing (src/cli/deploy-targets.ts). The real docker-compose runs in test/compose.test.ts.
import t from 'tap';
import type Docker from 'dockerode';
import { cloneSpec } from '../src/deploy/clone.ts';
import {
  ComposeNaming, composeIdentity, composeName, hiddenSpec, nextNumber, restoredSpec,
} from '../src/deploy/compose.ts';
import { groupDeployRequestSchema, groupProblems } from '../src/deploy/group.ts';
import { imageTargets, parseHashes, serviceList } from '../src/cli/deploy-targets.ts';

const P = 'com.docker.compose.project';
const S = 'com.docker.compose.service';
const O = 'com.docker.compose.oneoff';
const N = 'com.docker.compose.container-number';
const H = 'com.docker.compose.config-hash';
const HASH = 'a'.repeat(64);

t.test('composeIdentity', async (t) => {
  const cases: Array<[Record<string, string> | undefined, unknown, string]> = [
    [undefined, null, 'no labels'],
    [{ [P]: 'shop' }, null, 'a project without a service'],
    [{ [P]: 'shop', [S]: 'web', [O]: 'False' }, { project: 'shop', service: 'web', retired: false }, 'a service container'],
    [{ [P]: 'shop', [S]: 'web' }, { project: 'shop', service: 'web', retired: false }, 'no oneoff label (older compose)'],
    [{ [P]: 'shop', [S]: 'web', [O]: 'True' }, null, 'a docker-compose run container'],
    [{ [P]: 'shop', [S]: 'web', [O]: 'True', 'baton.compose.retired': 'shop_web_1' }, { project: 'shop', service: 'web', retired: true }, 'hidden by baton'],
  ];
  for (const [labels, want, what] of cases) t.same(composeIdentity(labels), want, what);
});

t.test('names and numbers', async (t) => {
  t.equal(composeName({ project: 'shop', service: 'web' }, 3), 'shop_web_3');
  t.equal(composeName({ project: '_-shop', service: 'web' }, 1), 'shop_web_1', "leading '-' and '_' dropped, as compose does");
  t.equal(nextNumber([]), 1, 'none: 1');
  t.equal(nextNumber([{ [N]: '1' }, { [N]: '3' }, {}, undefined, { [N]: 'x' }]), 4, 'highest + 1, junk ignored');
  const naming = new ComposeNaming({ project: 'shop', service: 'web', retired: false }, 4, HASH);
  t.same([naming.nextName(), naming.nextName()], ['shop_web_4', 'shop_web_5'], 'names in order');
  t.same(naming.labelsFor('shop_web_5'), { [O]: 'False', [N]: '5', [H]: HASH, 'baton.compose.retired': null }, 'labels match the name');
  const noHash = new ComposeNaming({ project: 'shop', service: 'web', retired: false }, 1, null);
  t.equal(noHash.labelsFor(noHash.nextName())[H], null, 'no hash given: the label is dropped');
  t.same(hiddenSpec('shop_web_1', 0), { name: 'shop_web_1_retired-g0', labels: { [O]: 'True', 'baton.compose.retired': 'shop_web_1' } });
  t.same(restoredSpec({ project: 'shop', service: 'web' }, 7), { name: 'shop_web_7', labels: { [O]: 'False', [N]: '7', 'baton.compose.retired': null } });
});

t.test('cloneSpec: a null label is removed, others set', async (t) => {
  const container = {
    Id: 'f'.repeat(64), Name: '/shop_web_1',
    Config: { Env: [], Labels: { [P]: 'shop', [H]: 'old', keep: '1' }, Image: 'app:v1' },
    HostConfig: { NetworkMode: 'bridge' }, NetworkSettings: { Networks: {} },
  } as unknown as Docker.ContainerInspectInfo;
  const spec = cloneSpec({ container, oldImage: null, image: 'app:v2', name: 'shop_web_2', labels: { [H]: null, [N]: '2' } });
  t.same(spec.create.Labels, { [P]: 'shop', keep: '1', [N]: '2' });
});

t.test('group requests', async (t) => {
  const ok = groupDeployRequestSchema.parse({ services: [{ name: 'web', image: 'app:v2' }, { name: 'worker', image: 'w:v2', configHash: HASH }] });
  t.same(groupProblems(ok), [], 'two services: fine');
  t.equal(ok.monitor, 5000, 'shared settings take the deploy defaults');
  const twice = groupDeployRequestSchema.parse({ services: [{ name: 'web', image: 'a:1' }, { name: 'web', image: 'a:2' }] });
  t.match(groupProblems(twice), [/web given more than once/]);
  const pause = groupDeployRequestSchema.parse({ services: [{ name: 'web', image: 'a:1' }], failureAction: 'pause', keepPrevious: false });
  t.match(groupProblems(pause), [/pause/, /keepPrevious/]);
  t.notOk(groupDeployRequestSchema.safeParse({ services: [] }).success, 'no services: refused');
  t.notOk(groupDeployRequestSchema.safeParse({ services: [{ name: 'web', image: 'NOT A REF' }] }).success, 'a bad image: refused');
  t.notOk(groupDeployRequestSchema.safeParse({ services: [{ name: 'web', image: 'a:1', configHash: 'xyz' }] }).success, 'a bad hash: refused');
  t.notOk(groupDeployRequestSchema.safeParse({ services: [{ name: 'web', image: 'a:1' }], image: 'a:1' }).success, 'a top-level image: refused');
});

t.test('CLI targets', async (t) => {
  t.same(serviceList('web,worker'), ['web', 'worker']);
  t.match(serviceList('web,'), /separated by commas/);
  t.match(serviceList('web,web'), /more than once/);
  t.same(imageTargets(['web', 'worker'], 'app:v2'), [{ name: 'web', image: 'app:v2' }, { name: 'worker', image: 'app:v2' }], 'one image for all');
  t.same(imageTargets(['web', 'worker'], 'worker=w:2,web=reg:5000/a/web:v2'), [{ name: 'web', image: 'reg:5000/a/web:v2' }, { name: 'worker', image: 'w:2' }], 'one each');
  t.same(imageTargets(['web'], 'app:v2', HASH), [{ name: 'web', image: 'app:v2', configHash: HASH }], 'a hash for one service');
  t.match(imageTargets(['web', 'worker'], 'app:v2', HASH), /--config-hash goes with one service/);
  t.match(imageTargets(['web', 'worker'], 'web=a:1'), /no image for worker/);
  t.match(imageTargets(['web'], 'web=a:1,db=b:1'), /db, which is not one/);
  t.match(imageTargets(['web'], 'web=a:1,web=a:2'), /web twice/);
  t.match(imageTargets(['web'], '=a:1'), /expected <service>=<ref>/);
  const hashes = parseHashes(`web ${HASH}\nworker ${'b'.repeat(64)}\nWARNING: something\n`);
  t.same([...hashes], [['web', HASH], ['worker', 'b'.repeat(64)]], 'config --hash output');
});
