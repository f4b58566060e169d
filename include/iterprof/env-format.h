/*
 * The iterprof environment timeline: what `iterprof record` samples of the
 * machine around the command while it runs (steal, interrupt and softirq
 * time per CPU, pressure, cgroup throttling, the command's threads' CPU time
 * and run delay, JIT code maps), written by the launcher (analyzer/
 * env-sampler.c) and read by the analyzer (analyzer/env-timeline.c). This
 * header is the contract; doc/environment.md says the same in prose. Change
 * one, change the other, and bump the version.
 *
 * The file is <recording>/iterprof-env.timeline, created 0600 with O_EXCL
 * next to the iterprof-<pid>[.<n>].trace files. It is written by the
 * launcher, never by the shim: nothing of it runs inside the benchmark.
 *
 * All integers are little-endian; all offsets are in bytes. Every *_ns time
 * stamp is clock_id (CLOCK_MONOTONIC) time, the clock of the traces'
 * start_ns, so samples and iterations can be joined directly.
 *
 * A value the sampler could not read is stored as ITP_ENV_MISSING
 * (UINT64_MAX), never as 0; SOURCE records say why. A value it did not read
 * in this sample on purpose is ITP_ENV_NOT_SAMPLED (UINT64_MAX - 1):
 * irq_count when /proc/interrupts is too costly to read every sample. And
 * the pressure totals and the cgroup's cpu.stat are read only in the samples
 * that rescan (every ~50 ms, flag ITP_ENV_SAMPLE_RESCAN): their SYSTEM
 * fields hold ITP_ENV_NOT_SAMPLED in the other samples, and CGROUP_STAT
 * records are written in rescan samples only. A reader skips NOT_SAMPLED, so
 * those quantities have fewer samples than the others.
 *
 * ---------------------------------------------------------------------------
 * File layout
 *
 *   [0, header_size)   file header (64 bytes)
 *   [header_size, ...) records, back to back, each a multiple of 8 bytes
 *
 * Records are appended with write(), the samples of ~50 ms at once (at each
 * rescan). The launcher can be killed at any moment, so the last record may
 * be cut short: a reader reads up to the last whole record and ignores the
 * rest.
 *
 * ---------------------------------------------------------------------------
 * File header (ITP_ENV_HEADER_SIZE = 64 bytes)
 *
 *   off  size  field
 *     0     8  magic           "ITPENV01"
 *     8     2  version_major   ITP_ENV_VERSION_MAJOR; readers refuse others
 *    10     2  version_minor   ITP_ENV_VERSION_MINOR; newer minors only add
 *    12     4  header_size     64 (records start there)
 *    16     4  endian_tag      0x01020304 as written by the writer
 *    20     4  clock_id        clockid_t of every time_ns (CLOCK_MONOTONIC)
 *    24     8  interval_ns     the sampling interval asked for
 *    32     8  start_ns        clock_id time when sampling started
 *    40     4  cpu_count       CPU records describe CPUs 0..cpu_count-1
 *    44     4  clk_tck         sysconf(_SC_CLK_TCK): the USER_HZ of /proc/stat,
 *                              already converted to ns in CPU records
 *    48     4  pid             the command's pid (the launcher's child)
 *    52     4  flags           0 (reserved)
 *    56     8  reserved        0
 *
 * ---------------------------------------------------------------------------
 * Records. Header (16 bytes):
 *
 *     0   2  type      ITP_ENV_REC_*
 *     2   2  reserved  0
 *     4   4  size      total bytes, header included; a multiple of 8, >= 16
 *     8   8  time_ns   when the values were read: the middle of the read()
 *                      that returned them (SAMPLE: the sample's start)
 *
 * Each sample starts with a SAMPLE record; the records up to the next SAMPLE
 * belong to it. Per sample: CPU records (one per CPU), SYSTEM, CGROUP_STAT
 * (rescan samples only), then TASK records of the threads whose values changed since their last
 * TASK record and CODE records of the processes whose code maps changed.
 * A TASK (or CODE) record that is not written stands for "same values as
 * before": a reader carries the previous values forward to every sample in
 * which the thread is alive (from its first TASK record to its TASK_END, or
 * the end of the file) — the thread did not run, so nothing changed.
 *
 * ITP_ENV_REC_SAMPLE (40 bytes): a sample begins.
 *    16   4  seq             0, 1, 2...
 *    20   4  flags           ITP_ENV_SAMPLE_*
 *    24   8  sampler_cpu_ns  CPU time the sampler thread had used when the
 *                            sample began (cumulative; its own cost)
 *    32   8  reserved
 *
 * ITP_ENV_REC_SOURCE (variable): whether a source could be read, written for
 * every source in the first sample and whenever that changes.
 *    16   2  source    ITP_ENV_SRC_*
 *    18   2  flags     ITP_ENV_SOURCE_AVAILABLE when it was read
 *    20   4  error     errno of the failure, or 0 (e.g. ENOENT: not on this
 *                      machine; the values are then ITP_ENV_MISSING)
 *    24   2  name_len  bytes of name, without NUL
 *    26   2  why_len   bytes of why, without NUL
 *    28   4  reserved
 *    32   -  name, NUL, why, NUL, zero padding to 8
 *
 * ITP_ENV_REC_CPU (88 bytes): one CPU. Times are cumulative since boot.
 *    16   4  cpu
 *    20   4  reserved
 *    24   8  steal_ns        /proc/stat, USER_HZ resolution
 *    32   8  irq_ns          /proc/stat, USER_HZ resolution
 *    40   8  softirq_ns      /proc/stat, USER_HZ resolution
 *    48   8  idle_ns         /proc/stat, USER_HZ resolution
 *    56   8  irq_count       /proc/interrupts: the CPU's column, all rows;
 *                            ITP_ENV_NOT_SAMPLED in the samples where it was
 *                            not read (one read walks every possible IRQ
 *                            number: 82 us on the 2-vCPU VM, so it is read
 *                            every k-th sample, k chosen at start to keep it
 *                            under 0.1 % of a CPU, at least every ~250 ms)
 *    64   8  softirq_count   /proc/softirqs: the CPU's column, all rows
 *    72   8  freq_khz        cpufreq scaling_cur_freq (a level)
 *    80   8  throttle_count  thermal_throttle core + package throttle counts
 *
 * ITP_ENV_REC_SYSTEM (80 bytes):
 *    16   8  procs_running   /proc/stat (a level)
 *    24   8  procs_blocked   /proc/stat (a level)
 *    32   8  psi_cpu_some_ns /proc/pressure/cpu "some total=" (cumulative;
 *                            this and the 5 below are NOT_SAMPLED but in
 *                            rescan samples)
 *    40   8  psi_cpu_full_ns
 *    48   8  psi_io_some_ns
 *    56   8  psi_io_full_ns
 *    64   8  psi_mem_some_ns
 *    72   8  psi_mem_full_ns
 *
 * ITP_ENV_REC_CGROUP (variable): the command's cgroup (the one its first pid
 * is in; the one of the cpu controller on cgroup v1) and its CPU quota,
 * written in the first sample and whenever one of them changes.
 *    16   8  quota_us        ITP_ENV_MISSING without a quota ("max", -1)
 *    24   8  period_us
 *    32   4  version         1 or 2 (cgroup v1 or v2), 0 when not found
 *    36   2  path_len        bytes of path, without NUL
 *    38   2  reserved
 *    40   -  path            the cgroup's directory, e.g.
 *                            /sys/fs/cgroup/cpu/bench; NUL, padding to 8
 *
 * ITP_ENV_REC_CGROUP_STAT (40 bytes): that cgroup's cpu.stat (cumulative),
 * in rescan samples (~50 ms; it moves once per CFS period, 100 ms default).
 *    16   8  nr_periods
 *    24   8  nr_throttled
 *    32   8  throttled_ns    v1 throttled_time, v2 throttled_usec * 1000
 *
 * ITP_ENV_REC_TASK (48 bytes): one thread of the command (of any process
 * descended from it).
 *    16   4  pid
 *    20   4  tid
 *    24   8  cpu_ns          on-CPU time, /proc/PID/task/TID/schedstat
 *                            field 1 (exact ns, cumulative)
 *    32   8  run_delay_ns    time runnable but waiting, schedstat field 2
 *    40   8  last_cpu        CPU it last ran on, stat field 39 (a level)
 *
 * ITP_ENV_REC_THREAD_NAME (40 bytes): a thread's comm, at its first TASK
 * record and whenever it changes (threads rename themselves).
 *    16   4  pid
 *    20   4  tid
 *    24  16  comm            NUL-padded
 *
 * ITP_ENV_REC_TASK_END (24 bytes): the thread is gone; no value is carried
 * forward after this.
 *    16   4  pid
 *    20   4  tid
 *
 * ITP_ENV_REC_CODE (56 bytes): JIT code maps of one process, cumulative.
 *    16   4  pid
 *    20   4  reserved
 *    24   8  map_entries     lines "START SIZE name" of /tmp/perf-<pid>.map
 *    32   8  map_bytes       sum of their SIZE
 *    40   8  dump_entries    JIT_CODE_LOAD records of /tmp/jit-<pid>.dump
 *    48   8  dump_bytes      sum of their code_size
 * ITP_ENV_MISSING where the file does not exist (or cannot be read).
 */
