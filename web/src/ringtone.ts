import type { Ringtone } from './prefs';

// Ringtones synthesised with WebAudio: no audio files to download or cache.
// Each pattern is a list of [frequency Hz (0 = silence), duration s] repeated until stopped.
const patterns: Record<Exclude<Ringtone, 'off'>, Array<[number[], number]>> = {
  // Two mixed tones in the European ring cadence.
  classic: [
    [[425, 475], 0.4],
    [[], 0.2],
    [[425, 475], 0.4],
    [[], 2.0],
  ],
  chime: [
    [[659], 0.25],
    [[523], 0.25],
    [[587], 0.25],
    [[392], 0.5],
    [[], 1.5],
  ],
  pulse: [
    [[880], 0.12],
    [[], 0.12],
    [[880], 0.12],
    [[], 0.12],
    [[880], 0.12],
    [[], 1.2],
  ],
};

// Starts `name` and returns the function that stops it.
export function playRingtone(name: Ringtone, once = false): () => void {
  if (name === 'off' || typeof AudioContext === 'undefined') return () => undefined;
  const ctx = new AudioContext();
  const gain = ctx.createGain();
  gain.gain.value = 0.15;
  gain.connect(ctx.destination);
  const pattern = patterns[name];
  const cycle = pattern.reduce((s, [, d]) => s + d, 0);
  let scheduledUntil = ctx.currentTime + 0.05;
  const schedule = () => {
    // Keep a few seconds scheduled ahead, so timer throttling cannot cause gaps.
    while (scheduledUntil < ctx.currentTime + 4) {
      let t = scheduledUntil;
      for (const [freqs, duration] of pattern) {
        for (const f of freqs) {
          const osc = ctx.createOscillator();
          const env = ctx.createGain();
          osc.frequency.value = f;
          env.gain.setValueAtTime(0, t);
          env.gain.linearRampToValueAtTime(1 / freqs.length, t + 0.01);
          env.gain.setValueAtTime(1 / freqs.length, t + duration - 0.02);
          env.gain.linearRampToValueAtTime(0, t + duration);
          osc.connect(env).connect(gain);
          osc.start(t);
          osc.stop(t + duration);
        }
        t += duration;
      }
      scheduledUntil += cycle;
      if (once) break;
    }
  };
  schedule();
  const timer = once ? undefined : setInterval(schedule, 1000);
  const stop = () => {
    clearInterval(timer);
    ctx.close().catch(() => undefined);
  };
  if (once) setTimeout(stop, cycle * 1000);
  return stop;
}
