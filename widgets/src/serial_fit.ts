import type { Terminal } from '@xterm/xterm';

/**
 * In a JupyterLab tab (`.ks-mod-fill`), the terminal takes the tab's height:
 * as many rows as fit (at least 24), measured from xterm's own cell size. The
 * width stays 80 columns: a serial line has no size, so the guest's shell
 * edits lines for 80 whatever the screen shows.
 */
export function fitRows(term: Terminal, box: HTMLElement): () => void {
  const fit = (): void => {
    const screen = box.querySelector<HTMLElement>('.xterm-screen');
    if (!box.closest('.ks-mod-fill') || !screen || !screen.clientHeight || !term.rows) {
      return;
    }
    const cell = screen.clientHeight / term.rows;
    const room = box.clientHeight - 8; // the box's padding
    const rows = Math.max(24, Math.floor(room / cell));
    if (rows !== term.rows) {
      term.resize(term.cols, rows);
    }
  };
  const observer = new ResizeObserver(() => fit());
  observer.observe(box);
  return () => observer.disconnect();
}
