/**
 * The offer to install ipykernel into an env that lacks it: the exact
 * command is shown in a dialog, runs only on "Install", and its output is
 * shown in `into` (VS Code's way with a Python that cannot run a kernel).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IEnvRecord, requestAPI } from './api';

function text(className: string, tag: 'p' | 'pre', content: string): HTMLElement {
  const el = document.createElement(tag);
  el.className = tag === 'p' ? `ks-EnvPanel-note ${className}` : className;
  el.textContent = content;
  return el;
}

/** True when ipykernel was installed (the list should be read again). */
export async function installIpykernel(target: string, into: HTMLElement): Promise<boolean> {
  const q = new URLSearchParams({ target });
  let command: string;
  try {
    const plan = await requestAPI<{ command: string[] }>(`envs/install-ipykernel?${q}`);
    command = plan.command.join(' ');
  } catch (error) {
    into.replaceChildren(text('ks-EnvPanel-error', 'p', String((error as Error).message)));
    return false;
  }
  const ok = await showDialog({
    title: 'Install ipykernel?',
    body: new Widget({ node: text('ks-EnvPanel-command', 'pre', command) }),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Install' })]
  });
  if (!ok.button.accept) {
    return false;
  }
  into.replaceChildren(text('ks-EnvPanel-installing', 'p', `Running: ${command}`));
  try {
    const done = await requestAPI<{ output: string; env: IEnvRecord & { reason?: string } }>(
      'envs/install-ipykernel',
      { method: 'POST', body: JSON.stringify({ target, confirm: true }) }
    );
    into.replaceChildren(
      text('ks-EnvPanel-done', 'p',
           `${done.env.name} is now ${done.env.mode}: ${done.env.reason ?? ''}`),
      text('ks-EnvPanel-output', 'pre', done.output.slice(-3000))
    );
    return true;
  } catch (error) {
    into.replaceChildren(
      text('ks-EnvPanel-warning', 'p', 'The install failed:'),
      text('ks-EnvPanel-output', 'pre', String((error as Error).message))
    );
    return false;
  }
}
