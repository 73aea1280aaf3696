import { ApplicationFailure } from '@temporalio/common';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';
import type { AdfConfig, KeyVaultLinkedService } from '../config/linked-services';
import { secretsOf } from '../config/linked-services';
import type { Secret } from '../config/secret';
import { FailureType } from '../common/failures';
import { tokenRefusal } from '../activities/http';

/** Key Vault hosts whose challenge resource is checked by the SDK; the emulator (loopback) is not one of them. */
function isLoopback(url: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/i.test(new URL(url).hostname);
}

interface Entry {
  secret: Secret;
  linkedService: string;
  field: string;
  store: KeyVaultLinkedService;
  fetchedAt: number;
}

/**
 * Resolves `AzureKeyVaultSecret` values of the linked services, as ADF does when an activity runs: in the worker
 * (never in workflow code, so no secret enters history), through @azure/keyvault-secrets with the worker's own
 * credential, cached for `ttlMs` so a secret without `secretVersion` follows rotation. A refusal is stored on the
 * secret: the activity that uses it fails with KeyVaultError, others are unaffected.
 */
export class KeyVaultResolver {
  private readonly entries: Entry[] = [];
  private readonly clients = new Map<string, SecretClient>();
  private inFlight: Promise<void> | undefined;

  constructor(
    config: AdfConfig,
    private readonly credential: () => TokenCredential,
    private readonly ttlMs: number,
  ) {
    for (const ls of config.linkedServices.values()) {
      for (const { field, secret } of secretsOf(ls)) {
        if (!secret.keyVault) continue;
        const store = config.linkedServices.get(secret.keyVault.store.toLowerCase());
        if (store?.kind !== 'AzureKeyVault') continue; // reported by config validation
        this.entries.push({ secret, linkedService: ls.name, field, store, fetchedAt: 0 });
      }
    }
  }

  get size(): number {
    return this.entries.length;
  }

  private client(store: KeyVaultLinkedService): SecretClient {
    let c = this.clients.get(store.name);
    if (!c) {
      c = new SecretClient(store.baseUrl, this.credential(), {
        // The SDK checks that the 401 challenge's resource matches *.vault.azure.net; a loopback vault (the
        // emulator) cannot match, and tokens for it never leave the machine.
        disableChallengeResourceVerification: isLoopback(store.baseUrl),
        retryOptions: { maxRetries: 2 },
      });
      this.clients.set(store.name, c);
    }
    return c;
  }

  /** Resolve every secret whose cached value is older than the TTL (concurrent callers share one refresh). */
  refresh(now = Date.now()): Promise<void> {
    const due = this.entries.filter((e) => now - e.fetchedAt >= this.ttlMs);
    if (!due.length) return Promise.resolve();
    this.inFlight ??= Promise.all(due.map((e) => this.resolve(e, now))).then(
      () => {
        this.inFlight = undefined;
      },
      () => {
        this.inFlight = undefined;
      },
    );
    return this.inFlight;
  }

  private async resolve(e: Entry, now: number): Promise<void> {
    const ref = e.secret.keyVault!;
    const where =
      `secret '${ref.secretName}'${ref.secretVersion ? ` version ${ref.secretVersion}` : ''} in Key Vault ` +
      `'${e.store.name}' (${e.store.baseUrl}), referenced by linked service '${e.linkedService}' field '${e.field}'`;
    try {
      const s = await this.client(e.store).getSecret(ref.secretName, { version: ref.secretVersion });
      if (s.value === undefined || s.value === '') throw new Error('the secret has no value');
      e.secret.resolved(s.value);
      e.fetchedAt = now;
    } catch (err) {
      // The worker's own credential refused by Entra (wrong AZURE_CLIENT_SECRET, client id or tenant): no retry fixes it.
      if (tokenRefusal(err, e.linkedService)) {
        e.secret.failed(
          ApplicationFailure.create({
            type: FailureType.KeyVaultError,
            nonRetryable: true,
            message:
              `cannot read ${where}: Entra refused the worker's Key Vault credential ` +
              `(${/AADSTS\d+/.exec((err as Error).message)?.[0] ?? (err as Error).name}): check AZURE_TENANT_ID, ` +
              `AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or the managed identity) of the worker`,
          }),
        );
        return;
      }
      const status = isRestError(err) ? err.statusCode : undefined;
      const final = status === 401 || status === 403 || status === 404 || status === 400;
      e.secret.failed(
        ApplicationFailure.create({
          type: final ? FailureType.KeyVaultError : status ? FailureType.ServiceError : FailureType.NetworkError,
          nonRetryable: final,
          message:
            `cannot read ${where}: ` +
            (status === 404
              ? 'not found'
              : status === 401 || status === 403
                ? `refused (${status}): check the worker's Key Vault credential and its access policy / RBAC`
                : ((err as Error).message ?? String(err)).split('\n')[0]),
        }),
      );
      // Not cached: the next activity tries again.
      e.fetchedAt = 0;
    }
  }
}
