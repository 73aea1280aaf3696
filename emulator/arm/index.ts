import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { remove } from './delete-route';
import { operationStatus } from './operation-route';
import { get, list, listKeys } from './read-routes';
import { patch, put } from './write-routes';

// Azure Resource Manager for Microsoft.MachineLearning/webServices (docs/spec/ml-studio-classic-api.md §4): one
// function per route, each taking the emulator's context, so the routing table in server.ts names them directly.

export { ARM_API_VERSIONS, armResourceId, deepMerge, locationSegment, WEB_SERVICE_TYPE } from './resource-shape';
export { seedArmProperties } from './seed';
export { trainedModelAsset } from './trained-model';

export function createArmHandlers(emu: EmulatorContext) {
  return {
    get: (ctx: Ctx) => get(emu, ctx),
    put: (ctx: Ctx) => put(emu, ctx),
    patch: (ctx: Ctx) => patch(emu, ctx),
    remove: (ctx: Ctx) => remove(emu, ctx),
    listKeys: (ctx: Ctx) => listKeys(emu, ctx),
    list: (ctx: Ctx) => list(emu, ctx),
    operationStatus: (ctx: Ctx) => operationStatus(emu, ctx),
  };
}
