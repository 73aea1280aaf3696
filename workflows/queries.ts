import { defineQuery } from '@temporalio/workflow';
import type { RunStatus } from '../common/types';

/** Defined once, used by the workflow (handler) and clients (caller). Safe to import outside a workflow. */
export const statusQuery = defineQuery<RunStatus>('status');
