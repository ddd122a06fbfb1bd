import type { RenderProps } from '@anywidget/types';

import { APIError, requestAPI } from './api';
import { isoOptions, loadISOChoices } from './iso_choice';
import { button, el, elapsed, errorField, errorLine, humanSize, LocalModel } from './vm_common';
import css from './vm_widgets.css';

/**
 * The create-VM form (`kernelswitch.widgets.CreateVM`): every change is checked
 * by the server (`POST vmspec`, which creates nothing), so each field shows the
 * server's own message beside it while the user types; the OS libosinfo
 * identifies fills the OS line and the sizes its recommendations (capped by
 * the host), until the user types a size of their own.
 */
export interface CreateVMModel {
  iso: string;
  name: string;
  os: string;
  memory: string;
  cpus: string;
  disk: string;
  start: boolean;
  status: 'editing' | 'checking' | 'creating' | 'created' | 'error';
  errors: Record<string, string>;
  created: Record<string, unknown>;
}

type Field = 'iso' | 'name' | 'os' | 'memory' | 'cpus' | 'disk';
const FIELDS: readonly Field[] = ['iso', 'os', 'name', 'memory', 'cpus', 'disk'];
const SIZE_FIELDS: readonly Field[] = ['memory', 'cpus', 'disk'];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

interface OS {
  short_id: string;
  name: string;
}
interface Checked {
  ok: boolean;
  errors: Record<string, string>;
  os: OS | null;
  identified: boolean;
  spec: { os: string; memory: number; cpus: number; disk: number } | null;
  host: { memory: number; cpus: number; disk: number | null; disk_where?: string | null } | null;
}
export interface VMInfo {
  name: string;
  state: string;
  media?: { path: string | null }[];
}

const LABELS: Record<Field, [string, string]> = {
  iso: ['Installer ISO', '/path/to/installer.iso on the server host'],
  os: ['Operating system', 'detected from the ISO; type to choose another'],
  name: ['Name', 'letters, digits, . _ - (e.g. fedora-37)'],
  memory: ['Memory', 'e.g. 2G'],
  cpus: ['vCPUs', 'e.g. 2'],
  disk: ['Disk', 'e.g. 20G']
};

export interface CreateOptions {
  /** Called with the new VM's record (the manager refreshes its list). */
  onCreated?: (vm: VMInfo) => void;
}