#ifndef ITERPROF_ENV_FORMAT_H
#define ITERPROF_ENV_FORMAT_H

#include <stdint.h>

#define ITP_ENV_FILE_NAME "iterprof-env.timeline"
#define ITP_ENV_MAGIC "ITPENV01"
#define ITP_ENV_MAGIC_LEN 8
#define ITP_ENV_VERSION_MAJOR 1
#define ITP_ENV_VERSION_MINOR 0
#define ITP_ENV_HEADER_SIZE 64u
#define ITP_ENV_ENDIAN_TAG 0x01020304u
#define ITP_ENV_MISSING UINT64_MAX
#define ITP_ENV_NOT_SAMPLED (UINT64_MAX - 1)
#define ITP_ENV_RECORD_HEADER_SIZE 16u

/* Header field offsets. */
#define ITP_ENV_OFF_MAGIC 0
#define ITP_ENV_OFF_VERSION_MAJOR 8
#define ITP_ENV_OFF_VERSION_MINOR 10
#define ITP_ENV_OFF_HEADER_SIZE 12
#define ITP_ENV_OFF_ENDIAN_TAG 16
#define ITP_ENV_OFF_CLOCK_ID 20
#define ITP_ENV_OFF_INTERVAL_NS 24
#define ITP_ENV_OFF_START_NS 32
#define ITP_ENV_OFF_CPU_COUNT 40
#define ITP_ENV_OFF_CLK_TCK 44
#define ITP_ENV_OFF_PID 48
#define ITP_ENV_OFF_FLAGS 52

