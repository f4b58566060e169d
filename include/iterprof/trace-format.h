/*
 * The iterprof trace format: what the shim (preload/) writes and the analyzer
 * (analyzer/) reads. This header is the contract; doc/trace-format.md says the
 * same in prose. Change one, change the other, and bump the version.
 *
 * A recording is a directory holding one file per process image:
 *     iterprof-<pid>.trace        the first image of process <pid>
 *     iterprof-<pid>.<n>.trace    the n-th program that <pid> exec'd (n >= 1)
 * Files are created 0600 with O_EXCL.
 *
 * All integers are little-endian (the only byte order iterprof runs on; the
 * header's endian_tag lets a reader refuse a foreign file instead of misreading
 * it). All offsets below are in bytes.
 *
 * ---------------------------------------------------------------------------
 * File layout
 *
 *   [0, header_size)                         file header (8192 bytes; 4096
 *                                            in files before version 1.3)
 *   [header_size + k*chunk_size, +chunk_size) chunk k, k = 0, 1, 2, ...
 *
 * The file is grown in segments reserved with posix_fallocate and written
 * through MAP_SHARED mappings, so everything written is in the page cache the
 * moment it is stored and survives SIGKILL, a crash, _exit and exec. Space that
 * was reserved but never used reads as zeros.
 *
 * ---------------------------------------------------------------------------
 * File header (ITP_HEADER_SIZE bytes: two pages; the second holds the
 * counter descriptors 16..31, added in 1.3)
 *
 *   off  size  field
 *     0     8  magic              "ITERPROF"
 *     8     2  version_major      ITP_VERSION_MAJOR; readers refuse others
 *    10     2  version_minor      ITP_VERSION_MINOR; newer minors only add
 *    12     4  header_size        8192 (4096 before 1.3)
 *    16     4  endian_tag         0x01020304 as written by the writer
 *    20     4  chunk_size         bytes per chunk, power of two >= 4096
 *    24     4  flags              ITP_FILE_* feature flags
 *    28     4  counter_count      entries used in counters[] (<= ITP_MAX_COUNTERS)
 *    32     4  pid
 *    36     4  ppid
 *    40     4  exec_generation    0 for the first image of a pid, then 1, 2...
 *    44     4  clock_id           clockid_t of every *_ns time stamp below
 *    48     8  start_ns           clock_id time when the shim started
 *    56     8  start_realtime_ns  CLOCK_REALTIME at the same moment
 *    64     4  clock_read_cost_ns measured median cost of one clock read
 *    68     4  uid
 *    72     8  config_flags       ITP_CONFIG_* the shim ran with
 *    80    64  host               NUL-terminated (uname nodename)
 *   144    64  kernel             "<sysname> <release>"
 *   208   128  cpu_model          /proc/cpuinfo "model name" or equivalent
 *   336   256  exe                /proc/self/exe, truncated
 *   592  1024  cmdline            argv joined by single spaces, truncated
 *  1616   128  counters_note      why counters are degraded, once per process
 *  1744  2048  counters[0..15]    counter descriptors (below)
 *  3792     4  task_clock_bias_ns  measured task-clock of an empty iteration,
 *                                 already subtracted from every task-clock
 *                                 value (see below)
 *  3796     4  time_source        ITP_TIME_* how the *_ns stamps were taken
 *  3800     8  tsc_hz             calibrated TSC frequency (ITP_TIME_TSC), else 0
 *  3808     4  stacks_mode        ITP_STACKS_* the shim ran with (since 1.4)
 *  3812     4  stacks_error       errno why stacks were asked for and not
 *                                 captured (stacks_why says more), else 0
 *  3816     4  fault_period       one page fault in this many is sampled
 *  3820     4  cpu_period_us      an on-CPU sample every this many us of
 *                                 task-clock
 *  3824     4  stack_copy_bytes   bytes of user stack the kernel copies
 *                                 per sample
 *  3828     4  reserved
 *  3832   128  stacks_why         NUL-terminated reason when stacks_error
 *  3960    72  reserved (zero)
 *  4032    64  footer             written on clean exit (below)
 *  4096  2048  counters[16..31]   counter descriptors 16..31 (since 1.3)
 *  6144  2048  reserved (zero)
 * itp_counter_desc_offset(i) gives descriptor i's offset.
 *
 * task_clock_bias_ns: the counters are read inside the begin and end read()
 * calls, the clock just outside them, so the counters' interval is longer
 * than the timed one by part of two syscalls (about 1.4 us here). The shim
 * measures that excess once per process (median over empty iterations) and
 * subtracts it from task-clock, clamping at 0, so that off-CPU time =
 * duration - task-clock is not negative for CPU-bound iterations.
 *
 * Counter descriptor (ITP_COUNTER_DESC_SIZE = 128 bytes), counters[i] at
 * 1744 + 128*i:
 *     0   2  id          ITP_COUNTER_* (what it measures)
 *     2   2  source      ITP_SOURCE_* (how it is read)
 *     4   4  flags       ITP_COUNTER_COUNTS if it really counts here
 *     8   4  error       errno of the failure when it does not count, else 0
 *    12   4  reserved
 *    16  32  name        NUL-terminated, e.g. "task-clock"
 *    48  80  why         NUL-terminated reason when it does not count
 *
 * Footer (64 bytes at 4032), written once when the process exits cleanly:
 *     0   4  magic          ITP_FOOTER_MAGIC, stored last (release)
 *     4   4  reason         ITP_END_*
 *     8   8  end_ns
 *    16   8  iterations     iteration records committed in this file
 *    24   8  dropped        iterations dropped (all threads, all reasons)
 *    32   8  chunks_used
 *    40  24  reserved (the exit status is not visible to a library; the
 *              launcher has it)
 * A file without a footer was not closed cleanly (killed, crashed, _exit'd,
 * or exec'd through a path the shim does not see): it is read up to its last
 * committed record. A file for which a later exec_generation of the same pid
 * exists ended by exec.
 *
 * ---------------------------------------------------------------------------
 * Chunks (chunk_size bytes). Each chunk belongs to one thread, which alone
 * writes it, front to back. A thread's chunks are ordered by chunk_seq.
 *
 *   off  size  field
 *     0     4  magic        ITP_CHUNK_MAGIC, or 0 for an unused chunk
 *     4     4  tid
 *     8     4  thread_seq   order of the thread's first chunk in this file
 *    12     4  chunk_seq    0, 1, 2... within the thread
 *    16    16  reserved
 *    32   ...  records, each 8-byte aligned
 *
 * Record header (8 bytes), first word stored last with release semantics: a
 * reader that sees a non-zero word sees the whole record.
 *     0   4  word      ITP_RECORD_WORD(type, size); size includes the header
 *     4   4  seq       per-thread record sequence number: 0, 1, 2... across
 *                      the thread's chunks; a gap means a lost record
 * A zero word ends the chunk's records. A record never crosses a chunk.
 *
 * Record types and payloads (offsets from the record start):
 *
 * ITP_REC_THREAD: a thread's first record.
 *     8   4  tid
 *    12   4  reserved
 *    16  16  name       comm of the thread at its first iteration
 *
 * ITP_REC_REGION: binds a region id (per thread) to its name; precedes the
 * first ITERATION using the id.
 *     8   2  region_id
 *    10   2  name_len   bytes of name, without NUL
 *    12   4  reserved
 *    16   -  name       name_len bytes, then NUL, padded to 8
 *
 * ITP_REC_ITERATION: one iteration, variable length (iterprof/trace-codec.h
 * encodes and decodes it; the layout is described there).
 *     8   2  region_id
 *    10   2  flags      ITP_ITER_*
 *    12   -  varints: depth (0 = outermost open region), start_ns (zigzag delta
 *            from the previous ITERATION of the chunk), duration_ns,
 *            time_enabled delta, time_enabled - time_running, then one value
 *            per counter (delta + 1; 0 = ITP_VALUE_UNAVAILABLE); zero padding
 *
 * ITP_REC_ITERATION_BATCH: clock-only iterations at depth 0 (what the -f fast
 * path writes: no counters, outermost), a few bytes each. Written with room
 * for more, then filled in place, one entry at a time.
 *     8   2  flags      ITP_ITER_* of every entry (ITP_ITER_COUNTERS_MISSING)
 *    10   2  reserved
 *    12   4  count      entries filled in; stored after each entry's bytes
 *                       with release semantics: it is the entry's commit
 *    16   -  count entries of three varints: region_id, start_ns (zigzag
 *            delta from the previous iteration of the chunk, ITERATION or
 *            batch entry), duration_ns; then zeros to the record's end
 * The record's size is its room when written (ITP_BATCH_ROOM bytes); when
 * the thread writes any other record after it, the size is first cut to the
 * entries' end (padded to 8). Readers decode count entries and ignore the
 * rest; each entry is an iteration with time_enabled/running 0 and no
 * counter values (ITP_VALUE_UNAVAILABLE). All entries share the record's seq.
 *
 * ITP_REC_DROPPED: iterations lost since the previous record of this thread.
 *     8   4  count
 *     12  4  reason    ITP_DROP_*
 *
 * ITP_REC_FUNCTION: what became of a `-f PATTERN` in this process image,
 * one record per function found (or one per pattern that matched nothing).
 *     8   2  status       ITP_FUNCTION_*
 *    10   2  pattern_len  bytes, without NUL
 *    12   2  name_len     demangled function name (0 for NO_MATCH)
 *    14   2  module_len   path of the object it is in (0 for NO_MATCH)
 *    16   2  reason_len   why it was refused, or the closest names
 *    18   6  reserved
 *    24   -  pattern, name, module, reason: each NUL-terminated, in this
 *            order, then zero padding to 8
 *
 * ITP_REC_NOTE: a one-line message from the shim (e.g. why a thread could not
 * open its counters).
 *     8   4  len       bytes of text, without NUL
 *    12   4  reserved
 *    16   -  text, NUL, padded to 8
 *
 * Call stacks (since 1.4; doc/stacks.md). The shim samples the thread while
 * it is inside an outermost iteration (page faults, context switches, on-CPU
 * time), unwinds the kernel's copy of the user stack at the iteration's end
 * and writes the stacks of the iterations it keeps (ITP_KEPT_*).
 *
 * ITP_REC_MODULE: an object mapped in the process (executable, shared
 * library, vdso), written once per process image before the first STACK
 * that has an address in it. Process-wide: it may sit in any thread's chunks.
 *     8   8  start        lowest address of its PT_LOAD segments
 *    16   8  end          end of the highest (exclusive)
 *    24   8  bias         load bias: address = ELF virtual address + bias
 *    32   2  path_len     bytes of path, without NUL (0: the vdso, or an
 *                         object without a file)
 *    34   1  build_id_len bytes of build-id (0: none; at most 64)
 *    35   5  reserved
 *    40   -  build_id (build_id_len bytes), then path, NUL, padded to 8
 *
 * ITP_REC_STACK: a distinct call stack of this thread, written once, before
 * the first SAMPLES record that refers to it.
 *     8   4  stack_id     1, 2, 3... per thread (0 is never used)
 *    12   2  frame_count  frames that follow (1..ITP_STACK_MAX_FRAMES)
 *    14   2  flags        ITP_STACK_*
 *    16   -  frame_count 8-byte addresses, innermost first: the sampled
 *            instruction, then return addresses (symbolise return
 *            address - 1: the call)
 *
 * ITP_REC_SAMPLES: the samples taken in the iteration of the ITERATION record
 * just before it in the thread's records (same thread, depth 0), aggregated
 * by (stack, kind).
 *     8   4  count        entries that follow
 *    12   2  lost         samples the kernel could not store (ring buffer
 *                         full) or that could not be unwound; saturates
 *    14   2  kept         ITP_KEPT_*: why the shim kept this iteration
 *    16   -  count entries of 8 bytes:
 *              0  4  stack_id
 *              4  1  kind     ITP_SAMPLE_*
 *              5  1  reserved
 *              6  2  samples  how many samples had this stack and kind
 */