export function renderCreateVM(
  { model, el: host }: RenderProps<CreateVMModel>,
  options: CreateOptions = {}
): () => void {
  const root = el('div', 'ks-vmw ks-cvm');
  const style = el('style');
  style.textContent = css;
  const title = el('div', 'ks-vmw-title', 'New virtual machine');
  const form = el('div', 'ks-cvm-fields');
  const inputs = {} as Record<Field, HTMLInputElement>;
  const errs = {} as Record<Field, HTMLElement>;
  const hints = {} as Record<Field, HTMLElement>;
  const isoList = el('datalist');
  isoList.id = `ks-cvm-isos-${Math.random().toString(36).slice(2)}`;
  const osList = el('datalist');
  osList.id = `ks-cvm-oses-${Math.random().toString(36).slice(2)}`;
  for (const f of FIELDS) {
    const row = el('div', `ks-cvm-row ks-cvm-row-${f}`);
    const label = el('label', 'ks-cvm-label', LABELS[f][0]);
    const input = el('input', `ks-cvm-input ks-cvm-${f}`);
    input.id = `${isoList.id}-${f}`;
    label.htmlFor = input.id;
    input.placeholder = LABELS[f][1];
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.dataset.field = f;
    const hint = el('div', `ks-cvm-hint ks-cvm-hint-${f}`);
    const err = el('div', `ks-cvm-error ks-cvm-error-${f}`);
    err.dataset.field = f;
    err.setAttribute('role', 'alert');
    err.id = `${input.id}-error`;
    input.setAttribute('aria-describedby', `${err.id}`);
    row.append(label, input, hint, err);
    form.append(row);
    inputs[f] = input;
    errs[f] = err;
    hints[f] = hint;
  }
  inputs.iso.setAttribute('list', isoList.id);
  inputs.os.setAttribute('list', osList.id);
  inputs.cpus.inputMode = 'numeric';
  const startRow = el('label', 'ks-cvm-startRow');
  const start = el('input', 'ks-cvm-start');
  start.type = 'checkbox';
  startRow.append(start, ' Start it once it is made');
  const createBtn = button('Create', 'ks-vmw-btn ks-cvm-create', 'Make the VM (Enter)');
  const progress = el('div', 'ks-cvm-progress');
  progress.setAttribute('aria-live', 'polite');
  const formErr = el('div', 'ks-cvm-error ks-cvm-error-form');
  formErr.setAttribute('role', 'alert');
  const result = el('div', 'ks-cvm-result');
  result.setAttribute('aria-live', 'polite');
  root.append(style, title, form, isoList, osList, startRow, createBtn, progress, formErr, result);
  host.append(root);

  // What the user typed themselves; sizes they did not type follow the OS.
  const dirty = new Set<Field>();
  for (const f of FIELDS) {
    const v = String(model.get(f) ?? '');
    inputs[f].value = v;
    if (v) {
      dirty.add(f);
    }
  }
  start.checked = model.get('start') !== false;

  let alive = true;
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last: Checked | null = null;

  const save = (): void => {
    try {
      model.save_changes();
    } catch {
      // the kernel went away (a switch, a restart): the form keeps working over REST
    }
  };

  const showErrors = (errors: Record<string, string>): void => {
    for (const f of FIELDS) {
      const message = errors[f] ?? '';
      errs[f].textContent = message;
      inputs[f].setAttribute('aria-invalid', String(Boolean(message)));
      inputs[f].classList.toggle('ks-invalid', Boolean(message));
    }
    formErr.textContent = errors.form ?? '';
    model.set('errors', { ...errors });
    save();
  };

  /** The request as POST vms takes it: only what the user gave. */
  const request = (): Record<string, unknown> => {
    const body: Record<string, unknown> = {};
    const iso = inputs.iso.value.trim();
    if (iso) {
      body.iso = iso;
    }
    const name = inputs.name.value.trim();
    if (name) {
      body.name = name;
    }
    const os = inputs.os.value.trim();
    if (os && dirty.has('os')) {
      body.os = os;
    }
    for (const f of SIZE_FIELDS) {
      const v = inputs[f].value.trim();
      if (v && dirty.has(f)) {
        body[f] = v;
      }
    }
    return body;
  };

  /** Instant checks that need no server (the server says the rest). */
  const localErrors = (): Record<string, string> => {
    const out: Record<string, string> = {};
    const name = inputs.name.value.trim();
    if (name && !NAME_RE.test(name)) {
      out.name =
        `The VM name ${JSON.stringify(name)} is not valid: use only letters, digits, ` +
        "'.', '_' and '-', starting with a letter or digit (e.g. fedora-37).";
    }
    return out;
  };

  const check = async (): Promise<Checked | null> => {
    const mine = ++seq;
    const body = request();
    if (!body.iso && !body.name && !body.os) {
      showErrors(localErrors());
      hints.os.textContent = '';
      return null;
    }
    root.dataset.checking = 'true';
    try {
      const answer = await requestAPI<Checked>('vmspec', {
        method: 'POST',
        body: JSON.stringify(body)
      });
      if (mine !== seq || !alive) {
        return null;
      }
      last = answer;
      showErrors({ ...answer.errors, ...localErrors() });
      fill(answer);
      return answer;
    } catch (error) {
      if (mine === seq && alive) {
        const field = errorField(error, FIELDS) || 'form';
        showErrors({ [field]: errorLine(error) });
      }
      return null;
    } finally {
      if (mine === seq) {
        delete root.dataset.checking;
      }
    }
  };

  /** The identified OS and the prefilled sizes (fields the user did not type). */
  const fill = (answer: Checked): void => {
    if (answer.os) {
      const how = answer.identified ? 'identified from the ISO by libosinfo' : 'chosen';
      hints.os.textContent = `${answer.os.name} (${answer.os.short_id}), ${how}`;
      if (!dirty.has('os')) {
        inputs.os.value = answer.os.short_id;
        model.set('os', '');
      }
    } else {
      hints.os.textContent = '';
    }
    root.dataset.os = answer.os?.short_id ?? '';
    if (answer.spec) {
      const values: Record<string, string> = {
        memory: humanSize(answer.spec.memory),
        cpus: String(answer.spec.cpus),
        disk: humanSize(answer.spec.disk)
      };
      for (const f of SIZE_FIELDS) {
        if (!dirty.has(f)) {
          inputs[f].value = values[f];
        }
      }
      if (answer.host) {
        const h = answer.host;
        hints.memory.textContent = `recommended for the OS, at most half of the ${humanSize(
          h.memory
        )} available`;
        hints.cpus.textContent = `the host has ${h.cpus}`;
        hints.disk.textContent =
          h.disk === null
            ? 'grows as the guest writes'
            : `${humanSize(h.disk)} free in ${h.disk_where ?? 'the pool'}`;
      }
    }
  };

  const schedule = (delay = 300): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), delay);
  };

  for (const f of FIELDS) {
    inputs[f].addEventListener('input', () => {
      if (inputs[f].value.trim()) {
        dirty.add(f);
      } else {
        dirty.delete(f);
      }
      if (f === 'iso' && !dirty.has('os')) {
        inputs.os.value = '';
      }
      model.set(f, dirty.has(f) ? inputs[f].value.trim() : '');
      save();
      // the name is checked at once where the browser can, by the server right after
      if (f === 'name') {
        const local = localErrors();
        if (local.name) {
          errs.name.textContent = local.name;
          inputs.name.classList.add('ks-invalid');
        }
      }
      result.textContent = '';
      schedule(f === 'iso' ? 150 : 300);
    });
    inputs[f].addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        e.preventDefault();
        void create();
      }
    });
  }
  start.addEventListener('change', () => {
    model.set('start', start.checked);
    save();
  });

  const create = async (): Promise<void> => {
    if (root.dataset.state === 'creating') {
      return;
    }
    clearTimeout(timer);
    result.textContent = '';
    const checked = await check();
    const body = request();
    const missing: Record<string, string> = {};
    if (!body.iso) {
      missing.iso = 'Give the installer ISO: its absolute path on the server host.';
    }
    if (!body.name) {
      missing.name = 'Give the VM a name, e.g. fedora-37.';
    }
    const errors = { ...(checked?.errors ?? last?.errors ?? {}), ...localErrors(), ...missing };
    if (Object.keys(errors).length || !checked) {
      showErrors(errors);
      setState('editing');
      const first = FIELDS.find(f => errors[f]);
      if (first) {
        inputs[first].focus();
      }
      return;
    }
    body.start = start.checked;
    setState('creating');
    const since = performance.now();
    const verb = start.checked ? 'Creating and starting' : 'Creating';
    const tick = (): void => {
      progress.textContent = `${verb} ${String(body.name)}… ${elapsed(since)}`;
    };
    tick();
    const ticker = setInterval(tick, 500);
    try {
      const vm = await requestAPI<VMInfo>('vms', { method: 'POST', body: JSON.stringify(body) });
      progress.textContent = '';
      result.textContent = `Created VM ${vm.name} (${vm.state}) in ${elapsed(since)}.`;
      model.set('created', vm as unknown as Record<string, unknown>);
      setState('created');
      for (const f of ['name'] as Field[]) {
        inputs[f].value = '';
        dirty.delete(f);
        model.set(f, '');
      }
      save();
      options.onCreated?.(vm);
    } catch (error) {
      progress.textContent = '';
      const field = errorField(error, FIELDS) || 'form';
      const why = errorLine(error);
      const busy = error instanceof APIError && error.code === 'vm_busy';
      showErrors({
        [field]: busy ? why : `Nothing was created. ${why}`
      });
      setState('error');
      if (field !== 'form') {
        inputs[field as Field].focus();
      }
    } finally {
      clearInterval(ticker);
    }
  };

  const setState = (state: CreateVMModel['status']): void => {
    root.dataset.state = state;
    createBtn.disabled = state === 'creating';
    for (const f of FIELDS) {
      inputs[f].disabled = state === 'creating';
    }
    model.set('status', state);
    save();
  };
  createBtn.addEventListener('click', () => void create());
  setState('editing');

  // the choices: ISOs already downloaded or used by a VM, and the OSes osinfo knows
  const loadChoices = async (): Promise<void> => {
    const isos = await loadISOChoices();
    const options = isoOptions(isos);
    isoList.replaceChildren(...options);
    root.dataset.isos = String(options.length);
    try {
      const oses = await requestAPI<{ oses: OS[] }>('osinfo/oses');
      osList.replaceChildren(
        ...oses.oses.map(o => Object.assign(el('option', '', o.name), { value: o.short_id }))
      );
    } catch {
      // the server names a wrong id, with suggestions
    }
  };
  void loadChoices();
  if (request().iso || request().name) {
    schedule(0);
  }

  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

/**
 * The create form without a kernel (a JupyterLab tab, the manager's "New VM…"):
 * the same view a notebook cell shows, on a model kept in the page.
 */
export function mountCreateVM(host: HTMLElement, options: CreateOptions = {}): () => void {
  const model = new LocalModel<CreateVMModel>({
    iso: '', name: '', os: '', memory: '', cpus: '', disk: '', start: true,
    status: 'editing', errors: {}, created: {}
  });
  const cleanup = renderCreateVM({ model, el: host } as unknown as RenderProps<CreateVMModel>, options);
  return () => {
    cleanup();
    model.off();
    host.replaceChildren();
  };
}
