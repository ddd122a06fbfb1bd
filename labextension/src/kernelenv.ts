/**
 * A notebook kernel's environment over REST: what it runs in, what a target
 * would change, and the switch itself (`kernelswitch/api/kernels/{id}/...`).
 */
import { Kernel } from '@jupyterlab/services';

import { APIError, IEnvRecord, requestAPI } from './api';

/** The env record of a kernel, with its launch mode and process. */
export interface IKernelEnv extends IEnvRecord {
  pid?: number | null;
  reason?: string;
}

/** `POST kernels/{id}/env`'s answer, the same shape on success and failure. */
export interface ISwitchAnswer {
  ok: boolean;
  env: IKernelEnv;
  previous: IKernelEnv;
  carried: string[];
  not_carried: Record<string, string>;
  error: { code: string; message: string } | null;
  timings: Record<string, number>;
}

export interface IComparison {
  target: IKernelEnv;
  mode: string;
  reason: string;
  version: { from: string | null; to: string | null; change: string; direction: string };
  missing_packages: Record<string, string>;
  provided_by_mode?: string[];
  notebook: string | null;
  unsatisfied_imports: string[];
}

/** How long the server gets to say where a kernel runs before we ask the kernel. */
const ASK_TIMEOUT_MS = 2000;

/**
 * Where the kernel runs: the server's answer, or (no answer within 2 s) the
 * kernel's own `sys.prefix`, which is then all that is known.
 */
export async function kernelEnv(kernel: Kernel.IKernelConnection): Promise<IKernelEnv | null> {
  const timeout = new Promise<null>(resolve => setTimeout(() => resolve(null), ASK_TIMEOUT_MS));
  const asked = requestAPI<{ env: IKernelEnv }>(`kernels/${kernel.id}/env`)
    .then(body => body.env)
    .catch(() => null);
  const env = await Promise.race([asked, timeout]);
  if (env) {
    return env;
  }
  const prefix = await ownPrefix(kernel);
  return prefix
    ? { kind: '?', name: prefix, prefix, executable: '', version: null, version_source: null,
        has_ipykernel: null, mode: null, error: null }
    : null;
}

async function ownPrefix(kernel: Kernel.IKernelConnection): Promise<string | null> {
  try {
    const future = kernel.requestExecute({
      code: '',
      silent: true,
      store_history: false,
      user_expressions: { prefix: "__import__('sys').prefix" }
    });
    const reply = await future.done;
    const expr = (reply.content as any).user_expressions?.prefix;
    const text: string | undefined = expr?.data?.['text/plain'];
    return text ? text.replace(/^'|'$/g, '') : null;
  } catch {
    return null;
  }
}

export function compareWith(
  kernelId: string,
  target: string,
  notebook: string | null
): Promise<IComparison> {
  const q = new URLSearchParams({ target });
  if (notebook) {
    q.set('notebook', notebook);
  }
  return requestAPI<IComparison>(`kernels/${kernelId}/compare?${q.toString()}`);
}

/** Switch; resolves with the answer whether the switch worked or not. */
export async function switchKernel(kernelId: string, target: string): Promise<ISwitchAnswer> {
  try {
    return await requestAPI<ISwitchAnswer>(`kernels/${kernelId}/env`, {
      method: 'POST',
      body: JSON.stringify({ target })
    });
  } catch (error) {
    if (error instanceof APIError && error.body && (error.body as ISwitchAnswer).env) {
      return error.body as ISwitchAnswer;
    }
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false, env: null as unknown as IKernelEnv, previous: null as unknown as IKernelEnv,
      carried: [], not_carried: {}, error: { code: 'network', message }, timings: {}
    };
  }
}

/** The comparison as short lines: what would break first, then mode, version, packages. */
export function comparisonLines(c: IComparison): string[] {
  const lines: string[] = [];
  if (c.unsatisfied_imports.length) {
    lines.push(`Breaks the notebook: cannot import ${c.unsatisfied_imports.join(', ')}`);
  }
  lines.push(`${c.mode}: ${c.reason}`);
  const v = c.version;
  const change = v.direction === 'none' ? v.change : `${v.change} ${v.direction}`;
  lines.push(`Python ${v.from ?? '?'} → ${v.to ?? '?'} (${change})`);
  const provided = new Set(c.provided_by_mode ?? []);
  const missing = Object.keys(c.missing_packages).filter(n => !provided.has(n)).sort();
  if (missing.length) {
    const shown = missing.slice(0, 8).join(', ');
    const more = missing.length > 8 ? ` and ${missing.length - 8} more` : '';
    lines.push(`Missing ${missing.length} package(s): ${shown}${more}`);
  } else {
    lines.push('No package of the current env is missing');
  }
  if (provided.size) {
    lines.push(`(${provided.size} kernel packages come from the server in overlay mode)`);
  }
  return lines;
}
