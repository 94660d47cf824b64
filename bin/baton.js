#!/usr/bin/env node
// baton's executable. The sources are TypeScript run by Node's own type stripping (Node >= 22.19; the project
// pins Node 24 through its `node` devDependency, so `npm start` / `npx baton` use it).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `baton needs Node.js >= 22.19 (this is ${process.version}); ` +
      'run it through npm (npm start / npx baton), which uses the pinned Node 24.\n',
  );
  process.exit(2);
}
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