#ifndef ITERPROF_TRACE_FORMAT_H
#define ITERPROF_TRACE_FORMAT_H

#include <stdint.h>

#define ITP_MAGIC "ITERPROF"
#define ITP_MAGIC_LEN 8
#define ITP_VERSION_MAJOR 1
#define ITP_VERSION_MINOR 4 /* 1.1: time_source, tsc_hz, ITERATION_BATCH;
			       1.2: ITP_COUNTER_USER_READ;
			       1.3: 8 KiB header with 32 counters, counters
			       cpu, irqs, softirqs, code-events, code-bytes;
			       1.4: call stacks: MODULE, STACK, SAMPLES
			       records, the stacks_* header fields */
#define ITP_HEADER_SIZE 8192u /* what this version writes */
#define ITP_HEADER_PAGE 4096u /* header sizes are multiples of it, >= 1 */
#define ITP_ENDIAN_TAG 0x01020304u
#define ITP_CHUNK_MAGIC 0x43505449u /* "ITPC" */
#define ITP_FOOTER_MAGIC 0x444e4549u /* "IEND" */
#define ITP_DEFAULT_CHUNK_SIZE 65536u
#define ITP_MAX_COUNTERS 32u
#define ITP_COUNTER_DESC_SIZE 128u
#define ITP_CHUNK_HEADER_SIZE 32u
#define ITP_RECORD_HEADER_SIZE 8u
#define ITP_VALUE_UNAVAILABLE UINT64_MAX
#define ITP_NAME_MAX 255u /* longest region name kept; longer ones are cut */

