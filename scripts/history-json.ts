import { dirname } from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

/**
 * Workflow histories as the JSON other Temporal tools write (`temporal workflow show --output json`).
 *
 * Why not `historyToJSON`/`historyFromJSON` of @temporalio/common: here they throw "type must be a Type". They load
 * protobufjs's protojson from @temporalio/common's own copy of protobufjs, while the History type comes from
 * @temporalio/proto's copy: npm installs protobufjs 8 twice, nested, because @grpc/proto-loader holds protobufjs 7 at
 * the top level, and protobufjs checks types with instanceof. So this uses the protojson of the very protobufjs
 * @temporalio/proto was built with.
 */
type Protojson = {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(
  require.resolve('protobufjs/ext/protojson', { paths: [dirname(require.resolve('@temporalio/proto'))] }),
) as Protojson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

export type History = proto.temporal.api.history.v1.IHistory;

export function historyToJson(history: History): string {
  return JSON.stringify(
    protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)),
    null,
    2,
  );
}

export function historyFromJson(json: unknown): proto.temporal.api.history.v1.History {
  // Tolerate fields a newer server may add.
  return protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as proto.temporal.api.history.v1.History;
}
