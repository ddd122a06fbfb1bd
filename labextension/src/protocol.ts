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
  /** Why this mode (for incompatible: what is missing). */
  reason?: string | null;
  /** Name told apart by its parent folder when names collide (`proj-a/.venv`). */
  label?: string;
  /** The prefix with `~` for the home folder. */
  short_path?: string;
  /** The Jupyter server's own env. */
  server?: boolean;
  /** Inside the notebook's folder or project (asked with `envs?notebook=`). */
  recommended?: boolean;
  /** What the kernel indicator says, from the server (GET kernels/{id}/env). */
  display?: string;
  /** The notebook's saved env could not be restored at start (GET kernels/{id}/env). */
  restore_error?: { code: string; path: string; message: string } | null;
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

/** The name users see: the server's label, else the env's name or its folder. */
export function envLabel(env: IEnvRecord): string {
  return env.label || env.name || env.prefix.split('/').filter(Boolean).pop() || env.prefix;
}

/** The second line of an env's row: "3.12.1 · venv · overlay · ~/proj-a/.venv". */
export function envSummary(env: IEnvRecord): string {
  return [env.version ?? 'version ?', env.kind, env.mode, env.short_path || env.prefix]
    .filter(Boolean)
    .join(' · ');
}

/** What the kernel indicator says: "Python 3.12 · proj-a/.venv". */
export function kernelTitle(env: IEnvRecord): string {
  if (env.display) {
    return env.display;
  }
  const mm = (env.version ?? '').split('.').slice(0, 2).join('.');
  return `Python ${mm || '3'} · ${envLabel(env)}`;
}

/** What a kernel would change by moving to a target (`GET kernels/{id}/compare`). */
export interface IComparison {
  target: IEnvRecord;
  mode: string;
  reason: string;
  version: { from: string | null; to: string | null; change: string; direction: string };
  missing_packages: Record<string, string>;
  /** Packages the target lacks but gets from the server in overlay mode: name -> version. */
  from_server?: Record<string, string>;
  /** The same names, for older front ends. */
  provided_by_mode?: string[];
  /** Notebook imports the target satisfies only through the server's packages (overlay). */
  imports_from_server?: string[];
  notebook: string | null;
  unsatisfied_imports: string[];
}

/** What a switch did with the user's variables. */
export interface ICarry {
  carried: string[];
  reimported: string[];
  not_carried: { name: string; reason: string }[];
}

/** `POST kernels/{id}/env`'s answer, the same shape on success and failure. */
export interface ISwitchAnswer {
  ok: boolean;
  env: IEnvRecord;
  previous?: IEnvRecord;
  carry?: ICarry;
  /** older servers */
  carried?: string[];
  not_carried?: Record<string, string>;
  error: { code: string; message: string } | null;
}

/** `POST envs/align` without confirm: what would be installed, and how. */
export interface IAlignPlan {
  target: string;
  tool: string;
  command: string[];
  command_text: string;
  installs: { import: string; distribution: string; version: string | null }[];
  unmapped: string[];
  pip_missing: boolean;
  hint?: string;
}

/** The end of a confirmed align. */
export interface IAlignResult {
  installed: ({ import: string; distribution: string; version: string | null } | string)[];
  unmapped: string[];
  returncode: number;
}