/* Header field offsets. */
#define ITP_OFF_MAGIC 0
#define ITP_OFF_VERSION_MAJOR 8
#define ITP_OFF_VERSION_MINOR 10
#define ITP_OFF_HEADER_SIZE 12
#define ITP_OFF_ENDIAN_TAG 16
#define ITP_OFF_CHUNK_SIZE 20
#define ITP_OFF_FLAGS 24
#define ITP_OFF_COUNTER_COUNT 28
#define ITP_OFF_PID 32
#define ITP_OFF_PPID 36
#define ITP_OFF_EXEC_GENERATION 40
#define ITP_OFF_CLOCK_ID 44
#define ITP_OFF_START_NS 48
#define ITP_OFF_START_REALTIME_NS 56
#define ITP_OFF_CLOCK_READ_COST_NS 64
#define ITP_OFF_UID 68
#define ITP_OFF_CONFIG_FLAGS 72
#define ITP_OFF_HOST 80
#define ITP_OFF_KERNEL 144
#define ITP_OFF_CPU_MODEL 208
#define ITP_OFF_EXE 336
#define ITP_OFF_CMDLINE 592
#define ITP_OFF_COUNTERS_NOTE 1616
#define ITP_OFF_COUNTERS 1744
#define ITP_OFF_COUNTERS_EXT 4096 /* descriptors 16..31, since 1.3 */
#define ITP_COUNTERS_FIRST_PAGE 16u
#define ITP_OFF_TASK_CLOCK_BIAS_NS 3792
#define ITP_OFF_TIME_SOURCE 3796
#define ITP_OFF_TSC_HZ 3800
#define ITP_OFF_STACKS_MODE 3808
#define ITP_OFF_STACKS_ERROR 3812
#define ITP_OFF_FAULT_PERIOD 3816
#define ITP_OFF_CPU_PERIOD_US 3820
#define ITP_OFF_STACK_COPY_BYTES 3824
#define ITP_OFF_STACKS_WHY 3832
#define ITP_STACKS_WHY_LEN 128
#define ITP_OFF_FOOTER 4032

