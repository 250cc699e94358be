import test from 'ava';
import { ConfigError, configToToml, embeddedConfig, parseConfig } from '../src/service/config.js';
import { generateOperatorKey } from '../src/fleet/keys.js';

/** The [fleet] section: validated like the rest, printed back as valid TOML. */

const key = generateOperatorKey('alice', 'admin').key.publicKeyBase64;

function problems(toml: string): string {
  try {
    parseConfig(toml, 'c.toml', '/tmp');
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`expected a ConfigError for:\n${toml}`);
}

test('fleet control is off by default', (t) => {
  const c = embeddedConfig();
  t.false(c.fleet.enabled);
  t.deepEqual(c.fleet.keys, []);
  t.is(c.fleet.lead_ms, 2000);
});

test('a fleet config with keys parses; config check prints it back as TOML that parses to the same', (t) => {
  const toml = `[fleet]\nenabled = true\nid = "mass"\ndevice = "bike-7"\nbrokers = ["mqtt://leader.local:1883"]\nusername = "bike-7"\npassword_file = "/etc/jaudiosync/mqtt.pw"\n\n[[fleet.keys]]\nid = "alice"\nrole = "admin"\npublic_key = "${key}"\n\n[[fleet.keys]]\nid = "dj"\nrole = "dj"\npublic_key = "${key}"\n`;
  const c = parseConfig(toml, 'c.toml', '/tmp');
  t.is(c.fleet.keys.length, 2);
  t.is(c.fleet.keys[1]!.role, 'dj');
  const printed = configToToml(c);
  t.regex(printed, /\[\[fleet\.keys\]\]\nid = "alice"\nrole = "admin"/);
  const again = parseConfig(printed, 'printed', '/tmp');
  t.deepEqual(again.fleet, c.fleet);
  t.deepEqual({ ...again, source: '', baseDir: '' }, { ...c, source: '', baseDir: '' });
});

test('bad fleet settings are refused naming the key and what is expected', (t) => {
  t.regex(problems('[fleet]\nenabled = true\n'), /fleet\.id: fleet\.enabled = true needs fleet\.id/);
  t.regex(problems('[fleet]\nid = "a/b"\n'), /fleet\.id = "a\/b": expected "" or 1-64 letters/);
  t.regex(
    problems('[fleet]\nbrokers = ["leader:1883"]\n'),
    /fleet\.brokers\.0 = "leader:1883": expected "mqtt:\/\/HOST:PORT"/,
  );
  t.regex(
    problems('[[fleet.keys]]\nid = "x"\nrole = "admin"\npublic_key = "AAAA"\n'),
    /fleet\.keys\.0\.public_key = "AAAA": expected an Ed25519 public key/,
  );
  t.regex(
    problems('[[fleet.keys]]\nid = "x"\nrole = "boss"\npublic_key = "AAAA"\n'),
    /fleet\.keys\.0\.role = "boss": expected one of "admin", "dj", "volume"/,
  );
  t.regex(
    problems(
      `[[fleet.keys]]\nid = "x"\nrole = "dj"\npublic_key = "${key}"\n[[fleet.keys]]\nid = "x"\nrole = "admin"\npublic_key = "${key}"\n`,
    ),
    /fleet\.keys.*expected every key id once/,
  );
  t.regex(problems('[fleet]\nlead = 3\n'), /unknown key "fleet\.lead" in \[fleet\]/);
});
