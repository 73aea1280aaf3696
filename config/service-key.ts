/**
 * A scoring service's identity across runs, pipelines and linked services: the host and path of its
 * `updateResourceEndpoint` (a classic endpoint `…/workspaces/{ws}/webservices/{id}/endpoints/{name}` or an ARM
 * resource id `…/providers/Microsoft.MachineLearning/webServices/{name}`), lower-cased, without query or trailing
 * slash. Two linked services that name one service share its key, and so its one writer.
 */
export function serviceKeyOf(updateResourceEndpoint: string): string {
  const u = new URL(updateResourceEndpoint);
  return `${u.host}${u.pathname}`.replace(/\/+$/, '').toLowerCase();
}
