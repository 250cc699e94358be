import audify from 'audify';
const rt = new audify.RtAudio(2 /* LINUX_ALSA */);
console.log(rt.getApi(), JSON.stringify(rt.getDevices().map(d=>({id:d.id,name:d.name,out:d.outputChannels, def:d.isDefaultOutput}))), rt.getDefaultOutputDevice());
const P=256; const buf = Buffer.alloc(P*2*2);
let n=0; const log=[];
const t0 = process.hrtime.bigint();
rt.openStream({deviceId: rt.getDefaultOutputDevice(), nChannels:2, firstChannel:0}, null, 2, 48000, P, 'test', null, () => {
  n++; log.push([Number(process.hrtime.bigint()-t0)/1e6, rt.streamTime*48000/P, n]);
  rt.write(buf);
}, 0, (t,m)=>console.log('err',t,m));
console.log('latency', rt.getStreamLatency(), 'rate', rt.getStreamSampleRate());
for (let i=0;i<4;i++) rt.write(buf);
rt.start();
setTimeout(()=>{ rt.stop(); rt.closeStream(); console.log(log.slice(0,12).map(x=>x.map(v=>v.toFixed(2)).join(' ')).join('\n')); console.log('...'); console.log(log.slice(-5).map(x=>x.map(v=>v.toFixed(2)).join(' ')).join('\n')); }, 1000);
