#!/usr/bin/env node
// Gives audify's period callback the instant RtAudio's audio thread took the buffer (CLOCK_MONOTONIC
// ns, the clock process.hrtime reads), and rebuilds audify. Without it the player can only stamp a
// period when the event loop gets round to the callback: the main thread's wake-up (tens of µs, more
// on a busy machine, and a different floor in every process) lands in the DAC clock. With it the DAC
// clock sees the device and RtAudio's realtime thread only.
//
// Run by npm after every install (package.json "postinstall") and by scripts/setup.sh. Idempotent:
// the patch is applied once (marker below) and audify rebuilt only when its binary was not built from
// the patched source (build/Release/jaudiosync-stamp.txt).
// A different audify version, or a build that fails (no cmake or compiler), is said and audify left as
// it was built before (its binaries put back): the player then stamps on the event loop and says so.
//
//   node scripts/audify-stamp.mjs [--check]   (--check: exit 0 if patched and built, 1 if not)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const MARKER = 'jaudiosync: callback stamp';
const ORIGINAL = `                wrap->_frameOutputTsfn.NonBlockingCall(
                    [](Napi::Env, Napi::Function callback) { callback.Call({}); });`;
const PATCHED = `                // ${MARKER}: CLOCK_MONOTONIC ns when RtAudio's thread took this buffer.
                struct timespec jasTs;
                clock_gettime(CLOCK_MONOTONIC, &jasTs);
                const double jasNs = (double)jasTs.tv_sec * 1e9 + (double)jasTs.tv_nsec;
                wrap->_frameOutputTsfn.NonBlockingCall(
                    [jasNs](Napi::Env env, Napi::Function callback)
                    { callback.Call({Napi::Number::New(env, jasNs)}); });`;

const say = (m) => process.stderr.write(`audify-stamp: ${m}\n`);

function audifyDir() {
  try {
    return dirname(createRequire(import.meta.url).resolve('audify/package.json'));
  } catch {
    return undefined;
  }
}

const dir = audifyDir();
const check = process.argv.includes('--check');
if (!dir) {
  say('audify is not installed (npm ci first)');
  process.exit(check ? 1 : 0);
}
const src = join(dir, 'src', 'rt_audio.cpp');
const binary = join(dir, 'build', 'Release', 'audify.node');
// Written beside the binary after a build from the patched source (its hash): travels with an offline
// bundle, where file times may not.
const builtFrom = join(dir, 'build', 'Release', 'jaudiosync-stamp.txt');
let text = readFileSync(src, 'utf8');
const hash = () => createHash('sha256').update(readFileSync(src)).digest('hex');
const built = () => existsSync(binary) && existsSync(builtFrom) && readFileSync(builtFrom, 'utf8').trim() === hash();
if (check) process.exit(text.includes(MARKER) && built() ? 0 : 1);

// audify's sources have Windows line ends.
const eol = text.includes('\r\n') ? '\r\n' : '\n';
const original = ORIGINAL.replaceAll('\n', eol);
if (!text.includes(MARKER)) {
  if (!text.includes(original)) {
    say(
      `${src} is not the audify this patch knows (package.json pins 1.10.1): left as it is; the player stamps periods on the event loop`,
    );
    process.exit(0);
  }
  if (!/#include <ctime>/.test(text)) text = `#include <ctime>${eol}${text}`;
  writeFileSync(src, text.replace(original, PATCHED.replaceAll('\n', eol)));
  say("patched audify: its period callback carries the audio thread's time stamp");
}
if (built()) process.exit(0);
say('rebuilding audify with the time stamp (cmake; a minute here, a few on a Pi)');
// A failed cmake-js compile falls back to a clean rebuild, which deletes build/: keep the working
// binaries (the published audify, without the stamp) to put back.
const release = join(dir, 'build', 'Release');
const saved = mkdtempSync(join(tmpdir(), 'audify-release-'));
if (existsSync(release)) cpSync(release, saved, { recursive: true });
const putBack = (why) => {
  if (existsSync(join(saved, 'audify.node'))) {
    rmSync(release, { recursive: true, force: true });
    cpSync(saved, release, { recursive: true });
  }
  say(
    `${why}: audify is left as it was built before (the player's log says whether its periods carry the stamp); install cmake, g++ and libasound2-dev (scripts/setup.sh does) and run node scripts/audify-stamp.mjs again`,
  );
};
try {
  execFileSync('npm', ['run', '--silent', 'rebuild'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  // It must load (a binary that does not would leave the player without ALSA).
  execFileSync(process.execPath, ['-e', `require(${JSON.stringify(binary)})`], { stdio: 'ignore' });
  writeFileSync(builtFrom, `${hash()}\n`);
  say('audify rebuilt');
} catch (e) {
  putBack(`rebuilding audify failed (${e.message.split('\n')[0]})`);
} finally {
  rmSync(saved, { recursive: true, force: true });
}
