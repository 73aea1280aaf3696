import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startEmulator } from './emulator';
import { parseFaultRules } from './faults';
import type { EmulatorHandle, EmulatorOptions } from './types';

function int(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer.`);
    return n;
  };
}

export interface CliOptions {
  port?: number;
  writeConfig?: string;
  state?: string;
  azurite?: string;
  azuriteFile?: string;
  jobMs?: number;
  statusCodes?: 'string' | 'integer';
  activationDelayMs?: number;
  provisioningMs?: number;
  seed?: number;
  faults?: string;
  verbose?: boolean;
}

export function buildProgram(): Command {
  return (
    new Command('emulator')
      .description(
        'ML Studio (classic) emulator: BES, classic management, ARM web services and Entra over Azurite, on 127.0.0.1.',
      )
      .option('--port <n>', 'HTTPS port for all emulated APIs (0 = any free port)', int('--port'))
      .option('--write-config <dir>', 'write <dir>/linkedService/*.json (ADF v2) and <dir>/emulator.env')
      .option('--state <dir>', 'persist jobs, endpoints, web services, keys and blobs here across restarts')
      .option(
        '--azurite-file <file>',
        `attach to a running Azurite: a file holding its connection string (or set ${AZURITE_ENV})`,
      )
      // Kept only to refuse it with a reason: a connection string on the command line shows its key in `ps`.
      .addOption(new Option('--azurite <connectionString>').hideHelp())
      .option('--job-ms <n>', 'how long a started BES job runs', int('--job-ms'))
      .addOption(new Option('--status-codes <format>', 'BES StatusCode format').choices(['string', 'integer']))
      .option(
        '--activation-delay-ms <n>',
        'delay before a PATCHed classic model serves calls',
        int('--activation-delay-ms'),
      )
      .option('--provisioning-ms <n>', 'how long an ARM PUT/PATCH stays Provisioning', int('--provisioning-ms'))
      .option('--seed <n>', 'seed for fault dice and generated ids', int('--seed'))
      .option('--faults <file>', 'JSON file with an array of fault rules')
      .option('--verbose', 'log every request to stderr (secrets masked)')
  );
}

/** Where `retrain emulator` reads the connection string of an Azurite to attach to, besides --azurite-file. */
export const AZURITE_ENV = 'ML_EMULATOR_AZURITE_CONNECTION_STRING';

/** The Azurite to attach to: from --azurite-file or the environment, never from argv. */
async function azuriteConnectionString(cli: CliOptions): Promise<string | undefined> {
  if (cli.azurite !== undefined) {
    throw new Error(
      `--azurite no longer takes a connection string: on the command line its account key is visible to every ` +
        `user (ps, /proc). Put it in a file readable only by you and pass --azurite-file FILE, or set ${AZURITE_ENV}.`,
    );
  }
  if (cli.azuriteFile) {
    const text = (await readFile(cli.azuriteFile, 'utf8')).trim();
    if (!text) throw new Error(`--azurite-file ${cli.azuriteFile} is empty; it should hold the connection string`);
    return text;
  }
  return process.env[AZURITE_ENV] || undefined;
}

export async function optionsFrom(cli: CliOptions): Promise<EmulatorOptions> {
  const azurite = await azuriteConnectionString(cli);
  const o: EmulatorOptions = {
    port: cli.port,
    stateDir: cli.state ? resolve(cli.state) : undefined,
    azurite: azurite ? { connectionString: azurite } : undefined,
    seed: cli.seed,
    verbose: cli.verbose,
    jobs: { runningMs: cli.jobMs, statusCodeFormat: cli.statusCodes },
    classic: { activationDelayMs: cli.activationDelayMs },
    arm: { provisioningMs: cli.provisioningMs },
  };
  if (cli.faults) o.faults = parseFaultRules(JSON.parse(await readFile(cli.faults, 'utf8')) as unknown);
  return o;
}

/** What the CLI prints: where everything is, never a key or secret. */
export function describeEndpoints(h: EmulatorHandle, written: string[]): string {
  const lines = [
    `ML Studio (classic) emulator listening on ${h.url}`,
    '',
    'Endpoints:',
    `  BES training (classic shape)   ${h.urls.trainingBes}/jobs?api-version=2.0`,
    `  BES training (ARM shape)       ${h.urls.trainingBesArmShape}/jobs?api-version=2.0`,
    `  BES classic scoring (retrain)  ${h.urls.classicRetrainBes}/jobs?api-version=2.0`,
    `  BES ARM scoring                ${h.urls.armBes}/jobs?api-version=2.0`,
    `  Classic update resource        ${h.urls.classicUpdateResource}`,
    `  Classic score (RRS)            ${h.urls.classicScore}`,
    `  ARM update resource            ${h.urls.armUpdateResource}`,
    `  ARM score (RRS)                ${h.urls.armScore}`,
    `  Entra authority host           ${h.urls.authorityHost}  (tenant ${h.identity.tenant} or ${h.ids.tenantId})`,
    `  Azurite blob endpoint          ${h.urls.blobEndpoint}`,
    `  Admin                          ${h.url}/_emulator/{health,inspect,faults,job-faults}`,
    '',
    `Service principal client id: ${h.identity.clientId}; subscription ${h.identity.subscriptionId}; resource group ${h.identity.resourceGroup}`,
  ];
  if (written.length) lines.push('', 'Wrote:', ...written.map((f) => `  ${f}`));
  lines.push('', 'Environment for clients (keys and secrets are only in the linked-service files):');
  for (const [k, v] of Object.entries(h.env)) lines.push(`  ${k}=${v}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Run until SIGINT/SIGTERM. `signals` is injectable so tests can stop it without signalling the test process.
 */
export async function main(argv: string[], signals: NodeJS.EventEmitter = process): Promise<number> {
  const program = buildProgram();
  program.parse(argv, { from: 'user' });
  const options = await optionsFrom(program.opts<CliOptions>());
  const handle = await startEmulator(options);
  const written: string[] = [];
  const dir = program.opts<CliOptions>().writeConfig;
  if (dir) {
    await handle.writeConfig(resolve(dir));
    written.push(...Object.keys(handle.linkedServices).map((n) => resolve(dir, 'linkedService', `${n}.json`)));
    written.push(resolve(dir, 'emulator.env'));
  }
  // Listen before saying Ready: whoever reads Ready may signal at once, and a SIGINT that arrives before a listener
  // exists takes Node's default action (killed by the signal, no clean stop).
  const stopped = new Promise<void>((done) => {
    const stop = (): void => {
      signals.removeListener('SIGINT', stop);
      signals.removeListener('SIGTERM', stop);
      done();
    };
    signals.on('SIGINT', stop);
    signals.on('SIGTERM', stop);
  });
  process.stdout.write(describeEndpoints(handle, written));
  process.stdout.write('Ready. Press Ctrl+C to stop.\n');
  await stopped;
  process.stdout.write('Stopping...\n');
  await handle.close();
  process.stdout.write('Stopped.\n');
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
