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
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw networkError(error);
  }
  return readJSON<T>(response);
}