#define ITP_HOST_LEN 64
#define ITP_KERNEL_LEN 64
#define ITP_CPU_MODEL_LEN 128
#define ITP_EXE_LEN 256
#define ITP_CMDLINE_LEN 1024
#define ITP_COUNTERS_NOTE_LEN 128

/* Offset of counter descriptor @i (< ITP_MAX_COUNTERS) in the header. */
static inline unsigned itp_counter_desc_offset(unsigned i)
{
	return i < ITP_COUNTERS_FIRST_PAGE
		       ? ITP_OFF_COUNTERS + ITP_COUNTER_DESC_SIZE * i
		       : ITP_OFF_COUNTERS_EXT + ITP_COUNTER_DESC_SIZE * (i - ITP_COUNTERS_FIRST_PAGE);
}

/* Counter descriptor field offsets (relative to the descriptor). */
#define ITP_CD_OFF_ID 0
#define ITP_CD_OFF_SOURCE 2
#define ITP_CD_OFF_FLAGS 4
#define ITP_CD_OFF_ERROR 8
#define ITP_CD_OFF_NAME 16
#define ITP_CD_OFF_WHY 48
#define ITP_CD_NAME_LEN 32
#define ITP_CD_WHY_LEN 80

/* Footer field offsets (relative to ITP_OFF_FOOTER). */
#define ITP_FT_OFF_MAGIC 0
#define ITP_FT_OFF_REASON 4
#define ITP_FT_OFF_END_NS 8
#define ITP_FT_OFF_ITERATIONS 16
#define ITP_FT_OFF_DROPPED 24
#define ITP_FT_OFF_CHUNKS_USED 32
#define ITP_FOOTER_SIZE 64

