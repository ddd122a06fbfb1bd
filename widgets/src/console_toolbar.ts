/**
 * The console's toolbar: the state badge, the special keys, the type-in box,
 * the scale choice, sound and full screen. Built here so console.ts (the view:
 * socket, canvas, scale) reads as the view alone; the bar only sends input
 * messages through *send* and tells the view about a full-screen change.
 */

import { button, el } from './vm_common';

/** Combinations a browser would keep for itself, as buttons. */
const SPECIAL_KEYS: [string, string][] = [
  ['Ctrl+Alt+Del', 'ctrl+alt+delete'],
  ['Ctrl+Alt+F1', 'ctrl+alt+f1'],
  ['Ctrl+Alt+F2', 'ctrl+alt+f2'],
  ['Alt+Tab', 'alt+tab'],
  ['Alt+F4', 'alt+f4'],
  ['Ctrl+W', 'ctrl+w'],
  ['Ctrl+T', 'ctrl+t'],
  ['Super', 'meta'],
  ['PrtSc', 'printscreen']
];

const SCALES: [string, string][] = [
  ['fit', 'Fit'],
  ['1:1', '1:1'],
  ['integer', 'Crisp ×N']
];

export interface ConsoleBar {
  bar: HTMLElement;
  badge: HTMLElement;
  typeBox: HTMLInputElement;
  scaleSel: HTMLSelectElement;
  audioBtn: HTMLButtonElement;
  volume: HTMLInputElement;
  /** Keys and typing reach a running guest only. */
  setLive: (live: boolean) => void;
  /** Stop following full-screen changes. */
  close: () => void;
}

const BTN = 'ks-console-btn';

/**
 * The bar for the console *root*; *send* takes an input message, *onFullscreen*
 * is called after the root entered or left full screen.
 */
export function makeConsoleBar(
  root: HTMLElement, send: (msg: Record<string, unknown>) => void, onFullscreen: () => void
): ConsoleBar {
  const bar = el('div', 'ks-console-bar');
  const badge = el('span', 'ks-console-status');
  const keys = el('span', 'ks-console-keys');
  for (const [label, combo] of SPECIAL_KEYS) {
    const b = button(label, BTN, `Send ${label} to the VM`);
    b.dataset.keys = combo;
    b.addEventListener('click', () => {
      send({ type: 'press', keys: combo });
      root.focus();
    });
    keys.append(b);
  }
  const typeBox = el('input', 'ks-console-typebox');
  typeBox.placeholder = 'Type text into the VM…';
  const typeBtn = button('Type', BTN, 'Type this text as keystrokes (Enter: type and press Enter)');
  const doType = (enter: boolean): void => {
    const text = typeBox.value + (enter ? '\n' : '');
    if (text) {
      send({ type: 'type', text });
      typeBox.value = '';
    }
  };
  typeBtn.addEventListener('click', () => doType(false));
  typeBox.addEventListener('keydown', (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') {
      e.preventDefault();
      doType(true);
    }
  });
  const scaleSel = el('select', 'ks-console-scale');
  scaleSel.title = 'Scale: fit the cell, 1:1 device pixels, or crisp integer zoom';
  for (const [v, label] of SCALES) {
    const o = el('option', '', label);
    o.value = v;
    scaleSel.append(o);
  }
  // words, not symbols: emoji fonts are missing on many Linux desktops
  const fullBtn = button('Full screen', `${BTN} ks-console-fullscreen`,
    'Full screen (keyboard lock where the browser allows)');
  const audioBtn = button('Sound off', `${BTN} ks-console-audio`, 'Play the VM’s sound');
  const volume = document.createElement('input');
  volume.type = 'range';
  volume.min = '0';
  volume.max = '1';
  volume.step = '0.05';
  volume.className = 'ks-console-volume';
  volume.title = 'Volume';
  // the box and its button wrap as one: never the box on one line, Type on the next
  const typing = el('span', 'ks-console-typing');
  typing.append(typeBox, typeBtn);
  bar.append(badge, keys, typing, scaleSel, audioBtn, volume, fullBtn);

  const fullChanged = (): void => {
    const full = document.fullscreenElement === root;
    fullBtn.textContent = full ? 'Exit full screen' : 'Full screen';
    fullBtn.title = full ? 'Back to the notebook (Esc)' : 'Full screen (keyboard lock where the browser allows)';
    root.classList.toggle('ks-mod-fullscreen', full);
    onFullscreen();
  };
  document.addEventListener('fullscreenchange', fullChanged);
  fullBtn.addEventListener('click', async () => {
    if (document.fullscreenElement) {
      await document.exitFullscreen();
      return;
    }
    await root.requestFullscreen();
    root.focus();
    const kb = (navigator as unknown as { keyboard?: { lock?: () => Promise<void> } }).keyboard;
    await kb?.lock?.().catch(() => undefined);
  });

  return {
    bar, badge, typeBox, scaleSel, audioBtn, volume,
    setLive: live => {
      for (const c of [...keys.querySelectorAll('button'), typeBox, typeBtn]) {
        (c as HTMLButtonElement | HTMLInputElement).disabled = !live;
      }
    },
    close: () => document.removeEventListener('fullscreenchange', fullChanged)
  };
}
