import type { Command } from 'commander';
import { loadServiceView, renderLineage, resolveScoringService } from '../service-lineage';
import type { CliIO } from './common';
import { addExamples, CliError, withClient } from './common';

/**
 * `retrain models <linkedService>`: which model was live on a scoring service when, from the lineage its one
 * scoring-service workflow records (memo `view`, so no worker needs to run). No secrets: URLs lose their query.
 */
export function registerModelsCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('models <linkedService>')
      .description(
        'show which model was live on a scoring service when: run, BES job, model, metrics, approval, verification',
      )
      .option('-c, --config <dir>', 'ADF folder (linkedService/)', process.env.ML_CONFIG_DIR ?? './adf')
      .option('--json', "print the service's view (live models, lineage, withdrawn models) as JSON"),
    [
      'retrain models updatableScoringEndpoint2 --config ./adf',
      'retrain models classicScoringEndpoint --json | jq ".lineage[] | {liveFrom, job: .identity.jobId}"',
    ],
  ).action(async (name: string, opts: { config: string; json?: boolean }) => {
    const ref = await resolveScoringService(opts.config, name);
    const loaded = await withClient((client) => loadServiceView(client, ref.workflowId));
    if (!loaded?.view || loaded.view.lineage.length === 0) {
      throw new CliError(
        `nothing deployed to '${ref.linkedService.name}' by ml-retrain yet: ` +
          (loaded ? `workflow ${ref.workflowId} has no lineage` : `no workflow ${ref.workflowId}`),
      );
    }
    if (opts.json) io.out(JSON.stringify(loaded.view, null, 2));
    else
      for (const line of renderLineage(loaded.view, ref.linkedService.name, ref.workflowId, loaded.source))
        io.out(line);
  });
}
