/**
 * Decode the console's update messages into RGBA rects (the wire format of
 * kernelswitch/console/encoders.py and palette.py):
 *
 *   u8 kind=1, u8 data encoding, u16 nrects, u16 fb width, u16 fb height, u32 data length,
 *   nrects x (u16 x, y, w, h), then the data:
 *   0 = every rect's RGBA rows; 1 = the same, zlib'd; 2 = per-tile palette, zlib'd:
 *   u32 n_tiles, len(ncol), len(palette), len(bits), len(raw), then those sections;
 *   3 = as 2, with copies between the rects and the data (shadow.py): u16 ncopies,
 *   ncopies x (u16 x, y, w, h, src_y): rows src_y.. of the canvas as it was before
 *   this message go to y.., before the rects are painted (tiles the browser already
 *   has elsewhere in the same columns: scrolled rows, repeated text).
 *
 * Why its own module: console.ts (the view) only paints what this returns, so
 * the encodings can change without touching the view.
 */

export interface DecodedRect {
  x: number;
  y: number;
  w: number;
  h: number;
  pixels: Uint8ClampedArray;
}

export interface DecodedUpdate {
  width: number;
  height: number;
  rects: DecodedRect[];
  /** [x, y, w, h, srcY]: copy canvas rows srcY.. to y.. (columns x..x+w), in order */
  copies: [number, number, number, number, number][];
}

const TILE = 16;
const RAW = 255;

function bitsFor(colours: number): number {
  return colours <= 1 ? 0 : colours <= 2 ? 1 : colours <= 4 ? 2 : 4;
}

/** The rects' pixels from palette data (see palette.py for the layout). */
export function decodeTiles(
  data: Uint8Array,
  rects: [number, number, number, number][]
): Uint8ClampedArray[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nTiles = view.getUint32(0, true);
  const lNcol = view.getUint32(4, true);
  const lPal = view.getUint32(8, true);
  const lBits = view.getUint32(12, true);
  let t = 20;
  let pp = t + lNcol;
  let bp = pp + lPal;
  let rp = bp + lBits;
  const colours = new Uint32Array(16);
  const out: Uint8ClampedArray[] = [];
  for (const [, , w, h] of rects) {
    const px = new Uint8ClampedArray(w * h * 4);
    const px32 = new Uint32Array(px.buffer);
    for (let ty = 0; ty < h; ty += TILE) {
      const th = Math.min(TILE, h - ty);
      for (let tx = 0; tx < w; tx += TILE) {
        const tw = Math.min(TILE, w - tx);
        const c = data[t++];
        if (c === RAW) {
          for (let yy = 0; yy < th; yy++) {
            let o = (ty + yy) * w + tx;
            for (let xx = 0; xx < tw; xx++, rp += 3) {
              px32[o++] = 0xff000000 | (data[rp + 2] << 16) | (data[rp + 1] << 8) | data[rp];
            }
          }
          continue;
        }
        const n = c + 1;
        for (let k = 0; k < n; k++, pp += 3) {
          colours[k] = (0xff000000 | (data[pp + 2] << 16) | (data[pp + 1] << 8) | data[pp]) >>> 0;
        }
        const b = bitsFor(n);
        if (b === 0) {
          for (let yy = 0; yy < th; yy++) {
            px32.fill(colours[0], (ty + yy) * w + tx, (ty + yy) * w + tx + tw);
          }
          continue;
        }
        const mask = (1 << b) - 1;
        let bit = 0;
        for (let yy = 0; yy < th; yy++) {
          let o = (ty + yy) * w + tx;
          for (let xx = 0; xx < tw; xx++, bit += b) {
            const byte = data[bp + (bit >> 3)];
            px32[o++] = colours[(byte >> (8 - b - (bit & 7))) & mask];
          }
        }
        bp += (th * tw * b) >> 3;
      }
    }
    out.push(px);
  }
  if (t !== 20 + nTiles) {
    throw new Error(`console update: ${t - 20} tiles decoded, ${nTiles} sent`);
  }
  return out;
}

