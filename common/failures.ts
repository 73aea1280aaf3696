/**
 * Stable failure `type` strings. Operators alert on these and workflows list the non-retryable ones, so they are
 * part of the product's contract: add new ones, never rename.
 */
export const FailureType = {
  /** A linked service or workflow input is missing a field or has an unusable value. Fix the config. */
  ConfigError: 'ConfigError',
  /** 400 from BES or a management API (BES validation codes are in the message and details). */
  BadRequest: 'AzureMLBadRequest',
  /** 401: the API key, or the service principal token, was refused. */
  Unauthorized: 'AzureMLUnauthorized',
  /** 403: the service principal lacks a role on the web service. */
  Forbidden: 'AzureMLForbidden',
  /** 404: the endpoint, web service or job does not exist. */
  NotFound: 'AzureMLNotFound',
  /** 409: a conflicting operation (for example a read-only ARM web service). */
  Conflict: 'AzureMLConflict',
  /** Entra refused the service principal (wrong secret, client id or tenant). */
  AuthenticationFailed: 'AuthenticationFailed',
  /** 429 or 503: retried, honouring Retry-After. */
  Throttled: 'Throttled',
  /** 5xx other than 503, or an unexpected response: retried. */
  ServiceError: 'ServiceError',
  /** Connection refused/reset, DNS, TLS, timeout: retried. */
  NetworkError: 'NetworkError',
  /** The BES job ended Failed; the BES Details text is in the message and details. */
  BesJobFailed: 'BesJobFailed',
  /** The BES job was cancelled by someone else. */
  BesJobCancelled: 'BesJobCancelled',
  /**
   * The BES job has not ended yet: a benign, retryable answer of the training poll, whose retry policy checks again
   * after the poll interval (retries add no history events). Never the outcome of a run.
   */
  BesJobRunning: 'BesJobRunning',
  /** The trained model blob does not exist where the config says. */
  TrainedModelNotFound: 'TrainedModelNotFound',
  /** The trained model blob exists but is empty. */
  TrainedModelEmpty: 'TrainedModelEmpty',
  /** The scoring web service has no trained-model resource with the configured `trainedModelName`. */
  TrainedModelResourceNotFound: 'TrainedModelResourceNotFound',
  /** The ARM long-running update ended Failed or Canceled. */
  ArmOperationFailed: 'ArmOperationFailed',
  /** After the update, the service did not point at the new model. */
  UpdateNotApplied: 'UpdateNotApplied',
  /** A pipeline run ended Failed by ADF's leaf rule; the cause is the failed activity's own failure. */
  PipelineFailed: 'PipelineFailed',
  /** A `Fail` activity ran: its errorCode is in details, its message is the user's. */
  FailActivity: 'FailActivity',
  /** One attempt of an ADF activity exceeded its `policy.timeout`. */
  ActivityTimedOut: 'ActivityTimedOut',
  /** An ADF expression could not be evaluated (e.g. it reads the output of an activity that was skipped). */
  ExpressionError: 'ExpressionError',
  /** Key Vault refused or does not have a secret a linked service references (AzureKeyVaultSecret). */
  KeyVaultError: 'KeyVaultError',
  /** A value (activity result, SetVariable value, expression result, run result) is over Temporal's payload limit. */
  PayloadTooLarge: 'PayloadTooLarge',
  /** The training job's evaluation output cannot be read, is empty, or lacks a metric a gate names. */
  MetricsUnavailable: 'MetricsUnavailable',
  /** The quality gate rejected the model (the numbers are in the message): nothing was deployed. */
  QualityGateFailed: 'QualityGateFailed',
  /** A person rejected the model (`retrain reject`): nothing was deployed. */
  ApprovalRejected: 'ApprovalRejected',
  /** Nobody approved the model within the approval timeout: nothing was deployed. */
  ApprovalTimedOut: 'ApprovalTimedOut',
  /** The model blob was rewritten by a newer training before this run could pin it. */
  ModelSuperseded: 'ModelSuperseded',
  /** The scoring call after an update did not show the new model answering; the previous model was restored. */
  VerificationFailed: 'VerificationFailed',
  /** An all-or-nothing fan-out rolled this service back because another service's update failed. */
  FanOutRolledBack: 'FanOutRolledBack',
  /** A rollback was asked for, but the scoring service has no earlier model recorded (or not the one named). */
  NoEarlierModel: 'NoEarlierModel',
  /** A deployment request waited longer than its start timeout for a worker on the requesting run's task queue. */
  NoWorker: 'NoWorker',
} as const;

export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Failures that a retry cannot fix. Workflows put these in `nonRetryableErrorTypes` as a second line of defence. */
export const NON_RETRYABLE_FAILURES: string[] = [
  FailureType.ConfigError,
  FailureType.BadRequest,
  FailureType.Unauthorized,
  FailureType.Forbidden,
  FailureType.NotFound,
  FailureType.Conflict,
  FailureType.AuthenticationFailed,
  FailureType.BesJobFailed,
  FailureType.BesJobCancelled,
  FailureType.TrainedModelNotFound,
  FailureType.TrainedModelEmpty,
  FailureType.TrainedModelResourceNotFound,
  FailureType.ArmOperationFailed,
  FailureType.PipelineFailed,
  FailureType.FailActivity,
  FailureType.ExpressionError,
  FailureType.KeyVaultError,
  FailureType.PayloadTooLarge,
  FailureType.MetricsUnavailable,
  FailureType.QualityGateFailed,
  FailureType.ApprovalRejected,
  FailureType.ApprovalTimedOut,
  FailureType.ModelSuperseded,
  FailureType.VerificationFailed,
  FailureType.FanOutRolledBack,
  FailureType.NoEarlierModel,
];
