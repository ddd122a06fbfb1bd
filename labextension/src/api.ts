import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { networkError, readJSON } from './protocol';

export { APIError } from './protocol';
export type { IEnvList, IEnvRecord } from './protocol';

/**
 * Call `{base_url}kernelswitch/api/{endPoint}` and return its JSON body.
 *
 * Every front-end call goes through here, so authentication (token, XSRF)
 * and the server's JSON error message are handled in one place.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'kernelswitch', 'api', endPoint);
  // 'no-cache' (revalidate) rather than the default 'no-store', for which
  // ServerConnection appends a timestamp as a query argument that the API,
  // which checks its query arguments, refuses.
  init = { cache: 'no-cache', ...init };
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw networkError(error);
  }
  return readJSON<T>(response);
}

/**
 * POST a JSON body to `kernelswitch/api/{endPoint}` and hand back the raw
 * response, for answers read as a stream (align's NDJSON output).
 */
export function postRaw(
  endPoint: string,
  body: unknown,
  accept = 'application/json',
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<Response> {
  const url = URLExt.join(settings.baseUrl, 'kernelswitch', 'api', endPoint);
  const init: RequestInit = {
    method: 'POST',
    body: JSON.stringify(body),
    cache: 'no-cache',
    headers: { Accept: accept, 'Content-Type': 'application/json' }
  };
  return ServerConnection.makeRequest(url, init, settings).catch(error => {
    throw networkError(error);
  });
}
