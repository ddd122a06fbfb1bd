/**
 * What the sidebar reads and writes in the active notebook: its kernel, its
 * saved env (`metadata.kernelswitch.env`), and a notice when that saved env
 * is gone. Duck-typed, so the sidebar needs no notebook package.
 */
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { ISignal } from '@lumino/signaling';

import { IEnvRecord } from './api';
import { envLabel } from './protocol';

/** What the panel needs of a notebook panel. */
export interface INotebookLike {
  sessionContext: ISessionContext;
  context: {
    path: string;
    model: {
      setMetadata(key: string, value: unknown): void;
      getMetadata(key: string): unknown;
    };
  };
}

/** The active notebook, and a signal when it changes. */
export interface INotebookSource {
  current(): INotebookLike | null;
  changed: ISignal<unknown, unknown>;
}

type Saved = { prefix?: string; executable?: string; name?: string; version?: string | null };

/** The env saved with the notebook, if any. */
export function savedEnv(nb: INotebookLike): Saved | null {
  const meta = nb.context.model.getMetadata('kernelswitch') as { env?: Saved } | undefined;
  return meta?.env?.prefix ? meta.env : null;
}

/**
 * Write the env into the notebook model: done *before* a switch is asked
 * for, so a save right after keeps the choice (the switch's answer would
 * come too late for Ctrl+S), and put back if the switch fails.
 */
export function rememberEnv(nb: INotebookLike, env: IEnvRecord | Saved | null): void {
  if (!env) {
    nb.context.model.setMetadata('kernelswitch', undefined);
    return;
  }
  nb.context.model.setMetadata('kernelswitch', {
    env: { prefix: env.prefix, executable: env.executable, name: env.name,
           version: env.version ?? null }
  });
}

/**
 * The env saved with the notebook could not be restored when its kernel
 * started (the server says so in `restore_error`): say so in a notification
 * that stays until dismissed, naming it, and return the sentence for the
 * sidebar; null when the saved env is where the kernel runs.
 */
export function missingSavedEnv(nb: INotebookLike, current: IEnvRecord): string | null {
  const failed = current.restore_error;
  if (!failed) {
    return null;
  }
  const saved = savedEnv(nb);
  const name = saved?.name && saved.name !== failed.path ? `${saved.name} (${failed.path})`
    : failed.path;
  const why = failed.code === 'env_incompatible' ? 'can no longer run a kernel'
    : 'no longer exists';
  const text = `The environment saved with ${nb.context.path}, ${name}, ${why}; ` +
    `the kernel runs in ${envLabel(current)} instead. Pick an environment in the ` +
    'kernelswitch sidebar to keep with the notebook.';
  Notification.warning(text, { autoClose: false });
  return text;
}

const hooked = new WeakSet<object>();

/**
 * Run `before` ahead of every save of the notebook (waiting at most `limit`
 * ms): a switch made from a cell (`%pyenv switch`) or from a widget reaches
 * the notebook model only when the sidebar hears of it, and a Ctrl+S right
 * after must already write the new env.
 */
export function beforeSave(nb: INotebookLike, before: () => Promise<void>, limit = 4000): void {
  const context = nb.context as unknown as { save?: (...args: unknown[]) => Promise<void> };
  if (hooked.has(context) || typeof context.save !== 'function') {
    return;
  }
  hooked.add(context);
  const save = context.save.bind(context);
  context.save = async (...args: unknown[]) => {
    const cap = new Promise(resolve => setTimeout(resolve, limit));
    await Promise.race([before().catch(() => undefined), cap]);
    return save(...args);
  };
}
