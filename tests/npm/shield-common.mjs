// What the shield-js drivers (shield-client.mjs, shield-otp.mjs, shield-import.mjs) share: the
// official client (@openfort/shield-js, installed by the test into SHIELD_JS_PREFIX; never
// vendored here), the project's credentials from the environment (KEYWARD_URL, SHIELD_API_KEY,
// SHIELD_API_SECRET), and the step log: one JSON line per step, then a summary line
// {"ok":true,"steps":[...]} (or {"ok":false,...} and exit status 1) that the tests read.
import { createRequire } from 'node:module';
import path from 'node:path';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`missing ${name}`);
  return v;
};
const require = createRequire(path.join(env('SHIELD_JS_PREFIX'), 'node_modules', 'x.js'));
export const shield = require('@openfort/shield-js');
const { ShieldAuthProvider } = shield;

export const baseURL = env('KEYWARD_URL');
export const apiKey = env('SHIELD_API_KEY');
export const apiSecret = env('SHIELD_API_SECRET');
export const projectAuth = { authProvider: ShieldAuthProvider.CUSTOM, apiKey, apiSecret };
// A user of the project's CUSTOM provider, by token.
export const customUser = (customToken) => ({ authProvider: ShieldAuthProvider.CUSTOM, customToken });

const steps = [];
export const assert = (cond, what) => {
  if (!cond) throw new Error(`assertion failed: ${what}`);
};
export async function step(name, fn) {
  await fn();
  steps.push(name);
  console.log(JSON.stringify({ step: name, ok: true }));
}
// `fn` must throw an error that `check` accepts.
export async function expectError(check, fn) {
  try {
    await fn();
  } catch (e) {
    assert(check(e), `unexpected error ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
    return;
  }
  throw new Error('an error was expected, the call succeeded');
}
export const isA = (cls) => (e) => e instanceof cls;
// The summary line of a run that passed every step.
export const done = () => console.log(JSON.stringify({ ok: true, steps }));
// The summary line of a run that failed, and exit status 1.
export const fail = (e) => {
  console.log(JSON.stringify({ ok: false, steps, error: String(e && e.stack ? e.stack : e) }));
  process.exit(1);
};
