/**
 * JupyterLab's kernel indicator (the toolbar's kernel name and the status
 * bar) shows the kernelspec's display name, "Python 3 (ipykernel)", whatever
 * env a switch moved the kernel to. Here it says the env instead ("Python
 * 3.12 · proj-a/.venv"), and the notebook's `language_info` is the new
 * kernel's, so a saved notebook tells the truth about its Python.
 */
import { ISessionContext } from '@jupyterlab/apputils';

import { IEnvRecord, kernelTitle } from './protocol';

const titles = new WeakMap<ISessionContext, string>();

/** The class getter the instance property shadows. */
function ownGetter(ctx: ISessionContext): () => string {
  for (let proto = Object.getPrototypeOf(ctx); proto; proto = Object.getPrototypeOf(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, 'kernelDisplayName');
    if (d?.get) {
      return d.get;
    }
  }
  return () => '';
}

/**
 * Name the env in the indicator (`env` null: back to JupyterLab's own name).
 *
 * Both indicators read `sessionContext.kernelDisplayName` when the session
 * context says its kernel changed; there is no public way to rename a kernel,
 * so the instance gets its own getter and the (same) kernel is announced again.
 * Listeners see `oldValue === newValue` and the same connection.
 */
export function showEnvInIndicator(ctx: ISessionContext, env: IEnvRecord | null): void {
  const title = env && env.kind !== '?' ? kernelTitle(env) : null;
  if ((titles.get(ctx) ?? null) === title) {
    return;
  }
  if (!Object.prototype.hasOwnProperty.call(ctx, 'kernelDisplayName')) {
    const base = ownGetter(ctx);
    Object.defineProperty(ctx, 'kernelDisplayName', {
      configurable: true,
      get: () => titles.get(ctx) ?? base.call(ctx)
    });
  }
  if (title) {
    titles.set(ctx, title);
  } else {
    titles.delete(ctx);
  }
  const kernel = ctx.session?.kernel ?? null;
  const signal = (ctx as unknown as { _kernelChanged?: { emit(a: unknown): void } })
    ._kernelChanged;
  signal?.emit({ name: 'kernel', oldValue: kernel, newValue: kernel });
}

const announced = new WeakMap<ISessionContext, string>();

type Model = { setMetadata(key: string, value: unknown): void; getMetadata(key: string): unknown };

/**
 * The kernel runs in `env`: name it in the indicator and, when the env is new
 * for this notebook, keep the new kernel's `language_info` in the notebook.
 *
 * Order matters: re-announcing the kernel makes the notebook panel copy
 * `kernel.info`'s language_info, and that promise keeps the *first* reply
 * (JupyterLab resolves it once), so ours is written after, from a fresh reply.
 */
export async function announceEnv(
  ctx: ISessionContext, model: Model, env: IEnvRecord | null
): Promise<void> {
  showEnvInIndicator(ctx, env);
  if (!env || env.kind === '?' || announced.get(ctx) === env.prefix) {
    return;
  }
  announced.set(ctx, env.prefix);
  const reply = await ctx.session?.kernel?.requestKernelInfo();
  const content = reply?.content as { status?: string; language_info?: unknown } | undefined;
  if (content?.status !== 'ok' || !content.language_info) {
    return;
  }
  const now = JSON.stringify(model.getMetadata('language_info') ?? null);
  if (now !== JSON.stringify(content.language_info)) { // unchanged: the notebook stays clean
    model.setMetadata('language_info', content.language_info);
  }
}
