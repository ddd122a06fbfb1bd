import type { RenderProps } from '@anywidget/types';

import { LocalModel } from './vm_common';

/** What every kernel-less VM view (console, serial terminal) takes. */
export interface MountOptions {
  /** The VM's name. */
  name: string;
  /** Its host's libvirt URI (sent as `?uri=`: two hosts may have a VM so named). */
  uri?: string;
  /** Fill the host element (a JupyterLab tab) instead of flowing like a cell's output. */
  fill?: boolean;
  /** Told each state the view reaches (connecting, connected, stopped, ...). */
  onStatus?: (state: string) => void;
}

export interface MountedView {
  /** Close the view's websocket (and whatever else it holds), and empty the host. */
  dispose: () => void;
  focus: () => void;
}

/**
 * Run a notebook cell's view without a kernel: on a model kept in the page
 * (*state*), in *host*. The JupyterLab tabs and the VM manager's inline
 * console run exactly the code a cell runs, mounted through here.
 *
 * *rootClass* names the view's root (it gets `ks-mod-fill` when asked);
 * *focusable* picks what takes the keyboard (the root itself by default).
 */
export function mountView<M extends { status: string }>(
  host: HTMLElement,
  state: M,
  render: (props: RenderProps<M>) => () => void,
  options: MountOptions,
  rootClass: string,
  focusable: (host: HTMLElement) => HTMLElement | null = h => h.querySelector<HTMLElement>(`.${rootClass}`)
): MountedView {
  const model = new LocalModel<M>(state);
  if (options.onStatus) {
    const onStatus = options.onStatus;
    model.on('change:status', () => onStatus(model.get('status')));
  }
  const cleanup = render({ model, el: host } as unknown as RenderProps<M>);
  if (options.fill) {
    host.querySelector<HTMLElement>(`.${rootClass}`)?.classList.add('ks-mod-fill');
  }
  return {
    dispose: () => {
      cleanup();
      model.off();
      host.replaceChildren();
    },
    focus: () => focusable(host)?.focus()
  };
}
