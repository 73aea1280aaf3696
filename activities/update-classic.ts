import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { AzureMLLinkedService } from '../config/linked-services';
import { FailureType } from '../common/failures';
import type { ServiceUpdate } from '../common/models';
import type { ActivityDeps } from './deps';
import { ensureOk, send } from './http';
import type { ModelLocation } from './model';
import type { UpdateTarget } from './update-target';
import { resourceNotFound, sameBlob, stripQuery, updateContext } from './update-target';

interface ClassicResource {
  Name: string;
  Location?: { BaseLocation?: string; RelativeLocation?: string };
}

export async function updateClassic(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  input: UpdateTarget,
  loc: ModelLocation,
): Promise<ServiceUpdate> {
  const act = Context.current();
  const endpoint = ls.updateResourceEndpoint!;
  const ctx = updateContext('classic endpoint update', ls, input, 'apiKey');
  const auth = { Authorization: `Bearer ${ls.apiKey.reveal()}` };
  const modelUrl = `${loc.baseLocation}${loc.relativeLocation}`;
  const read = async (): Promise<ClassicResource[]> => {
    const res = ensureOk(
      await send(
        deps.httpClient,
        {
          method: 'GET',
          url: endpoint,
          headers: auth,
          abortSignal: act.cancellationSignal,
          timeoutMs: deps.settings.requestTimeoutMs,
        },
        ctx,
      ),
      ctx,
    );
    return (res.json() as { Resources?: ClassicResource[] } | undefined)?.Resources ?? [];
  };
  const current = (resources: ClassicResource[]) => {
    const r = resources.find((x) => x.Name === input.trainedModelName);
    if (!r)
      throw resourceNotFound(
        ls,
        input.trainedModelName,
        resources.map((x) => x.Name),
      );
    return `${r.Location?.BaseLocation ?? ''}${(r.Location?.RelativeLocation ?? '').replace(/^\/+/, '')}`;
  };
  const before = current(await read());
  // A retried update whose first PATCH landed: the service already points at this model, so send nothing.
  const alreadyApplied = input.skipIfCurrent && sameBlob(before, modelUrl);
  if (!alreadyApplied) {
    const body = {
      Resources: [
        {
          Name: input.trainedModelName,
          Location: {
            BaseLocation: loc.baseLocation,
            RelativeLocation: loc.relativeLocation,
            SasBlobToken: loc.sasToken,
          },
        },
      ],
    };
    ensureOk(
      await send(
        deps.httpClient,
        {
          method: 'PATCH',
          url: endpoint,
          headers: auth,
          body,
          abortSignal: act.cancellationSignal,
          timeoutMs: deps.settings.requestTimeoutMs,
        },
        ctx,
      ),
      ctx,
    );
  }
  const after = current(await read());
  if (!sameBlob(after, modelUrl)) {
    throw ApplicationFailure.create({
      type: FailureType.UpdateNotApplied,
      message: `classic endpoint of linked service '${ls.name}' still points at ${stripQuery(after)} after the update; will retry`,
    });
  }
  return { kind: 'classic', target: stripQuery(endpoint), modelUrl: stripQuery(after), alreadyApplied };
}
