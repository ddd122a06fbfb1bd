import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A Python environment as `GET kernelswitch/api/envs` reports it. */
export interface IEnvRecord {
  kind: string;
  name: string;
  prefix: string;
  executable: string;
  version: string | null;
  version_source: string | null;
  has_ipykernel: boolean | null;
  /** Relative to the server: native / overlay / incompatible. */
  mode: string | null;
  error: string | null;
}

export interface IEnvList {
  envs: IEnvRecord[];
  /** True when discovery stopped early (a root was unreadable or too deep). */
  partial: boolean;
}

/** A failed kernelswitch call, carrying the server's `{"error": {code, message}}`. */
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
    throw new APIError(0, 'network', `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
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
