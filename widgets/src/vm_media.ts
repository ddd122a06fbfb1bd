/**
 * The Disc panel: each CD/DVD drive with its disc (or empty) and tray, Eject,
 * and Insert with an ISO chooser — downloaded ISOs, ISOs next to discs in
 * use, discs in use — whose path is checked by the server as you type.
 */

import { requestAPI } from './api';
import { onEvent } from './events';
import { hostISOOptions } from './create_vm_hosts';
import { checkISO, isoOptions, loadISOChoices } from './iso_choice';
import { button, el, errorLine } from './vm_common';
import { Panel, PanelCtx, vmPath } from './vm_panel';
import { VM } from './vm_row';

export function mediaPanel(ctx: PanelCtx): Panel {
  const root = el('div', 'ks-vmm-panel ks-vmm-media');
  const drives = el('ul', 'ks-vmm-drives');
  const list = el('datalist');
  list.id = `ks-vmm-isos-${Math.random().toString(36).slice(2)}`;
  const iso = el('input', 'ks-vmm-input jp-mod-styled ks-vmm-iso');
  iso.setAttribute('list', list.id);
  iso.placeholder = '/path/to/disc.iso on the server host';
  iso.setAttribute('aria-label', 'ISO to insert');
  const target = el('select', 'ks-vmm-input jp-mod-styled ks-vmm-isoTarget');
  target.setAttribute('aria-label', 'Drive');
  const insert = button('Insert', 'ks-vmw-btn ks-vmm-insert', 'Put this ISO in the drive');
  const check = el('div', 'ks-vmm-hint ks-vmm-isoCheck');
  check.setAttribute('aria-live', 'polite');
  const row = el('div', 'ks-vmm-formRow');
  row.append(el('span', 'ks-vmm-fieldLabel', 'Insert'), iso, target, insert);
  root.append(drives, row, check, list);
  const trays = new Map<string, string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let checked = '';
  let seq = 0;

  const paint = (vm: VM): void => {
    const media = vm.media ?? [];
    row.hidden = !media.length;
    drives.replaceChildren(...(media.length ? media.map(m => {
      const li = el('li', 'ks-vmm-drive');
      li.dataset.target = m.target;
      const tray = trays.get(m.target);
      li.append(el('span', 'ks-vmm-driveName', m.target),
        el('span', 'ks-vmm-disc', m.path ?? 'empty'),
        el('span', 'ks-vmm-hint', tray ? `tray ${tray}` : ''));
      const eject = button('Eject', 'ks-vmw-btn ks-vmm-eject', `Take the disc out of ${m.target}`);
      eject.disabled = !m.path;
      eject.addEventListener('click', () => void ctx.run('Ejecting the disc of', async () => {
        await requestAPI(vmPath(ctx.vm(), '/eject'), { method: 'POST', body: JSON.stringify({ target: m.target }) });
        return `Ejected the disc from ${m.target}.`;
      }, 'eject'));
      li.append(eject);
      return li;
    }) : [el('li', 'ks-vmm-empty', 'This VM has no CD/DVD drive.')]));
    const keep = target.value;
    target.replaceChildren(...media.map(m => Object.assign(el('option', '', m.target), { value: m.target })));
    if (keep) {
      target.value = keep;
    }
    target.hidden = media.length < 2;
    insert.disabled = !iso.value.trim() || checked !== iso.value.trim();
  };

  const runCheck = async (): Promise<void> => {
    const path = iso.value.trim();
    const mine = ++seq;
    checked = '';
    insert.disabled = true;
    if (!path) {
      check.textContent = '';
      return;
    }
    check.textContent = 'Checking…';
    try {
      const problem = await checkISO(path, ctx.signal, remoteUri());
      if (mine !== seq) {
        return;
      }
      check.textContent = problem || 'The hypervisor can read this ISO.';
      check.classList.toggle('ks-vmm-bad', Boolean(problem));
      checked = problem ? '' : path;
      insert.disabled = Boolean(problem);
    } catch (e) {
      if (mine === seq) {
        check.textContent = errorLine(e);
        check.classList.add('ks-vmm-bad');
      }
    }
  };
  iso.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void runCheck(), 300);
  });
  iso.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !insert.disabled) {
      insert.click();
    }
  });
  insert.addEventListener('click', () => {
    const path = iso.value.trim();
    const body: Record<string, string> = { iso: path };
    if (target.value) {
      body.target = target.value;
    }
    void ctx.run('Inserting a disc in', async () => {
      await requestAPI(vmPath(ctx.vm(), '/insert'), { method: 'POST', body: JSON.stringify(body) });
      iso.value = '';
      check.textContent = '';
      return `Inserted ${path}.`;
    }, 'insert');
  });

  function remoteUri(): string {
    const vm = ctx.vm();
    return vm.host && vm.host !== 'local' && vm.uri ? vm.uri : '';
  }

  const stopEvents = onEvent('media', msg => {
    const vm = ctx.vm();
    if (msg?.name === vm.name && (!vm.uri || !msg.uri || msg.uri === vm.uri) && msg.device) {
      // the event names the drive's alias (ua-/ide-...) or its target: keep both ways
      const t = (ctx.vm().media ?? []).find(m => msg.device === m.target || String(msg.device).endsWith(m.target));
      trays.set(t?.target ?? msg.device, msg.tray);
      paint(ctx.vm());
    }
  });

  return {
    root,
    paint,
    open: () => {
      // a remote VM boots what is in its host's pools: those are offered there
      const uri = remoteUri();
      void (uri ? hostISOOptions(uri, ctx.signal) : loadISOChoices(ctx.signal).then(isoOptions))
        .then(options => list.replaceChildren(...options), () => list.replaceChildren());
    },
    close: () => {
      clearTimeout(timer);
      stopEvents();
    }
  };
}
