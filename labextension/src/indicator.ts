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

/** Ask the kernel for its info again and keep its `language_info` in the notebook. */
export async function refreshLanguageInfo(
  ctx: ISessionContext, model: { setMetadata(key: string, value: unknown): void }
): Promise<void> {
  const kernel = ctx.session?.kernel;
  if (!kernel) {
    return;
  }
  const reply = await kernel.requestKernelInfo();
  const content = reply?.content as { status?: string; language_info?: unknown } | undefined;
  if (content?.status === 'ok' && content.language_info) {
    model.setMetadata('language_info', content.language_info);
  }
}
