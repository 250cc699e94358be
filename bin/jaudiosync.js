#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm's prepare step builds it: `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  process.stderr.write(
    `jaudiosync needs Node.js 20 or newer (this is ${process.version}); see README "Node.js 20 on Bookworm".\n`,
  );
  process.exit(1);
}
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('jaudiosync is not built yet: run "npm install" (or "npm run build") in its folder.\n');
  process.exit(1);
}
const { main: run } = await import(main.href);
// Exit explicitly: audify never releases its frame-callback thread-safe function, which would keep
// the process alive after the stream is closed.
process.exit(await run(process.argv));