/* Chunk header field offsets. */
#define ITP_CH_OFF_MAGIC 0
#define ITP_CH_OFF_TID 4
#define ITP_CH_OFF_THREAD_SEQ 8
#define ITP_CH_OFF_CHUNK_SEQ 12

/* Record word: type in the low 8 bits, total size in bytes in the upper 24. */
#define ITP_RECORD_WORD(type, size) ((uint32_t)(type) | ((uint32_t)(size) << 8))
#define ITP_RECORD_TYPE(word) ((word) & 0xffu)
#define ITP_RECORD_SIZE(word) ((word) >> 8)

enum itp_record_type {
	ITP_REC_THREAD = 1,
	ITP_REC_REGION = 2,
	ITP_REC_ITERATION = 3,
	ITP_REC_DROPPED = 4,
	ITP_REC_NOTE = 5,
	ITP_REC_FUNCTION = 6,
	ITP_REC_ITERATION_BATCH = 7, /* since 1.1 */
	ITP_REC_MODULE = 8,          /* since 1.4 */
	ITP_REC_STACK = 9,           /* since 1.4 */
	ITP_REC_SAMPLES = 10,        /* since 1.4 */
	ITP_REC_TYPE_MAX = 10,
};

/* Call stacks (since 1.4). */
enum itp_stacks_mode {
	ITP_STACKS_OFF = 0,  /* nothing sampled (and no cost) */
	ITP_STACKS_SLOW = 1, /* every outermost iteration sampled; stacks kept
				for the warm-up, slow iterations and a reservoir
				of the others (ITP_KEPT_*) */
	ITP_STACKS_ALL = 2,  /* stacks of every iteration kept */
};

/* The shortest on-CPU sampling period the CLI and the shim accept, in us of
 * CPU time. An on-CPU sample is a timer interrupt that costs 25-33 us on
 * these VMs and is itself counted as the thread's CPU time: at the kernel's
 * floor of 10 us the sampled program never got to run again (a 0.2 s run of
 * examples/rust-criterion did not end in 100 s), at 20 us it ran 1.8 times
 * slower, at 50 us as fast as at 100 us. */
#define ITP_STACK_CPU_US_MIN 50

enum itp_sample_kind {
	ITP_SAMPLE_FAULT = 1,  /* a page fault (1 in fault_period) */
	ITP_SAMPLE_SWITCH = 2, /* the thread left its CPU (blocked, or was
				  preempted): where it was in user space */
	ITP_SAMPLE_CPU = 3,    /* every cpu_period_us of on-CPU time */
	ITP_SAMPLE_KIND_MAX = 3,
};

/* ITP_REC_SAMPLES.kept: why the iteration's stacks were kept. */
#define ITP_KEPT_ALL 1u       /* --stacks=all */
#define ITP_KEPT_WARMUP 2u    /* one of the thread's first iterations */
#define ITP_KEPT_SLOW 4u      /* longer than the shim's running estimate of
				 the typical iteration */
#define ITP_KEPT_RESERVOIR 8u /* a sample of the others, for comparison */

/* ITP_REC_STACK.flags */
#define ITP_STACK_TRUNCATED 1u /* more frames than ITP_STACK_MAX_FRAMES */
#define ITP_STACK_BROKEN 2u    /* unwinding stopped before the outermost
				  frame (no unwind information, e.g. JIT code,
				  or the stack copy was too short) */
#define ITP_STACK_MAX_FRAMES 128u

