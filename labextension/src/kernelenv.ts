/**
 * A notebook kernel's environment over REST: what it runs in, what a target
 * would change, and the switch itself (`kernelswitch/api/kernels/{id}/...`).
 */
import { Kernel } from '@jupyterlab/services';

import { APIError, IEnvRecord, requestAPI } from './api';
import { IComparison, ISwitchAnswer } from './protocol';

/** The env record of a kernel, with its launch mode and process. */
export interface IKernelEnv extends IEnvRecord {
  pid?: number | null;
  switching?: boolean;
}

export type { IComparison, ISwitchAnswer };

/** How long the server gets to say where a kernel runs before we ask the kernel. */
const ASK_TIMEOUT_MS = 2000;

/**
 * Where the kernel runs: the server's answer, or (no answer within 2 s) the
 * kernel's own `sys.prefix`, which is then all that is known.
 */
export async function kernelEnv(kernel: Kernel.IKernelConnection): Promise<IKernelEnv | null> {
  const timeout = new Promise<null>(resolve => setTimeout(() => resolve(null), ASK_TIMEOUT_MS));
  const asked = requestAPI<{ env: IKernelEnv; display?: string }>(`kernels/${kernel.id}/env`)
    .then(body => ({ ...body.env, display: body.display ?? body.env.display }))
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

/** Switch (carrying the variables when asked); resolves with the answer, worked or not. */
export async function switchKernel(
  kernelId: string, target: string, carry: boolean
): Promise<ISwitchAnswer> {
  try {
    return await requestAPI<ISwitchAnswer>(`kernels/${kernelId}/env`, {
      method: 'POST',
      body: JSON.stringify({ target, carry })
    });
  } catch (error) {
    if (error instanceof APIError && error.body && (error.body as ISwitchAnswer).env) {
      return error.body as ISwitchAnswer;
    }
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, env: null as unknown as IKernelEnv, error: { code: 'network', message } };
  }
}

/**
 * Where the kernel runs once any switch under way is done (`%pyenv switch`
 * swaps when its cell ends): asked again every 300 ms while the server says
 * it is switching, for at most ~6 s; null when the server does not answer.
 */
export async function settledEnv(kernelId: string): Promise<IKernelEnv | null> {
  for (let i = 0; i < 20; i++) {
    let env: IKernelEnv;
    try {
      env = (await requestAPI<{ env: IKernelEnv }>(`kernels/${kernelId}/env`)).env;
    } catch {
      return null;
    }
    if (!env.switching) {
      return env;
    }
    await new Promise(resolve => setTimeout(resolve, 300));
  }
  return null;
}