/* Record header field offsets. */
#define ITP_ENV_REC_OFF_TYPE 0
#define ITP_ENV_REC_OFF_SIZE 4
#define ITP_ENV_REC_OFF_TIME_NS 8

enum itp_env_record_type {
	ITP_ENV_REC_SAMPLE = 1,
	ITP_ENV_REC_SOURCE = 2,
	ITP_ENV_REC_CPU = 3,
	ITP_ENV_REC_SYSTEM = 4,
	ITP_ENV_REC_CGROUP = 5,
	ITP_ENV_REC_CGROUP_STAT = 6,
	ITP_ENV_REC_TASK = 7,
	ITP_ENV_REC_THREAD_NAME = 8,
	ITP_ENV_REC_TASK_END = 9,
	ITP_ENV_REC_CODE = 10,
	ITP_ENV_REC_TYPE_MAX = 10,
};

/* SAMPLE */
#define ITP_ENV_SAMPLE_OFF_SEQ 16
#define ITP_ENV_SAMPLE_OFF_FLAGS 20
#define ITP_ENV_SAMPLE_OFF_SAMPLER_CPU_NS 24
#define ITP_ENV_SAMPLE_SIZE 40
#define ITP_ENV_SAMPLE_RESCAN (1u << 0) /* task lists, cgroup, pressure and
					   cpu.stat read in this sample */
#define ITP_ENV_SAMPLE_LAST (1u << 1)   /* taken after the command ended */

/* SOURCE */
#define ITP_ENV_SOURCE_OFF_SOURCE 16
#define ITP_ENV_SOURCE_OFF_FLAGS 18
#define ITP_ENV_SOURCE_OFF_ERROR 20
#define ITP_ENV_SOURCE_OFF_NAME_LEN 24
#define ITP_ENV_SOURCE_OFF_WHY_LEN 26
#define ITP_ENV_SOURCE_OFF_STRINGS 32
#define ITP_ENV_SOURCE_AVAILABLE (1u << 0)

/* What a SOURCE record is about. The record also carries the name, so a
 * reader needs no table (and shows sources of newer minors by name). */
enum itp_env_source {
	ITP_ENV_SRC_STAT = 1,             /* /proc/stat: cpuN lines, procs_* */
	ITP_ENV_SRC_INTERRUPTS = 2,       /* /proc/interrupts */
	ITP_ENV_SRC_SOFTIRQS = 3,         /* /proc/softirqs */
	ITP_ENV_SRC_CPUFREQ = 4,          /* cpuN/cpufreq/scaling_cur_freq */
	ITP_ENV_SRC_THERMAL_THROTTLE = 5, /* cpuN/thermal_throttle/ *_count */
	ITP_ENV_SRC_PRESSURE_CPU = 6,     /* /proc/pressure/cpu */
	ITP_ENV_SRC_PRESSURE_IO = 7,
	ITP_ENV_SRC_PRESSURE_MEMORY = 8,
	ITP_ENV_SRC_CGROUP = 9,           /* the command's cgroup cpu.stat */
	ITP_ENV_SRC_TASK_SCHEDSTAT = 10,  /* /proc/PID/task/TID/schedstat */
	ITP_ENV_SRC_TASK_STAT = 11,       /* /proc/PID/task/TID/stat */
	ITP_ENV_SRC_MAX = 11,
};

