import { Readable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseMail } from './src/mail/mail-parser.ts';
import { stallingHeadersFixture } from './test/fixtures/hostile-mail.ts';
const h = monitorEventLoopDelay({ resolution: 5 }); h.enable();
const f = stallingHeadersFixture();
for (let i=0;i<5;i++){ h.reset(); const t=performance.now(); await parseMail(Readable.from([f.raw]), {spoolDir:'/tmp/h5scratch/sp', maxFileBytes: 1e6}); await new Promise(r=>setTimeout(r,30));
  console.log((performance.now()-t).toFixed(0), 'max lag', (h.max/1e6).toFixed(0)); }
