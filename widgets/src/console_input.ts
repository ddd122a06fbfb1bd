/**
 * The console's keyboard and mouse: keys by physical position (`code`), held
 * keys released when focus leaves, pointer moves at most one per frame,
 * presses and wheel at once, in the guest's pixel coordinates.
 */

type Send = (msg: Record<string, unknown>) => void;

/** Browser buttons (1 left, 2 right, 4 middle) as RFB's (1 left, 2 middle, 4 right). */
function rfbButtons(b: number): number {
  return (b & 1) | ((b & 4) >> 1) | ((b & 2) << 1);
}

/** Wire *root*'s keys and *canvas*'s pointer to *send* (the typing box keeps its own keys). */
export function attachInput(root: HTMLElement, canvas: HTMLCanvasElement, typeBox: HTMLInputElement, send: Send): void {
  // ------------------------------------------------------------ keyboard
  const down = new Set<string>();
  const onKey = (e: KeyboardEvent, isDown: boolean): void => {
    if (e.target === typeBox) {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    if (!e.code) {
      return;
    }
    if (isDown) {
      down.add(e.code);
    } else {
      down.delete(e.code);
    }
    send({ type: 'key', code: e.code, key: e.key, down: isDown });
  };
  root.addEventListener('keydown', (e) => onKey(e, true));
  root.addEventListener('keyup', (e) => onKey(e, false));
  root.addEventListener('blur', () => {
    for (const code of down) {
      send({ type: 'key', code, down: false });
    }
    down.clear();
  });

  // ------------------------------------------------------------ mouse
  const pos = (e: MouseEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - r.left) / r.width) * canvas.width);
    const y = Math.floor(((e.clientY - r.top) / r.height) * canvas.height);
    return [Math.max(0, Math.min(canvas.width - 1, x)), Math.max(0, Math.min(canvas.height - 1, y))];
  };
  let pending: Record<string, unknown> | null = null;
  const flushPointer = (): void => {
    if (pending) {
      send(pending);
      pending = null;
    }
  };
  const onPointer = (e: PointerEvent): void => {
    const [x, y] = pos(e);
    const msg = { type: 'pointer', x, y, buttons: rfbButtons(e.buttons) };
    if (e.type === 'pointermove') {
      // at most one move per frame; presses and releases go at once
      if (!pending) {
        requestAnimationFrame(flushPointer);
      }
      pending = msg;
    } else {
      pending = null;
      send(msg);
    }
  };
  canvas.addEventListener('pointerdown', (e) => {
    root.focus();
    canvas.setPointerCapture(e.pointerId);
    onPointer(e);
    e.preventDefault();
  });
  canvas.addEventListener('pointerup', onPointer);
  canvas.addEventListener('pointermove', onPointer);
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const [x, y] = pos(e);
      send({ type: 'wheel', x, y, dy: Math.sign(e.deltaY), buttons: rfbButtons(e.buttons) });
    },
    { passive: false }
  );
}
