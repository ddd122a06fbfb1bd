/**
 * REST calls from widget front ends.
 *
 * A widget has no ServerConnection: it reads the page's Jupyter config for the
 * base URL and token, and the `_xsrf` cookie, the way ServerConnection does.
 */

import { networkError, readJSON } from '../../labextension/src/protocol';

export { APIError } from '../../labextension/src/protocol';
export type {
  IEnvList as EnvList,
  IEnvRecord as EnvRecord
} from '../../labextension/src/protocol';

interface PageConfig {
  baseUrl: string;
  token: string;
}

export function pageConfig(): PageConfig {
  let data: Record<string, unknown> = {};
  const el = document.getElementById('jupyter-config-data');
  if (el?.textContent) {
    try {
      data = JSON.parse(el.textContent) as Record<string, unknown>;
    } catch {
      data = {};
    }
  }
  const baseUrl = typeof data.baseUrl === 'string' && data.baseUrl ? data.baseUrl : '/';
  const token = typeof data.token === 'string' ? data.token : '';
  return { baseUrl: baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`, token };
}

function cookie(name: string): string | undefined {
  const match = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : undefined;
}

/** Call `{base_url}kernelswitch/api/{endPoint}` and return its JSON body. */
export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const { baseUrl, token } = pageConfig();
  const headers = new Headers(init.headers);
  if (token && !headers.has('Authorization')) {
    headers.set('Authorization', `token ${token}`);
  }
  const xsrf = cookie('_xsrf');
  if (xsrf) {
    headers.set('X-XSRFToken', xsrf);
  }
  if (init.body && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  let response: Response;
  try {
    response = await fetch(`${baseUrl}kernelswitch/api/${endPoint}`, {
      ...init,
      headers,
      credentials: 'same-origin',
      cache: 'no-store'
    });
  } catch (error) {
    throw networkError(error);
  }
  return readJSON<T>(response);
}

/** POST a JSON body and hand back the raw response (align's NDJSON stream). */
export async function postRaw(
  endPoint: string, body: unknown, accept = 'application/json'
): Promise<Response> {
  const { baseUrl, token } = pageConfig();
  const headers = new Headers({ Accept: accept, 'Content-Type': 'application/json' });
  if (token) {
    headers.set('Authorization', `token ${token}`);
  }
  const xsrf = cookie('_xsrf');
  if (xsrf) {
    headers.set('X-XSRFToken', xsrf);
  }
  try {
    return await fetch(`${baseUrl}kernelswitch/api/${endPoint}`, {
      method: 'POST', body: JSON.stringify(body), headers, credentials: 'same-origin',
      cache: 'no-store'
    });
  } catch (error) {
    throw networkError(error);
  }
}
