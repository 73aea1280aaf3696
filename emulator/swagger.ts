import type { RuntimeService } from './state';

/**
 * The swagger 2.0 document a classic web service published about itself at `{BES}/swagger.json?api-version=2.0`
 * (docs/spec/ml-studio-classic-api.md §2.1, BESSW: the document a live endpoint generated, covering execute, jobs, start and cancel). ARM's
 * `swaggerLocation` points here. Operation ids, paths (query string inside the path key, as BESSW writes them),
 * status codes and definition names follow BESSW; the ports are this service's.
 */
export function serviceSwagger(baseUrl: string, basePath: string, service: RuntimeService): Record<string, unknown> {
  const u = new URL(baseUrl);
  const blobRef = { $ref: '#/definitions/AzureBlobDataReference' };
  const portMap = (names: string[]) => ({
    type: 'object',
    properties: Object.fromEntries(names.map((n) => [n, blobRef])),
  });
  const json = ['application/json'];
  const jobId = { name: 'jobId', in: 'path', required: true, type: 'string', description: 'The job id.' };
  return {
    swagger: '2.0',
    info: {
      version: '2.0',
      title: service.label,
      description: `Batch execution and request-response for ${service.label}`,
    },
    host: u.host,
    basePath,
    schemes: [u.protocol.replace(':', '')],
    consumes: json,
    produces: json,
    securityDefinitions: {
      api_key: {
        type: 'apiKey',
        name: 'Authorization',
        in: 'header',
        description: 'The API key of the web service, as "Bearer <key>". For example: Bearer abc123',
      },
    },
    security: [{ api_key: [] }],
    paths: {
      '/execute?api-version=2.0&details=true': {
        post: {
          operationId: 'execute',
          summary: 'Request-response: score rows now',
          parameters: [
            { name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/ExecutionRequest' } },
          ],
          responses: { '200': { description: 'OK' }, default: { description: 'Error', schema: errorRef } },
        },
      },
      '/jobs?api-version=2.0': {
        post: {
          operationId: 'submitjob',
          summary: 'Submit (but not start) a batch execution job',
          parameters: [
            { name: 'body', in: 'body', required: true, schema: { $ref: '#/definitions/BatchExecutionRequest' } },
          ],
          responses: {
            '200': { description: 'The job id', schema: { type: 'string' } },
            default: { description: 'Error', schema: errorRef },
          },
        },
      },
      '/jobs/{jobId}/start?api-version=2.0': {
        post: {
          operationId: 'startjob',
          parameters: [jobId],
          responses: {
            '204': { description: 'The job is successfully started' },
            default: { description: 'Error', schema: errorRef },
          },
        },
      },
      '/jobs/{jobId}?api-version=2.0': {
        get: {
          operationId: 'getjobstatus',
          parameters: [jobId],
          responses: {
            '200': { description: 'The job status', schema: { $ref: '#/definitions/BatchJobStatus' } },
            default: { description: 'Error', schema: errorRef },
          },
        },
        delete: {
          operationId: 'canceljob',
          parameters: [jobId],
          responses: {
            '204': { description: 'The job is successfully cancelled' },
            default: { description: 'Error', schema: errorRef },
          },
        },
      },
    },
    definitions: {
      AzureBlobDataReference: {
        type: 'object',
        properties: {
          ConnectionString: { type: 'string', description: 'The storage connection string (for regular blobs)' },
          RelativeLocation: { type: 'string', description: 'container/path/blob' },
          BaseLocation: { type: 'string', description: 'The blob service URL (for SAS blobs)' },
          SasBlobToken: { type: 'string', description: 'The SAS token, starting with ?' },
        },
      },
      BatchExecutionRequest: {
        type: 'object',
        properties: {
          Inputs: portMap(service.inputs.map((p) => p.name)),
          Outputs: portMap(service.outputs.map((p) => p.name)),
          GlobalParameters: { type: 'object', additionalProperties: { type: 'string' } },
        },
        required: service.requiredInputs.length ? ['Inputs'] : [],
      },
      BatchJobStatus: {
        type: 'object',
        properties: {
          StatusCode: { type: 'string', enum: ['NotStarted', 'Running', 'Failed', 'Cancelled', 'Finished'] },
          Results: portMap(service.outputs.map((p) => p.name)),
          Details: { type: 'string' },
          CreatedAt: { type: 'string', format: 'date-time' },
          StartTime: { type: 'string', format: 'date-time' },
          EndTime: { type: 'string', format: 'date-time' },
        },
      },
      ExecutionRequest: {
        type: 'object',
        properties: {
          Inputs: { type: 'object' },
          GlobalParameters: { type: 'object', additionalProperties: { type: 'string' } },
        },
      },
      ErrorResponse: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              details: { type: 'array', items: { type: 'object' } },
            },
          },
        },
      },
    },
  };
}

const errorRef = { $ref: '#/definitions/ErrorResponse' };
