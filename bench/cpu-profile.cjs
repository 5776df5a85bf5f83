/**
 * Preloaded into the bot processes when BENCH_CPU_PROFILE=<dir> is set (NODE_OPTIONS=--require; the
 * --cpu-prof flag is not allowed in NODE_OPTIONS). Samples the CPU from the start; SIGUSR2 writes the
 * profile so far and starts a new one; exit writes the last. Open the .cpuprofile files in Chrome
 * DevTools (Performance tab) or VS Code. The profiler costs CPU itself: CPU figures taken with it are
 * higher than without.
 */
const fs = require('node:fs');
const inspector = require('node:inspector');
const path = require('node:path');

const dir = process.env.BENCH_CPU_PROFILE;
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');
let part = 0;

function writeProfile() {
  // on the main thread's own session the callback runs synchronously, so this works in 'exit' too
  session.post('Profiler.stop', (error, result) => {
    if (error) return;
    const file = path.join(dir, `bot-${process.pid}-${part++}.cpuprofile`);
    fs.writeFileSync(file, JSON.stringify(result.profile));
  });
}

process.on('SIGUSR2', () => {
  writeProfile();
  session.post('Profiler.start');
});
process.on('exit', writeProfile);
