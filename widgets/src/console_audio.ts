import type { AnyModel } from '@anywidget/types';

import type { ConsoleModel } from './console';

/**
 * The console's sound: QEMU's audio stream (S16LE PCM, kind-2 messages)
 * scheduled back to back on a Web Audio context made on the first click (a
 * browser lets a page play only after a gesture), with mute and volume kept
 * in the model.
 */
export function attachAudio(
  model: AnyModel<ConsoleModel>,
  root: HTMLElement,
  audioBtn: HTMLButtonElement,
  volume: HTMLInputElement,
  send: (msg: Record<string, unknown>) => void
): { play: (buf: ArrayBuffer) => void; close: () => void } {
  let audioCtx: AudioContext | null = null;
  let gain: GainNode | null = null;
  let nextTime = 0;
  const updateAudioUi = (): void => {
    const on = model.get('audio');
    const muted = model.get('muted');
    audioBtn.textContent = on && !muted ? 'Sound on' : 'Sound off';
    audioBtn.title = on ? 'Mute the VM' : 'Play the VM’s sound';
    volume.value = String(model.get('volume') ?? 1);
    root.dataset.audio = on ? (muted ? 'muted' : 'on') : 'off';
    if (gain) {
      gain.gain.value = muted ? 0 : Number(volume.value);
    }
  };
  const playAudio = (buf: ArrayBuffer): void => {
    root.dataset.audioBytes = String(Number(root.dataset.audioBytes ?? 0) + buf.byteLength - 8);
    if (!audioCtx || !gain) {
      return;
    }
    const view = new DataView(buf);
    const channels = view.getUint8(1) || 2;
    const rate = view.getUint32(4, true);
    const frames = Math.floor((buf.byteLength - 8) / (2 * channels));
    if (!frames) {
      return;
    }
    const ab = audioCtx.createBuffer(channels, frames, rate);
    for (let c = 0; c < channels; c++) {
      const out = ab.getChannelData(c);
      for (let i = 0; i < frames; i++) {
        out[i] = view.getInt16(8 + (i * channels + c) * 2, true) / 32768;
      }
    }
    const src = audioCtx.createBufferSource();
    src.buffer = ab;
    src.connect(gain);
    // schedule back to back; if we fell behind, restart just ahead of now
    nextTime = Math.max(nextTime, audioCtx.currentTime + 0.05);
    src.start(nextTime);
    nextTime += ab.duration;
  };
  audioBtn.addEventListener('click', () => {
    const on = model.get('audio');
    if (on && !model.get('muted')) {
      model.set('muted', true);
    } else {
      if (!audioCtx) {
        audioCtx = new AudioContext();
        gain = audioCtx.createGain();
        gain.connect(audioCtx.destination);
      }
      void audioCtx.resume();
      model.set('audio', true);
      model.set('muted', false);
      send({ type: 'audio', enable: true });
    }
    model.save_changes();
    updateAudioUi();
  });
  volume.addEventListener('input', () => {
    model.set('volume', Number(volume.value));
    model.save_changes();
    updateAudioUi();
  });
  model.on('change:audio', () => {
    send({ type: 'audio', enable: model.get('audio') });
    updateAudioUi();
  });
  model.on('change:muted', updateAudioUi);
  model.on('change:volume', updateAudioUi);
  updateAudioUi();
  return {
    play: playAudio,
    close: () => void audioCtx?.close()
  };
}
