// Drives a running keyward host with the official shield-js client (@openfort/shield-js 0.1.37),
// installed by the test into a temporary prefix (SHIELD_JS_PREFIX); never vendored here.
// Environment (set by tests/tests/shield.rs): KEYWARD_URL, SHIELD_API_KEY, SHIELD_API_SECRET,
// SHIELD_PART, SHIELD_SESSIONS (comma-separated single-use session ids), SHIELD_TOKEN_A,
// SHIELD_TOKEN_PRE (tokens of a CUSTOM PEM provider for users "js-a" and "js-pre").
// Prints one JSON line per step and a final summary line {"ok":true,"steps":[...]}.
import { apiKey, assert, baseURL, customUser, done, env, expectError as expectErrorWhere, fail, isA, projectAuth, shield, step } from './shield-common.mjs';

const { ShieldSDK, EncryptionPartMissingError, NoSecretFoundError, SecretAlreadyExistsError } = shield;
const part = env('SHIELD_PART');
const sessions = env('SHIELD_SESSIONS').split(',');
const sdk = new ShieldSDK({ apiKey, baseURL, defaultHeaders: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });

const userA = customUser(env('SHIELD_TOKEN_A'));
const withPart = { ...userA, encryptionPart: part };
const withSession = (i) => ({ ...userA, encryptionSession: sessions[i] });
const expectError = (cls, fn) => expectErrorWhere(isA(cls), fn);
const userShare = (secret) => ({
  secret,
  entropy: 'user',
  encryptionParameters: { salt: 'salt', iterations: 1000, length: 32, digest: 'SHA-256' },
});

try {
  await step('keychain-empty', async () => {
    const shares = await sdk.keychain(userA);
    assert(Array.isArray(shares) && shares.length === 0, 'empty keychain is []');
  });
  await step('get-none', () => expectError(NoSecretFoundError, () => sdk.getSecret(userA)));
  await step('store-user', () => sdk.storeSecret(userShare('js-user-secret'), userA));
  await step('store-duplicate', () => expectError(SecretAlreadyExistsError, () => sdk.storeSecret(userShare('x'), userA)));
  await step('get-user', async () => {
    const s = await sdk.getSecret(userA);
    assert(s.secret === 'js-user-secret' && s.entropy === 'user', 'user share');
    assert(s.encryptionParameters.iterations === 1000 && s.encryptionParameters.salt === 'salt', 'params');
    assert(typeof s.keychainId === 'string' && s.keychainId.length > 0, 'keychain id');
  });
  await step('store-project-part', () => sdk.storeSecret({ secret: 'js-p1', entropy: 'project', reference: 'js-p1' }, withPart));
  await step('store-project-session', () => sdk.storeSecret({ secret: 'js-p2', entropy: 'project', reference: 'js-p2' }, withSession(0)));
  await step('get-by-reference-no-part', () => expectError(EncryptionPartMissingError, () => sdk.getSecretByReference(userA, 'js-p1')));
  await step('get-by-reference-part', async () => {
    const s = await sdk.getSecretByReference(withPart, 'js-p1');
    assert(s.secret === 'js-p1' && s.entropy === 'project' && s.reference === 'js-p1', 'project share by part');
  });
  await step('get-by-reference-session', async () => {
    const s = await sdk.getSecretByReference(withSession(1), 'js-p2');
    assert(s.secret === 'js-p2', 'project share by session');
  });
  await step('update', async () => {
    await sdk.updateSecret(userA, userShare('js-user-updated'));
    const s = await sdk.getSecret(userA);
    assert(s.secret === 'js-user-updated', 'updated');
  });
  await step('keychain-full', async () => {
    const shares = await sdk.keychain(withSession(2));
    assert(shares.length === 3, `3 shares, got ${shares.length}`);
    const one = await sdk.keychain(withPart, 'js-p1');
    assert(one.length === 1 && one[0].secret === 'js-p1', 'keychain by reference');
  });
  await step('store-passkey', () =>
    sdk.storeSecret({ secret: 'js-pk', entropy: 'passkey', reference: 'js-pk', passkeyReference: { passkeyId: 'cred-js', passkeyEnv: '{"name":"ignored"}' } }, userA));
  await step('bulk-by-reference', async () => {
    const m = await sdk.getEncryptionMethodsBySignerReferences(projectAuth, ['js-pk', 'js-p1', 'missing']);
    assert(m.get('js-pk') === 'passkey' && m.get('js-p1') === 'project' && !m.has('missing'), 'reference bulk');
    const d = await sdk.getEncryptionMethodsBySignerReferencesDetailed(projectAuth, ['js-pk']);
    assert(d.get('js-pk').method === 'passkey' && d.get('js-pk').details.passkeyId === 'cred-js', 'reference bulk detailed');
  });
  await step('bulk-by-owner', async () => {
    const m = await sdk.getEncryptionMethodsByOwnerId(projectAuth, ['js-a', 'nobody']);
    assert(m.get('js-a') === 'user' && !m.has('nobody'), 'owner bulk');
    const d = await sdk.getEncryptionMethodsByOwnerIdDetailed(projectAuth, ['js-a'], undefined, 'js-pk');
    assert(d.get('js-a').method === 'passkey' && d.get('js-a').details.passkeyId === 'cred-js', 'owner bulk detailed');
  });
  await step('pre-register', async () => {
    await sdk.preRegister(userShare('js-pre-secret'), { ...projectAuth, externalUserId: 'js-pre' });
    const s = await sdk.getSecret(customUser(env('SHIELD_TOKEN_PRE')));
    assert(s.secret === 'js-pre-secret', 'preregistered share readable with the user token');
  });
  await step('delete', async () => {
    await sdk.deleteSecret(userA, undefined, 'js-pk');
    await sdk.deleteSecret(userA);
    await expectError(NoSecretFoundError, () => sdk.getSecret(userA));
    await expectError(NoSecretFoundError, () => sdk.getSecretByReference(userA, 'js-pk'));
  });
  done();
} catch (e) {
  fail(e);
}
