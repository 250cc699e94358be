import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import { PACKAGE_DIR } from '../src/service/config.js';

/**
 * The static checks, in the test lane so that CI counts them: ESLint (with the layer rule: nothing
 * imports upward, the service never imports the twins), the TypeScript check of everything
 * including tests and benches, and the formatter.
 */

const run = promisify(execFile);

test('eslint: the whole repository is clean', async (t) => {
  const eslint = new ESLint({ cwd: PACKAGE_DIR });
  const results = await eslint.lintFiles(['.']);
  const problems = results.flatMap((r) =>
    r.messages.map(
      (m) => `${r.filePath.replace(PACKAGE_DIR + '/', '')}:${m.line}:${m.column} ${m.message} (${m.ruleId})`,
    ),
  );
  t.deepEqual(problems, []);
});

test('eslint: the layer rule refuses an upward import and the service importing the twins', async (t) => {
  const eslint = new ESLint({ cwd: PACKAGE_DIR });
  const lint = async (file: string, code: string) =>
    (await eslint.lintText(code, { filePath: join(PACKAGE_DIR, file) }))[0]!.messages.map((m) => m.message);
  t.regex(
    (await lint('src/time/probe.ts', "export { x } from '../service/config.js';\n")).join('\n'),
    /time is below service/,
  );
  t.regex(
    (await lint('src/service/probe.ts', "export { twinHardware } from '../sim/hardware-twins.js';\n")).join('\n'),
    /service is below sim/,
  );
  t.regex(
    (await lint('drivers/gps/probe.ts', "export { x } from '../../src/time/clock.js';\n")).join('\n'),
    /drivers is below src/,
  );
  t.regex((await lint('src/session/probe.ts', 'export const t = Date.now();\n')).join('\n'), /time is injected/);
  t.deepEqual(
    await lint('src/service/probe.ts', "export { hrtimeClock } from '../time/clock.js';\n"),
    [],
    'downward is fine',
  );
});

test('typescript: sources, tests and benches typecheck', async (t) => {
  const r = await run(
    process.execPath,
    [join(PACKAGE_DIR, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.test.json'],
    { cwd: PACKAGE_DIR },
  ).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
  t.false('failed' in r, r.stdout);
});

test('prettier: every source, test, bench and script is formatted (npx prettier --write . fixes it)', async (t) => {
  const bin = join(PACKAGE_DIR, 'node_modules', 'prettier', 'bin', 'prettier.cjs');
  const r = await run(process.execPath, [bin, '--list-different', '.'], { cwd: PACKAGE_DIR }).catch(
    (e: { stdout: string }) => ({ stdout: e.stdout, failed: true }),
  );
  t.false('failed' in r, `not formatted:\n${r.stdout}`);
});
