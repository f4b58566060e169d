-- LuaJIT warm-up under iterprof: one iteration (region "step") per call of
-- step(), N calls.
--
--   luajit luajit_warmup.lua N [--log PATH]
--
-- step() sums a function of 20,000 numbers, with a branch taken for every
-- fourth one. LuaJIT interprets a loop until it has run 56 times
-- (-Ohotloop=56), then records and compiles a trace for it: the loop's root
-- trace and the side trace of the branch (an exit taken 10 times,
-- -Ohotexit=10, gets one) are committed in iteration 1; the exit of the loop
-- back into the caller -- taken once per call -- gets its side trace in
-- iteration 11, which also covers the caller's loop: from there on nothing
-- is interpreted and nothing more is compiled. Each committed trace makes
-- LuaJIT mprotect its 64 KiB machine-code area back to PROT_READ|PROT_EXEC
-- (tests/jit/README.md has the strace).
--
-- The markers are iterprof_iter_begin/end, called through the FFI: the shim
-- defines them when the script runs under `iterprof record`; without it the
-- lookup fails and the script runs without markers.
--
-- --log PATH: the engine's own account, for the tests: one line per
-- iteration, "INDEX TRACES ABORTS NS": traces LuaJIT committed (jit.attach
-- "trace" events "stop") and trace recordings it aborted during the
-- iteration, and the iteration's duration (clock_gettime(CLOCK_MONOTONIC)
-- through the FFI, around the markers), in ns. Without --log no callback is
-- attached (the engine runs as it would in a benchmark).
local ffi = require("ffi")

local n = tonumber(arg[1])
local log_path
do
  local i = 2
  while arg[i] do
    if arg[i] == "--log" and arg[i + 1] then
      log_path = arg[i + 1]
      i = i + 2
    else
      io.stderr:write("usage: luajit luajit_warmup.lua N [--log PATH]\n")
      os.exit(2)
    end
  end
end
if not n or n < 1 then
  io.stderr:write("usage: luajit luajit_warmup.lua N [--log PATH]\n")
  os.exit(2)
end

ffi.cdef [[
void iterprof_iter_begin(const char *region);
void iterprof_iter_end(const char *region);
typedef struct { long tv_sec; long tv_nsec; } iterprof_timespec;
int clock_gettime(int clock, iterprof_timespec *ts);
]]

-- ffi.C.name raises an error when the symbol is not in the process.
local have_markers = pcall(function()
  return ffi.C.iterprof_iter_begin ~= nil and ffi.C.iterprof_iter_end ~= nil
end)
local begin_marker, end_marker
if have_markers then
  begin_marker, end_marker = ffi.C.iterprof_iter_begin, ffi.C.iterprof_iter_end
else
  begin_marker = function(_) end
  end_marker = begin_marker
end

-- The work: deterministic data, three paths through the loop body.
local SIZE = 20000
local data = {}
do
  local x = 12345
  for i = 1, SIZE do
    x = (x * 1103515245 + 12345) % 2147483648
    data[i] = x / 2147483648
  end
end

local function step(values, k)
  local s = 0.0
  for i = 1, #values do
    local x = values[i]
    -- A branch the CPU predicts (every 4th element), not one on the data:
    -- a data-dependent branch makes the CPU's branch predictor learn the
    -- fixed data over the first iterations, a warm-up of its own.
    if i % 4 == 0 then
      s = s + x * x / (1.0 + math.abs(x - 0.5))
    else
      s = s - x / (k + 1)
    end
  end
  return s
end

-- Ground truth (--log only): trace events by iteration.
local current = 0
local traces, aborts = {}, {}
local clock = ffi.new("iterprof_timespec")
local function now_ns()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1e9 + tonumber(clock.tv_nsec)
end
local durations = {}
local function on_trace(what)
  if what == "stop" then
    traces[current] = (traces[current] or 0) + 1
  elseif what == "abort" then
    aborts[current] = (aborts[current] or 0) + 1
  end
end
if log_path then
  jit.attach(on_trace, "trace")
end

local total = 0.0
for it = 1, n do
  current = it
  local t0 = log_path and now_ns()
  begin_marker("step")
  total = total + step(data, it)
  end_marker("step")
  if log_path then
    durations[it] = now_ns() - t0
  end
  current = 0
end

if log_path then
  jit.attach(on_trace) -- detach
  local f = assert(io.open(log_path, "w"))
  for it = 1, n do
    f:write(string.format("%d %d %d %d\n", it, traces[it] or 0, aborts[it] or 0, durations[it]))
  end
  f:close()
end
io.write(string.format("luajit_warmup: %d iterations, markers %s, checksum %.6g\n", n,
  have_markers and "on" or "off (not under iterprof)", total))
