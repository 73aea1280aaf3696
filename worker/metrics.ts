import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { Runtime } from '@temporalio/worker';
import type { DeployOutcome } from '../common/models';
import type { SubmitJobResult, UpdateResult } from '../common/types';

/**
 * Worker metrics on one Prometheus endpoint: the Temporal SDK's own (`temporal_*`: task latencies, slots, polls,
 * activity failures) and the product's (`ml_retrain_*`). The product's counters are recorded through the activity
 * context's metric meter, so they carry the same tags as the SDK's (namespace, task_queue, activity_type,
 * workflow_type) and go out through the same exporter.
 */

/** The product's metric names: part of the operator contract (dashboards, alerts). Add, never rename. */
export const METRICS = {
  /** BES jobs submitted. `adopted="true"`: a retried submit took over the job its crashed attempt had submitted. */
  jobsSubmitted: 'ml_retrain_bes_jobs_submitted',
  /** Scoring services pointed at a new model. `kind` classic|arm; `already_applied="true"` when nothing had to change. */
  modelUpdates: 'ml_retrain_model_updates',
  /** Activity attempts that failed, by stable `failure_type` (common/failures.ts) and `retryable`. */
  failures: 'ml_retrain_activity_failures',
  /**
   * Deployment requests answered by a scoring service's workflow, by `outcome` (Deployed, AlreadyLive, Superseded,
   * Rejected, RolledBack, Failed, Cancelled): alert on RolledBack and Failed.
   */
  deployments: 'ml_retrain_deployments',
} as const;

/**
 * ML_METRICS_ADDRESS: where the Prometheus endpoint listens, `host:port`. Off when unset, because several workers on
 * one host would fight over a fixed default port; set e.g. `127.0.0.1:9464` (or `0.0.0.0:9464` in a container).
 */
export function metricsAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.ML_METRICS_ADDRESS?.trim();
  if (!raw) return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  if (!m || Number(m[2]) > 65535) {
    throw new Error(`ML_METRICS_ADDRESS must be host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464; got '${raw}'`);
  }
  return raw;
}

/**
 * Install the Temporal runtime with the Prometheus exporter. Must run before any NativeConnection or Worker exists:
 * the runtime is created once per process and cannot be reconfigured afterwards.
 */
export function installMetricsRuntime(bindAddress: string): void {
  Runtime.install({
    telemetryOptions: {
      metrics: {
        prometheus: { bindAddress },
        // Names stay as documented above (no service_name label noise on every series).
        attachServiceName: false,
      },
    },
  });
}

function failureTags(err: unknown): { failure_type: string; retryable: string } | undefined {
  if (err instanceof CancelledFailure) return undefined;
  if (err instanceof ApplicationFailure) {
    // A benign failure is a poll saying "not done yet", not something an operator should see as a failure.
    if (err.category === ApplicationFailureCategory.BENIGN) return undefined;
    return { failure_type: err.type ?? 'ApplicationFailure', retryable: String(!err.nonRetryable) };
  }
  return { failure_type: 'UnexpectedError', retryable: 'true' };
}

/** Counts what the product did from each activity's result or failure; the activities themselves stay unaware. */
export const metricsInterceptor: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      const meter = Context.current().metricMeter;
      const type = Context.current().info.activityType;
      try {
        const result = await next(input);
        if (type === 'submitTrainingJob') {
          const r = result as SubmitJobResult;
          meter.createCounter(METRICS.jobsSubmitted, '', 'BES training jobs submitted').add(1, {
            adopted: String(!!r?.adopted),
          });
        } else if (type === 'updateScoringService' || type === 'applyModel') {
          // applyModel: the model lifecycle's update (v0.2.0); updateScoringService: runs started before it.
          const r = result as Pick<UpdateResult, 'kind' | 'alreadyApplied'>;
          meter
            .createCounter(METRICS.modelUpdates, '', 'scoring services pointed at a new model')
            .add(1, { kind: r?.kind ?? 'unknown', already_applied: String(!!r?.alreadyApplied) });
        } else if (type === 'deployModel') {
          const r = result as DeployOutcome;
          meter
            .createCounter(METRICS.deployments, '', 'deployment requests answered, by outcome')
            .add(1, { outcome: r?.outcome ?? 'unknown' });
        }
        return result;
      } catch (err) {
        const tags = failureTags(err);
        if (tags) meter.createCounter(METRICS.failures, '', 'activity attempts failed, by failure type').add(1, tags);
        throw err;
      }
    },
  },
});