/** One update message; *inflate* undoes zlib (`inflate` below, a DecompressionStream). */
export async function decodeUpdate(
  buf: ArrayBuffer,
  inflate: (data: Uint8Array) => Promise<Uint8Array>
): Promise<DecodedUpdate> {
  const view = new DataView(buf);
  const enc = view.getUint8(1);
  const n = view.getUint16(2, true);
  const width = view.getUint16(4, true);
  const height = view.getUint16(6, true);
  const len = view.getUint32(8, true);
  const geometry: [number, number, number, number][] = [];
  for (let i = 0, off = 12; i < n; i++, off += 8) {
    geometry.push([
      view.getUint16(off, true),
      view.getUint16(off + 2, true),
      view.getUint16(off + 4, true),
      view.getUint16(off + 6, true)
    ]);
  }
  let off = 12 + 8 * n;
  const copies: [number, number, number, number, number][] = [];
  if (enc === 3) {
    const count = view.getUint16(off, true);
    off += 2;
    for (let i = 0; i < count; i++, off += 10) {
      copies.push([
        view.getUint16(off, true),
        view.getUint16(off + 2, true),
        view.getUint16(off + 4, true),
        view.getUint16(off + 6, true),
        view.getUint16(off + 8, true)
      ]);
    }
  }
  let data = new Uint8Array(buf, off, len);
  if (enc === 1 || enc === 2 || enc === 3) {
    data = await inflate(data);
  }
  const rects: DecodedRect[] = [];
  if (enc === 2 || enc === 3) {
    const pixels = decodeTiles(data, geometry);
    geometry.forEach(([x, y, w, h], i) => rects.push({ x, y, w, h, pixels: pixels[i] }));
  } else {
    let pos = data.byteOffset;
    for (const [x, y, w, h] of geometry) {
      // a view into the message, no copy
      rects.push({ x, y, w, h, pixels: new Uint8ClampedArray(data.buffer, pos, w * h * 4) });
      pos += w * h * 4;
    }
  }
  return { width, height, rects, copies };
}

let before: HTMLCanvasElement | null = null;

/**
 * Paint *update* on *ctx* (whose canvas already has the update's size): the
 * copies first, all from a picture of the canvas taken before the first one
 * (a copy may read what another writes), then the rects.
 */
export function drawUpdate(ctx: CanvasRenderingContext2D, update: DecodedUpdate): void {
  if (update.copies.length) {
    const { width, height } = ctx.canvas;
    before ??= document.createElement('canvas');
    if (before.width !== width || before.height !== height) {
      before.width = width;
      before.height = height;
    }
    const bctx = before.getContext('2d') as CanvasRenderingContext2D;
    bctx.globalCompositeOperation = 'copy';
    bctx.drawImage(ctx.canvas, 0, 0);
    for (const [x, y, w, h, sy] of update.copies) {
      ctx.drawImage(before, x, sy, w, h, x, y, w, h);
    }
  }
  for (const r of update.rects) {
    ctx.putImageData(new ImageData(r.pixels, r.w, r.h), r.x, r.y);
  }
}

/**
 * Inflate one zlib stream. Straight through the stream's writer and reader:
 * wrapping it in a Blob and a Response cost 2 ms more CPU per 400 kB update
 * (headless Chromium, captured updates of a scrolling console: 6.1-6.9 vs
 * 3.7-5.2 ms per paint); fflate's synchronous inflate measured 4.8-7.0.
 */
export async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const ds = new DecompressionStream('deflate');
  const writer = ds.writable.getWriter();
  writer.write(data).catch(() => undefined); // a bad stream fails the read below
  writer.close().catch(() => undefined);
  const reader = ds.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    chunks.push(value);
    total += value.length;
  }
  if (chunks.length === 1) {
    return chunks[0];
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
