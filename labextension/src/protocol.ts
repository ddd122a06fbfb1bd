/**
 * The REST protocol shared by the sidebar and the notebook widgets: record
 * types, the error type, and reading a response. No JupyterLab imports, so
 * the widget bundle (which has no ServerConnection) can use it too.
 */

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
  /** True when discovery stopped early (its time budget ran out). */
  partial: boolean;
}

/** A failed kernelswitch call, carrying the server's `{"error": {code, message}}`. */
export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The whole JSON body of the error answer (a failed switch says where the kernel runs). */
    readonly body: unknown = null
  ) {
    super(message);
    this.name = 'APIError';
  }
}

/** The error for a request that never reached the server. */
export function networkError(error: unknown): APIError {
  return new APIError(0, 'network', `cannot reach the Jupyter server: ${String(error)}`);
}

/** The JSON body of *response*, or an APIError with the server's own message. */
export async function readJSON<T>(response: Response): Promise<T> {
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
      err?.message ?? `${response.status} ${response.statusText}`.trim(),
      body
    );
  }
  return body as T;
}

/** One line about an env, as the sidebar and the picker show it: "venv · Python 3.11.7 · native". */
export function envSummary(env: IEnvRecord): string {
  const parts = [env.kind, env.version ? `Python ${env.version}` : 'version unknown'];
  if (env.mode) {
    parts.push(env.mode);
  }
  return parts.join(' · ');
}
