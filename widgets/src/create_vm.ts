import type { RenderProps } from '@anywidget/types';

import { APIError, requestAPI } from './api';
import { makeCreateForm } from './create_vm_fields';
import { uploadWithBar } from './create_vm_hosts';
import {
  Checked, CreateOptions, CreateVMModel, Field, FIELDS, LABELS, NAME_RE, newCreateModel, OS,
  SIZE_FIELDS, VMInfo
} from './create_vm_model';
import { fillFromAnswer } from './create_vm_fill';
import { el, elapsed, errorField, errorLine, LocalModel } from './vm_common';

export type { CreateOptions, CreateVMModel, VMInfo } from './create_vm_model';

/**
 * The create-VM form (`kernelswitch.widgets.CreateVM`): every change is checked
 * by the server (`POST vmspec`, which creates nothing), so each field shows the
 * server's own message beside it while the user types; the OS libosinfo
 * identifies fills the OS line and the sizes its recommendations (capped by
 * the host), until the user types a size of their own. The elements are
 * made in create_vm_fields.ts; here the checks, the fill and the submit.
 */
export function renderCreateVM(
  { model, el: host }: RenderProps<CreateVMModel>,
  options: CreateOptions = {}
): () => void {
  const {
    root, inputs, errs, hints, isoList, osList, hostPick, shares, start, createBtn, progress, bar, formErr,
    result
  } = makeCreateForm(() => {
    // another host: its ISOs, and the OS told again unless the user chose one
    if (!dirty.has('os')) {
      inputs.os.value = '';
    }
    result.textContent = '';
    pickHost();
    schedule(0);
  }, () => {
    model.set('shares', shares.values());
    save();
    result.textContent = '';
    schedule();
  });
  const remoteAlias = (): string => hostPick.remoteAlias();
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
    if (hostPick.uri()) {
      body.uri = hostPick.uri();
    }
    const folders = shares.values();
    if (folders.length) {
      body.shares = folders;
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
    if (!body.iso && !body.name && !body.os && !body.shares) {
      showErrors(localErrors());
      shares.show([]);
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
      shares.show(answer.shares ?? []);
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
    fillFromAnswer(answer, { inputs, hints, dirty, forgetOS: () => model.set('os', '') });
    root.dataset.os = answer.os?.short_id ?? '';
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
      missing.iso = remoteAlias()
        ? `Give the installer ISO: one in ${remoteAlias()}'s pools, or a file on the server to upload there.`
        : 'Give the installer ISO: its absolute path on the server host.';
    }
    if (!body.name) {
      missing.name = 'Give the VM a name, e.g. fedora-37.';
    }
    const errors = { ...(checked?.errors ?? last?.errors ?? {}), ...localErrors(), ...missing };
    if (Object.keys(errors).length || !checked) {
      if (errors.shares && !errors.form && !FIELDS.some(f => errors[f])) {
        formErr.textContent = errors.shares; // beside each folder too
      }
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
    let ticker = setInterval(tick, 500);
    try {
      const there = remoteAlias();
      if (there && !checked.in_pool && body.iso) {
        // a server file: into the host's pool first, with a bar; then created from there
        clearInterval(ticker);
        body.iso = await uploadWithBar(String(body.iso), String(body.uri), there, progress, bar, () => alive);
        body.os = body.os ?? checked.os?.short_id;
        ticker = setInterval(tick, 500);
        tick();
      }
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
    shares.disable(state === 'creating');
    hostPick.disable(state === 'creating');
    model.set('status', state);
    save();
  };
  createBtn.addEventListener('click', () => void create());
  setState('editing');

  // the choices: ISOs already downloaded or used by a VM, and the OSes osinfo knows
  const loadISOs = async (): Promise<void> => {
    root.dataset.host = hostPick.uri();
    const options = await hostPick.isoOptions();
    if (options) {
      isoList.replaceChildren(...options);
      root.dataset.isos = String(options.length);
    }
  };
  const pickHost = (): void => {
    const there = remoteAlias();
    model.set('uri', hostPick.uri());
    save();
    shares.setRemote(there);
    inputs.iso.placeholder = there
      ? `an ISO in ${there}'s pools, or a server file (uploaded)`
      : LABELS.iso[1];
    hints.iso.textContent = there ? `The VM is made on ${there}; its disk goes in that host's pool.` : '';
    void loadISOs();
  };
  const loadChoices = async (): Promise<void> => {
    await hostPick.load(String(model.get('uri') ?? ''));
    if (!alive) {
      return;
    }
    if (hostPick.uri()) {
      pickHost();
    } else {
      await loadISOs();
    }
    try {
      const oses = await requestAPI<{ oses: OS[] }>('osinfo/oses');
      osList.replaceChildren(
        ...oses.oses.map(o => Object.assign(el('option', '', o.name), { value: o.short_id }))
      );
    } catch {
      // the server names a wrong id, with suggestions
    }
  };
  (model.get('shares') ?? []).forEach(folder => shares.addFolder(folder));
  void loadChoices().then(() => {
    if (request().iso || request().name) {
      schedule(0);
    }
  });

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
  const model = new LocalModel<CreateVMModel>(newCreateModel());
  const cleanup = renderCreateVM({ model, el: host } as unknown as RenderProps<CreateVMModel>, options);
  return () => {
    cleanup();
    model.off();
    host.replaceChildren();
  };
}
