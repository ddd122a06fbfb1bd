/**
 * REST calls from widget front ends.
 *
 * A widget has no ServerConnection: it reads the page's Jupyter config for the
 * base URL and token, and the `_xsrf` cookie, the way ServerConnection does.
 */

/** A Python environment as `GET kernelswitch/api/envs` reports it. */
export interface EnvRecord {
  kind: string;
  name: string;
  prefix: string;
  executable: string;
  version: string | null;
  version_source: string | null;
  has_ipykernel: boolean | null;
  mode: string | null;
  error: string | null;
}

export interface EnvList {
  envs: EnvRecord[];
  partial: boolean;
}

export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
    this.name = 'APIError';
  }
}

interface PageConfig {
  baseUrl: string;
  token: string;
}

function pageConfig(): PageConfig {
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
    throw new APIError(0, 'network', `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new APIError(
      response.status,
      err?.code ?? `http_${response.status}`,
      err?.message ?? `${response.status} ${response.statusText}`.trim()
    );
  }
  return body as T;
}
