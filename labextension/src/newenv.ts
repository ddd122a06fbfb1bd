/**
 * "New environment…": a small form under the sidebar's list (folder,
 * Python among those on the machine, packages), then `POST envs` with its
 * output streaming in (NDJSON). When it is made the caller refreshes the
 * list and selects the new env, which pre-starts its kernel for Apply.
 */
import { postRaw, requestAPI } from './api';
import { IEnvRecord, readJSON } from './protocol';
import { el } from './steps';

const P = 'ks-NewEnv';

interface IInterpreter {
  executable: string;
  version: string;
  source: string;
}

interface IChoices {
  interpreters: IInterpreter[];
  uv: boolean;
  default_version: string | null;
}

export interface INewEnvOptions {
  /** Where the form and the output go. */
  into: HTMLElement;
  /** The kernel whose env is "current" (packages, default Python). */
  kernel: string | null;
  /** The folder proposed: the notebook's, as a path of the file browser. */
  folder: string;
  made(env: IEnvRecord): void;
}

function field(label: string, control: HTMLElement): HTMLLabelElement {
  const node = el('label', `${P}-field`);
  node.append(el('span', `${P}-label`, label), control);
  return node;
}

function select(cls: string, options: [string, string][]): HTMLSelectElement {
  const node = document.createElement('select');
  node.className = `jp-mod-styled ${cls}`;
  for (const [value, text] of options) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    node.append(o);
  }
  return node;
}

/** Show the form in `o.into` (toggles it away when shown already). */
export async function openNewEnv(o: INewEnvOptions): Promise<void> {
  if (o.into.querySelector(`.${P}-form`)) {
    o.into.replaceChildren();
    return;
  }
  o.into.replaceChildren(el('p', `${P}-line`, 'Looking for Pythons…'));
  let choices: IChoices;
  try {
    choices = await requestAPI<IChoices>(
      'envs/interpreters' + (o.kernel ? `?kernel=${encodeURIComponent(o.kernel)}` : ''));
  } catch (error) {
    o.into.replaceChildren(el('p', `${P}-line ks-mod-warn`, (error as Error).message));
    return;
  }
  const form = el('form', `${P}-form`);
  const path = document.createElement('input');
  path.className = `jp-mod-styled ${P}-path`;
  path.value = o.folder ? `${o.folder}/.venv` : '.venv';
  path.setAttribute('aria-label', 'Folder of the new environment');
  const mm = (choices.default_version ?? '').split('.').slice(0, 2).join('.');
  const python = select(`${P}-python`, choices.interpreters.map(
    i => [i.executable, `${i.version} (${i.source})`]));
  const preferred = choices.interpreters.find(i => i.version.startsWith(mm + '.'));
  if (preferred) {
    python.value = preferred.executable;
  }
  const packages = select(`${P}-packages`, [
    ['none', 'Only ipykernel'], ['current', "The kernel env's packages"],
    ['file', 'From a requirements file…']
  ]);
  const reqs = document.createElement('input');
  reqs.className = `jp-mod-styled ${P}-requirements`;
  reqs.placeholder = 'requirements.txt';
  reqs.setAttribute('aria-label', 'Requirements file');
  reqs.hidden = true;
  packages.addEventListener('change', () => (reqs.hidden = packages.value !== 'file'));
  form.append(field('Folder', path), field('Python', python), field('Packages', packages), reqs);
  const tool = select(`${P}-tool`, [['venv', 'venv'], ['uv', 'uv']]);
  if (choices.uv) {
    tool.value = 'uv';
    form.append(field('Made with', tool));
  }
  const buttons = el('div', `${P}-buttons`);
  const cancel = el('button', 'jp-Button jp-mod-styled jp-mod-reject', 'Cancel');
  cancel.type = 'button';
  cancel.addEventListener('click', () => o.into.replaceChildren());
  const create = el('button', `jp-Button jp-mod-styled jp-mod-accept ${P}-create`, 'Create');
  create.type = 'submit';
  buttons.append(cancel, create);
  form.append(buttons);
  form.addEventListener('submit', e => {
    e.preventDefault();
    const body: Record<string, unknown> = {
      path: path.value.trim(), python: python.value,
      packages: packages.value === 'file' ? reqs.value.trim() : packages.value
    };
    if (choices.uv) {
      body.tool = tool.value;
    }
    if (o.kernel) {
      body.kernel = o.kernel;
    }
    void run(o, form, body);
  });
  o.into.replaceChildren(form);
  path.focus();
}

async function run(o: INewEnvOptions, form: HTMLElement, body: Record<string, unknown>
): Promise<void> {
  form.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement>(
    'input, select, button').forEach(c => (c.disabled = true));
  const status = el('p', `${P}-line ${P}-status`, 'Making the environment…');
  const out = el('pre', `${P}-output`);
  o.into.append(status, out);
  let result: { returncode: number; env: IEnvRecord | null; error?: { message: string } } | null
    = null;
  try {
    const response = await postRaw('envs', body, 'application/x-ndjson');
    if (!response.ok || !response.body) {
      await readJSON(response); // throws the server's message
    }
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      buffer += value ? decoder.decode(value, { stream: !done }) : '';
      const lines = buffer.split('\n');
      buffer = done ? '' : lines.pop() ?? '';
      for (const line of lines.filter(l => l.trim())) {
        const msg = JSON.parse(line);
        if (msg.type === 'step') {
          status.textContent = `Step ${msg.index + 1} of ${msg.count}: ` +
            (msg.index === 0 ? 'making the environment…' : 'installing packages…');
        } else if (msg.type === 'output') {
          out.textContent = (out.textContent + msg.text).slice(-6000);
          out.scrollTop = out.scrollHeight;
        } else if (msg.type === 'result') {
          result = msg;
        }
      }
      if (done) {
        break;
      }
    }
  } catch (error) {
    status.textContent = (error as Error).message;
    status.classList.add('ks-mod-warn', `${P}-failed`);
    form.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement>(
      'input, select, button').forEach(c => (c.disabled = false));
    return;
  }
  if (!result || result.returncode !== 0 || !result.env) {
    status.textContent = result?.error?.message ?? 'Making the environment failed.';
    status.classList.add('ks-mod-warn', `${P}-failed`);
    return;
  }
  const env = result.env;
  status.textContent = `Made ${env.prefix} (Python ${env.version}, ${env.mode}).`;
  status.classList.add(`${P}-done`);
  form.remove();
  const log = el('details', `${P}-log`);
  log.append(el('summary', '', 'Output'), out);
  o.into.append(log);
  o.made(env);
}
