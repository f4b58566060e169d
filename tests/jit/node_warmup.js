// Node.js (V8) warm-up under iterprof: one iteration (region "step") per call
// of step(), N calls.
//
//   node [--perf-basic-prof] node_warmup.js N [--log PATH]
//
// step() sums a function of 200,000 numbers with three branches (about
// 0.5 ms once optimised: the loop lasts far longer than the environment
// timeline's sampling interval, which dates the perf map's lines). V8 runs it
// in its interpreter (Ignition) first, compiles it with Sparkplug (baseline)
// and, once hot, with TurboFan on a background thread -- on-stack replacement
// inside the long loop of iteration 1, then the whole function, installed on
// the main thread in one of the next iterations. Maglev is off in node 20.
//
// What V8 does with memory when it compiles (tests/jit/README.md): on x86-64
// without memory protection keys its code space is mapped read-write-execute
// once, when V8 starts, and compiled code is simply written into it; a
// compilation makes no system call. Only when a code-space page (240 KiB)
// fills up does V8 mprotect a new one RWX. --perf-basic-prof makes V8 write
// one line per code object it creates to /tmp/perf-<pid>.map (a write(2) per
// line), which is how the compilations can be seen and counted here.
//
// The markers come from the addon iterprof_node.node (iterprof_node.c, built
// next to this file or where ITERPROF_NODE_ADDON points), which calls
// iterprof_iter_begin/end when the iterprof shim is loaded and does nothing
// otherwise; without the addon the script runs without markers.
//
// --log PATH: V8's own account, for the tests: one line per iteration,
// "INDEX CODE NS NAMES": the code objects V8 created during the iteration
// (lines added to /tmp/perf-<pid>.map; -1 without --perf-basic-prof or
// without the addon), the iteration's duration (process.hrtime.bigint()
// around the markers) and the
// names of those code objects joined by "|" ("-" if none); the tier is the
// first character of a JS name: ~ interpreted, ^ Sparkplug, + Maglev,
// * TurboFan.
'use strict';
const fs = require('fs');
const path = require('path');

function usage() {
  process.stderr.write('usage: node [--perf-basic-prof] node_warmup.js N [--log PATH]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
const n = Number(argv[0]);
let logPath = null;
for (let i = 1; i < argv.length; i++) {
  if (argv[i] === '--log' && i + 1 < argv.length) logPath = argv[++i];
  else usage();
}
if (!Number.isInteger(n) || n < 1) usage();

function loadMarkers() {
  const addon = process.env.ITERPROF_NODE_ADDON ||
    path.join(__dirname, 'iterprof_node.node');
  try {
    return require(addon);
  } catch (e) {
    process.stderr.write(`node_warmup: no markers: ${e.message.split('\n')[0]}\n`);
    return { begin() {}, end() {}, available: false };
  }
}
const markers = loadMarkers();

const SIZE = 200000;
const data = new Float64Array(SIZE);
{
  let x = 12345;
  for (let i = 0; i < SIZE; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    data[i] = x / 2147483648;
  }
}

function step(values, k) {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    // A branch the CPU predicts (every 4th element), not one on the data:
    // a data-dependent branch makes the CPU's branch predictor learn the
    // fixed data over the first iterations, a warm-up of its own.
    if ((i & 3) === 0) s += x * x / (1 + Math.abs(x - 0.5));
    else s -= x / (k + 1);
  }
  return s;
}

// The perf map: its size right before and right after each iteration, its
// lines sorted into iterations at the end. The size comes from the addon
// (fstat in C): JavaScript there, fs.fstatSync, would be compiled and tiered
// up by V8 like any other code, writing its own lines into the map between
// the measurements.
const perfMap = `/tmp/perf-${process.pid}.map`;
const perfFd = logPath && markers.fileSize && fs.existsSync(perfMap) ?
  fs.openSync(perfMap, 'r') : null;
const perfSize = perfFd === null ? () => 0 : () => markers.fileSize(perfFd);

const sizes = [];   // [before, after] per iteration
const times = [];
let total = 0;
for (let it = 1; it <= n; it++) {
  const t0 = process.hrtime.bigint();
  const before = perfSize();
  markers.begin('step');
  total += step(data, it);
  markers.end('step');
  const after = perfSize();
  const t1 = process.hrtime.bigint();
  if (logPath) {
    times.push(t1 - t0);
    sizes.push([before, after]);
  }
}

// What runs after the loop (the log below) makes V8 compile more code: wait
// 50 ms first, five samples of iterprof's environment timeline, so that those
// perf-map lines are dated after the loop's last iteration, not inside its
// sampling window (the timeline dates them to the nearest 10 ms).
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);

// The code objects of each iteration: the perf map's lines
// "ADDRESS SIZE NAME" between its two sizes (the name's first word).
function codeObjects(text, from, to) {
  return text.slice(from, to).split('\n').filter((line) => line)
    .map((line) => line.split(' ')[2]);
}
if (logPath) {
  const text = perfFd === null ? '' : fs.readFileSync(perfFd, 'latin1');
  const log = sizes.map(([from, to], i) => {
    const names = perfFd === null ? null : codeObjects(text, from, to);
    return `${i + 1} ${names === null ? -1 : names.length} ${times[i]} ` +
      `${names && names.length ? names.join('|') : '-'}\n`;
  });
  fs.writeFileSync(logPath, log.join(''));
}
console.log(`node_warmup: ${n} iterations, markers ` +
  `${markers.available ? 'on' : 'off (not under iterprof)'}, checksum ${total.toPrecision(6)}`);
