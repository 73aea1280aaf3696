import type { Command } from 'commander';
import type { CliIO } from './common';

const EXAMPLES = [
  'retrain emulator --write-config ./emu-config',
  'retrain emulator --port 8443 --state ./.emulator-state --job-ms 5000',
  'retrain emulator --faults faults.json --seed 7 --verbose',
];

/**
 * `retrain emulator ...` is the emulator's own CLI (emulator/cli.ts), so both spellings take the same options and
 * `npm run emulator` keeps working. Options are forwarded untouched; `--help` shows the emulator's options.
 */
export function registerEmulatorCommand(program: Command, io: CliIO): void {
  program
    .command('emulator')
    .description('run the ML Studio (classic) emulator (BES, classic management, ARM, Entra over Azurite) until Ctrl-C')
    .argument('[options...]', "the emulator's options (see retrain emulator --help)")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (args: string[]) => {
      const { buildProgram, main } = await import('../../emulator/cli');
      // `--verbose` is also retrain's own flag (stack traces), which commander takes before the emulator sees it.
      const forwarded = program.opts<{ verbose?: boolean }>().verbose ? [...args, '--verbose'] : args;
      if (forwarded.includes('--help') || forwarded.includes('-h')) {
        const help = buildProgram().name('retrain emulator').helpInformation();
        io.out(`${help}\nExamples:\n${EXAMPLES.map((e) => `  ${e}`).join('\n')}`);
        return;
      }
      process.exitCode = await main(forwarded);
    });
}
