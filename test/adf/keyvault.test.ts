/**
 * The emulator's Key Vault get-secret call, through the real @azure/keyvault-secrets client (challenge-based auth,
 * HTTPS, a token from the emulator's Entra), and the worker's resolver on top of it.
 */
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { startEmulator } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import type { AdfConfig, LinkedService } from '../../config/linked-services';
import { Secret } from '../../config/secret';
import { FailureType } from '../../common/failures';
import { KeyVaultResolver } from '../../worker/keyvault';

describe('Key Vault on the emulator', () => {
  let emu: EmulatorHandle;
  let client: SecretClient;
  let credential: ClientSecretCredential;

  beforeAll(async () => {
    const shared = process.env.ML_TEST_AZURITE_CONNECTION_STRING;
    emu = await startEmulator({
      azurite: shared ? { connectionString: shared } : undefined,
      keyVault: { secrets: { 'api-key': 'v1-value' } },
    });
    credential = new ClientSecretCredential(emu.ids.tenantId, emu.identity.clientId, emu.keys.clientSecret, {
      authorityHost: emu.urls.authorityHost,
      disableInstanceDiscovery: true,
    });
    client = new SecretClient(emu.keyVault.url, credential, { disableChallengeResourceVerification: true });
  });

  afterAll(async () => {
    await emu?.close();
  });

  test('when a secret is read, then the SDK answers the 401 challenge with a vault token and gets the latest version', async () => {
    const before = emu.inspect().requests.length;
    const s = await client.getSecret('api-key');
    expect(s.value).toBe('v1-value');
    expect(s.name).toBe('api-key');
    const requests = emu.inspect().requests.slice(before);
    expect(requests.map((r) => `${r.route} ${r.status}`)).toEqual(
      expect.arrayContaining(['keyvault.getSecret 401', 'token 200', 'keyvault.getSecret 200']),
    );
  });

  test('when a new version is added, then latest follows it and an explicit version still reads the old one', async () => {
    const first = await client.getSecret('api-key');
    const v2 = emu.keyVault.setSecret('api-key', 'v2-value');
    expect((await client.getSecret('API-KEY')).value).toBe('v2-value');
    expect((await client.getSecret('api-key', { version: first.properties.version })).value).toBe('v1-value');
    expect((await client.getSecret('api-key', { version: v2 })).properties.version).toBe(v2);
  });

  test('when a secret does not exist, then the vault answers 404 SecretNotFound', async () => {
    await expect(client.getSecret('nope')).rejects.toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
  });

  test('when the worker resolves linked-service secrets, then values land in the Secrets and a missing one fails with KeyVaultError', async () => {
    const found = new Secret({ store: 'Vault', secretName: 'api-key' });
    const missing = new Secret({ store: 'Vault', secretName: 'missing-key' });
    const services = new Map<string, LinkedService>([
      ['vault', { kind: 'AzureKeyVault', name: 'Vault', file: 'ls/Vault.json', baseUrl: emu.keyVault.url }],
      ['a', { kind: 'AzureML', name: 'A', file: 'ls/A.json', mlEndpoint: 'https://h/jobs', apiKey: found }],
      ['b', { kind: 'AzureML', name: 'B', file: 'ls/B.json', mlEndpoint: 'https://h/jobs', apiKey: missing }],
    ]);
    const config: AdfConfig = { dir: 'x', linkedServices: services };
    const resolver = new KeyVaultResolver(config, () => credential, 60_000);
    expect(resolver.size).toBe(2);
    await resolver.refresh();
    expect(found.reveal()).toBe('v2-value');
    let err: unknown;
    try {
      missing.reveal();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ type: FailureType.KeyVaultError, nonRetryable: true });
    expect((err as Error).message).toContain("secret 'missing-key' in Key Vault 'Vault'");
    expect((err as Error).message).toContain("referenced by linked service 'B' field 'apiKey': not found");
  });

  test("when Entra refuses the worker's Key Vault credential, then the secret fails with a final KeyVaultError naming the worker's settings", async () => {
    const secret = new Secret({ store: 'Vault', secretName: 'api-key' });
    const services = new Map<string, LinkedService>([
      ['vault', { kind: 'AzureKeyVault', name: 'Vault', file: 'ls/Vault.json', baseUrl: emu.keyVault.url }],
      ['a', { kind: 'AzureML', name: 'A', file: 'ls/A.json', mlEndpoint: 'https://h/jobs', apiKey: secret }],
    ]);
    const wrong = new ClientSecretCredential(emu.ids.tenantId, emu.identity.clientId, 'not-the-secret', {
      authorityHost: emu.urls.authorityHost,
      disableInstanceDiscovery: true,
    });
    const resolver = new KeyVaultResolver({ dir: 'x', linkedServices: services }, () => wrong, 60_000);
    await resolver.refresh();
    let err: unknown;
    try {
      secret.reveal();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ type: FailureType.KeyVaultError, nonRetryable: true });
    expect((err as Error).message).toContain("referenced by linked service 'A' field 'apiKey'");
    expect((err as Error).message).toContain('AADSTS7000215');
    expect((err as Error).message).toContain('AZURE_CLIENT_SECRET');
    expect((err as Error).message).not.toContain('not-the-secret');
  });
});
