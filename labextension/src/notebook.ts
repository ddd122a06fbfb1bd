/**
 * What the sidebar reads and writes in the active notebook: its kernel, its
 * saved env (`metadata.kernelswitch.env`), and a notice when that saved env
 * is gone. Duck-typed, so the sidebar needs no notebook package.
 */
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { ISignal } from '@lumino/signaling';

import { APIError, IEnvRecord, requestAPI } from './api';
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
 * The env saved with the notebook, when it is no longer there: the kernel
 * started elsewhere (the server's env). Says so in a notification that stays
 * until dismissed, and returns the sentence for the sidebar; null when the
 * saved env is where the kernel runs or still exists.
 */
export async function missingSavedEnv(
  nb: INotebookLike, kernelId: string, current: IEnvRecord
): Promise<string | null> {
  const saved = savedEnv(nb);
  if (!saved?.prefix || saved.prefix === current.prefix) {
    return null;
  }
  const target = saved.executable || saved.prefix;
  let why: string;
  try {
    const q = new URLSearchParams({ target });
    const c = await requestAPI<{ mode: string }>(`kernels/${kernelId}/compare?${q}`);
    if (c.mode !== 'incompatible') {
      return null; // it exists and works: the kernel was moved on purpose
    }
    why = 'can no longer run a kernel';
  } catch (error) {
    if (!(error instanceof APIError) || (error.status !== 404 && error.status !== 422)) {
      return null;
    }
    why = 'no longer exists';
  }
  const name = saved.name ? `${saved.name} (${saved.prefix})` : saved.prefix;
  const text = `The environment saved with ${nb.context.path}, ${name}, ${why}; ` +
    `the kernel runs in ${envLabel(current)} instead. Pick another environment in ` +
    'the kernelswitch sidebar to keep with the notebook.';
  Notification.warning(text, { autoClose: false });
  return text;
}