#define ITP_MODULE_OFF_START 8
#define ITP_MODULE_OFF_END 16
#define ITP_MODULE_OFF_BIAS 24
#define ITP_MODULE_OFF_PATH_LEN 32
#define ITP_MODULE_OFF_BUILD_ID_LEN 34
#define ITP_MODULE_OFF_STRINGS 40
#define ITP_MODULE_BUILD_ID_MAX 64u
#define ITP_STACK_OFF_ID 8
#define ITP_STACK_OFF_FRAME_COUNT 12
#define ITP_STACK_OFF_FLAGS 14
#define ITP_STACK_OFF_FRAMES 16
#define ITP_SAMPLES_OFF_COUNT 8
#define ITP_SAMPLES_OFF_LOST 12
#define ITP_SAMPLES_OFF_KEPT 14
#define ITP_SAMPLES_OFF_ENTRIES 16
#define ITP_SAMPLES_ENTRY_SIZE 8

/* ITP_REC_FUNCTION status. */
enum itp_function_status {
	ITP_FUNCTION_PATCHED = 1, /* calls are iterations */
	ITP_FUNCTION_REFUSED = 2, /* found, cannot be patched safely: reason */
	ITP_FUNCTION_NO_MATCH = 3,/* the pattern matched nothing: reason lists
				     the closest names */
};

/* Record payload offsets. */
#define ITP_REC_OFF_SEQ 4
#define ITP_THREAD_OFF_TID 8
#define ITP_THREAD_OFF_NAME 16
#define ITP_THREAD_NAME_LEN 16
#define ITP_THREAD_RECORD_SIZE 32
#define ITP_REGION_OFF_ID 8
#define ITP_REGION_OFF_NAME_LEN 10
#define ITP_REGION_OFF_NAME 16
#define ITP_ITER_OFF_REGION_ID 8
#define ITP_ITER_OFF_FLAGS 10
#define ITP_BATCH_OFF_FLAGS 8
#define ITP_BATCH_OFF_COUNT 12
#define ITP_BATCH_OFF_ENTRIES 16
#define ITP_BATCH_ROOM 512u
#define ITP_BATCH_ENTRY_MAX 23u /* three varints: 3 + 10 + 10 bytes */
#define ITP_DROPPED_OFF_COUNT 8
#define ITP_DROPPED_OFF_REASON 12
#define ITP_DROPPED_RECORD_SIZE 16
#define ITP_FUNCTION_OFF_STATUS 8
#define ITP_FUNCTION_OFF_PATTERN_LEN 10
#define ITP_FUNCTION_OFF_NAME_LEN 12
#define ITP_FUNCTION_OFF_MODULE_LEN 14
#define ITP_FUNCTION_OFF_REASON_LEN 16
#define ITP_FUNCTION_OFF_STRINGS 24
#define ITP_NOTE_OFF_LEN 8
#define ITP_NOTE_OFF_TEXT 16
/* How a NOTE begins when its thread could not capture call stacks
 * (perf_event_open failed in it: seccomp, perf_event_paranoid, ENOSYS); the
 * reason follows. The analyzer reads a process whose every thread says it
 * as a process without stacks (doc/stacks.md). */
#define ITP_NOTE_NO_STACKS "this thread has no call stacks: "

/* File feature flags (header.flags). */
#define ITP_FILE_LITTLE_ENDIAN (1u << 0)

/* Shim configuration (header.config_flags), set from the environment. */
#define ITP_CONFIG_RUSAGE (1u << 0)     /* getrusage per iteration */
#define ITP_CONFIG_SCHEDSTAT (1u << 1)  /* /proc/thread-self/schedstat */
#define ITP_CONFIG_NO_FOLLOW (1u << 2)  /* exec'd programs not recorded */
#define ITP_CONFIG_ON_SWITCH (1u << 3)  /* rusage/schedstat read only when a
					   context switch happened */

/* How the *_ns stamps were taken (header.time_source). Either way they are
 * clock_id time; 0 is what files of version 1.0 hold. */
enum itp_time_source {
	ITP_TIME_CLOCK = 0, /* clock_gettime(clock_id) at every stamp */
	ITP_TIME_TSC = 1,   /* rdtsc, converted to clock_id time by the shim
			       (calibrated at start, kept within microseconds
			       of clock_id by slewing) */
};