/* CPU */
#define ITP_ENV_CPU_OFF_CPU 16
#define ITP_ENV_CPU_OFF_STEAL_NS 24
#define ITP_ENV_CPU_OFF_IRQ_NS 32
#define ITP_ENV_CPU_OFF_SOFTIRQ_NS 40
#define ITP_ENV_CPU_OFF_IDLE_NS 48
#define ITP_ENV_CPU_OFF_IRQ_COUNT 56
#define ITP_ENV_CPU_OFF_SOFTIRQ_COUNT 64
#define ITP_ENV_CPU_OFF_FREQ_KHZ 72
#define ITP_ENV_CPU_OFF_THROTTLE_COUNT 80
#define ITP_ENV_CPU_SIZE 88

/* SYSTEM */
#define ITP_ENV_SYSTEM_OFF_PROCS_RUNNING 16
#define ITP_ENV_SYSTEM_OFF_PROCS_BLOCKED 24
#define ITP_ENV_SYSTEM_OFF_PSI_CPU_SOME 32
#define ITP_ENV_SYSTEM_OFF_PSI_CPU_FULL 40
#define ITP_ENV_SYSTEM_OFF_PSI_IO_SOME 48
#define ITP_ENV_SYSTEM_OFF_PSI_IO_FULL 56
#define ITP_ENV_SYSTEM_OFF_PSI_MEM_SOME 64
#define ITP_ENV_SYSTEM_OFF_PSI_MEM_FULL 72
#define ITP_ENV_SYSTEM_SIZE 80

/* CGROUP */
#define ITP_ENV_CGROUP_OFF_QUOTA_US 16
#define ITP_ENV_CGROUP_OFF_PERIOD_US 24
#define ITP_ENV_CGROUP_OFF_VERSION 32
#define ITP_ENV_CGROUP_OFF_PATH_LEN 36
#define ITP_ENV_CGROUP_OFF_PATH 40

/* CGROUP_STAT */
#define ITP_ENV_CGSTAT_OFF_NR_PERIODS 16
#define ITP_ENV_CGSTAT_OFF_NR_THROTTLED 24
#define ITP_ENV_CGSTAT_OFF_THROTTLED_NS 32
#define ITP_ENV_CGSTAT_SIZE 40

/* TASK */
#define ITP_ENV_TASK_OFF_PID 16
#define ITP_ENV_TASK_OFF_TID 20
#define ITP_ENV_TASK_OFF_CPU_NS 24
#define ITP_ENV_TASK_OFF_RUN_DELAY_NS 32
#define ITP_ENV_TASK_OFF_LAST_CPU 40
#define ITP_ENV_TASK_SIZE 48

/* THREAD_NAME */
#define ITP_ENV_NAME_OFF_PID 16
#define ITP_ENV_NAME_OFF_TID 20
#define ITP_ENV_NAME_OFF_COMM 24
#define ITP_ENV_COMM_LEN 16
#define ITP_ENV_NAME_SIZE 40

/* TASK_END */
#define ITP_ENV_END_OFF_PID 16
#define ITP_ENV_END_OFF_TID 20
#define ITP_ENV_END_SIZE 24

/* CODE */
#define ITP_ENV_CODE_OFF_PID 16
#define ITP_ENV_CODE_OFF_MAP_ENTRIES 24
#define ITP_ENV_CODE_OFF_MAP_BYTES 32
#define ITP_ENV_CODE_OFF_DUMP_ENTRIES 40
#define ITP_ENV_CODE_OFF_DUMP_BYTES 48
#define ITP_ENV_CODE_SIZE 56

/* Limits a reader enforces before it trusts a field. */
#define ITP_ENV_MAX_CPUS 65536u
#define ITP_ENV_MAX_RECORD 65536u /* no record is larger */

/* The file's fields are little-endian whatever the host: these read and
 * write them (the writer, the reader and the tests' tools share them). */
static inline uint16_t itp_env_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t itp_env_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t itp_env_get64(const uint8_t *p)
{
	return (uint64_t)itp_env_get32(p) | (uint64_t)itp_env_get32(p + 4) << 32;
}

static inline void itp_env_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void itp_env_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void itp_env_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif /* ITERPROF_ENV_FORMAT_H */
