// Drives a project imported from upstream Shield (tests/tests/shield_import.rs) with the official
// shield-js client (@openfort/shield-js 0.1.37, installed by the test into SHIELD_JS_PREFIX), using
// the project's old API key, API secret and encryption part.
// Environment: KEYWARD_URL, SHIELD_API_KEY, SHIELD_API_SECRET, SHIELD_PART, SHIELD_TOKEN_ONE,
// SHIELD_TOKEN_TWO (tokens of the imported CUSTOM PEM provider for "imp-one" and "imp-two").
// Prints one JSON line per step and a final summary line {"ok":true,"steps":[...]}.
import { apiKey, assert, baseURL, customUser, done, env, fail, projectAuth, shield, step } from './shield-common.mjs';

const { ShieldSDK } = shield;
const part = env('SHIELD_PART');
const sdk = new ShieldSDK({ apiKey, baseURL });
const one = customUser(env('SHIELD_TOKEN_ONE'));
const two = customUser(env('SHIELD_TOKEN_TWO'));

try {
  await step('user-share', async () => {
    const s = await sdk.getSecret(one);
    assert(s.secret === 'user-share-one' && s.entropy === 'user', `user share: ${JSON.stringify(s)}`);
    assert(s.encryptionParameters.iterations === 600000 && s.encryptionParameters.salt === 'salt-1', 'user parameters');
  });
  await step('project-share-by-reference', async () => {
    const s = await sdk.getSecretByReference({ ...one, encryptionPart: part }, 'imp-project-1');
    assert(s.secret === 'project-share-one' && s.entropy === 'project', `project share: ${JSON.stringify(s)}`);
  });
  await step('passkey-share', async () => {
    const s = await sdk.getSecretByReference(one, 'imp-passkey-1');
    assert(s.secret === 'passkey-share-one' && s.entropy === 'passkey', `passkey share: ${JSON.stringify(s)}`);
  });
  await step('keychain', async () => {
    const shares = await sdk.keychain({ ...one, encryptionPart: part });
    const secrets = shares.map((s) => s.secret);
    assert(JSON.stringify(secrets) === JSON.stringify(['user-share-one', 'project-share-one', 'passkey-share-one']),
      `keychain oldest first: ${JSON.stringify(secrets)}`);
  });
  await step('project-default-share', async () => {
    const s = await sdk.getSecret({ ...two, encryptionPart: part });
    assert(s.secret === 'project-share-two' && s.entropy === 'project', `default project share: ${JSON.stringify(s)}`);
  });
  await step('old-secret-bulk', async () => {
    const m = await sdk.getEncryptionMethodsByOwnerId(projectAuth, ['imp-one', 'imp-two']);
    assert(m.get('imp-one') === 'user' && m.get('imp-two') === 'project', 'owner bulk with the old secret');
  });
  await step('old-part-stores', async () => {
    await sdk.storeSecret({ secret: 'after-import', entropy: 'project', reference: 'imp-after' }, { ...two, encryptionPart: part });
    const s = await sdk.getSecretByReference({ ...two, encryptionPart: part }, 'imp-after');
    assert(s.secret === 'after-import', 'a share stored with the old part reads back');
  });
  done();
} catch (e) {
  fail(e);
}