/* What a counter measures. Values are deltas over one iteration. */
enum itp_counter_id {
	ITP_COUNTER_TASK_CLOCK = 1,       /* ns on CPU */
	ITP_COUNTER_MINOR_FAULTS = 2,
	ITP_COUNTER_MAJOR_FAULTS = 3,
	ITP_COUNTER_CONTEXT_SWITCHES = 4,
	ITP_COUNTER_MIGRATIONS = 5,
	ITP_COUNTER_VOLUNTARY_SWITCHES = 6,   /* thread slept */
	ITP_COUNTER_INVOLUNTARY_SWITCHES = 7, /* thread was preempted */
	ITP_COUNTER_RUN_DELAY = 8,            /* ns runnable but waiting */
	ITP_COUNTER_EVENT = 9, /* an event of `record -e`: what it counts is its
				  name (libpfm4 or sysfs syntax); since 1.1 */
	/* since 1.3 */
	ITP_COUNTER_CPU = 10,          /* CPU the iteration ended on: a level,
					  not a delta (value = CPU number) */
	ITP_COUNTER_IRQS = 11,         /* hardware interrupt handlers run while
					  the thread was on its CPU
					  (irq:irq_handler_entry) */
	ITP_COUNTER_SOFTIRQS = 12,     /* softirqs run in the thread's context
					  (irq:softirq_entry) */
	ITP_COUNTER_CODE_EVENTS = 13,  /* calls that made memory executable in
					  the process (mmap/mprotect/mremap
					  with PROT_EXEC, dlopen): process-wide */
	ITP_COUNTER_CODE_BYTES = 14,   /* bytes they made executable */
	ITP_COUNTER_ID_MAX = 14,
};

/* How a counter is read. */
enum itp_counter_source {
	ITP_SOURCE_PERF = 1,      /* perf_event software counter, group read */
	ITP_SOURCE_RUSAGE = 2,    /* getrusage(RUSAGE_THREAD) */
	ITP_SOURCE_SCHEDSTAT = 3, /* /proc/thread-self/schedstat */
	ITP_SOURCE_CPUTIME = 4,   /* clock_gettime(CLOCK_THREAD_CPUTIME_ID), when
				     perf_event_open is not allowed at all */
	ITP_SOURCE_TRACEPOINT = 5, /* perf tracepoint event in the software group
				      (since 1.3) */
	ITP_SOURCE_GETCPU = 6,    /* sched_getcpu() at the end (since 1.3) */
	ITP_SOURCE_INTERPOSE = 7, /* the shim's wrappers of libc calls (since 1.3) */
};

#define ITP_COUNTER_COUNTS (1u << 0)  /* really counts on this machine */
#define ITP_COUNTER_KERNEL (1u << 1)  /* includes kernel mode (exclude_kernel=0) */
#define ITP_COUNTER_USER_READ (1u << 2) /* read in user space (mmap page + rdpmc
					   or the PMU registers), read() when not
					   possible at a given moment; since 1.2 */

/* Iteration flags. */
#define ITP_ITER_COUNTERS_MISSING (1u << 0) /* no counters for this thread */
#define ITP_ITER_READ_FAILED (1u << 1)      /* a counter read failed */
#define ITP_ITER_SCALED (1u << 2)           /* running < enabled: scaled */

/* Why iterations were dropped. */
enum itp_drop_reason {
	ITP_DROP_TRACE_FULL = 1,  /* no space left for the trace */
	ITP_DROP_UNBALANCED = 2,  /* closed by an outer end, never ended */
	ITP_DROP_REENTERED = 3,   /* marker called from inside the shim */
	ITP_DROP_TOO_DEEP = 4,    /* too many regions open at once */
	ITP_DROP_TOO_MANY_REGIONS = 5,
	ITP_DROP_UNWOUND = 6,     /* a patched function left by longjmp or an
				     exception: its end was never seen */
	ITP_DROP_REASON_MAX = 6,
};

/* Why the process stopped writing (footer.reason). */
enum itp_end_reason {
	ITP_END_EXIT = 1, /* normal exit or return from main */
	ITP_END_EXEC = 2, /* replaced by another program (exec*) */
};

#endif /* ITERPROF_TRACE_FORMAT_H */
