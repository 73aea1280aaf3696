import type { Command } from 'commander';
import { formatDiagnostic } from '../../config/diagnostics';
import { validateFolder } from '../../config/factory';
import type { CliIO } from './common';
import { addExamples } from './common';

/**
 * `retrain validate --config DIR`: every linked service, pipeline, trigger and dataset of the ADF folder, checked
 * without any remote call (Key Vault secrets are checked for shape, not read). Lists every error and warning with
 * file and JSON path; exit code 1 when there is any error.
 */
export function registerValidateCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('validate')
      .description('check an ADF folder (linkedService/, pipeline/, trigger/, dataset/) without calling any service')
      .option('-c, --config <dir>', 'ADF folder', process.env.ML_CONFIG_DIR ?? './adf')
      .option('--json', 'print the findings as JSON')
      .option('--quiet', 'print errors only'),
    ['retrain validate --config ./adf', 'retrain validate --config ./adf --json'],
  ).action(async (opts: { config: string; json?: boolean; quiet?: boolean }) => {
    const v = await validateFolder(opts.config);
    const errors = v.diagnostics.filter((d) => d.severity === 'error');
    const warnings = v.diagnostics.filter((d) => d.severity === 'warning');
    if (opts.json) {
      io.out(
        JSON.stringify(
          {
            valid: errors.length === 0,
            errors,
            warnings,
            linkedServices: [...v.linkedServices.values()].map((l) => ({ name: l.name, kind: l.kind, file: l.file })),
            pipelines: [...v.pipelines.values()].map((p) => ({
              name: p.name,
              file: p.file,
              activities: p.activities.length,
            })),
            triggers: v.triggers.map((t) => ({
              name: t.triggerName,
              pipelines: t.pipelines.map((p) => p.pipelineName),
              unmapped: t.unmapped,
            })),
          },
          null,
          2,
        ),
      );
    } else {
      for (const d of errors) io.err(`ERROR ${formatDiagnostic(d)}`);
      if (!opts.quiet) for (const d of warnings) io.err(`WARN  ${formatDiagnostic(d)}`);
      io.out(
        `${errors.length ? 'invalid' : 'valid'}: ${errors.length} error(s), ${warnings.length} warning(s); ` +
          `${v.linkedServices.size} linked service(s), ${v.pipelines.size} valid pipeline(s), ${v.triggers.length} trigger(s) in ${opts.config}`,
      );
    }
    if (errors.length) process.exitCode = 1;
  });
}
