/*
 * Call stacks of iterations (doc/stacks.md): where a thread faulted, went
 * off its CPU, or spent its CPU time inside an outermost iteration.
 *
 * How, and why this way. Each thread opens three software perf events
 * writing into one ring buffer - page faults (1 in fault_period),
 * context switches (every one) and task-clock (every cpu_period_us) - each
 * sample carrying the user registers and a copy of the top of the user
 * stack (PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER). The kernel writes
 * the samples; nothing runs in the program's context meanwhile. The
 * alternative, overflow signals to the thread and unwinding in the handler,
 * was rejected: a signal delivered to a thread that sleeps in nanosleep,
 * poll or a pipe read makes those calls fail with EINTR (SA_RESTART does
 * not cover nanosleep, poll, select...), which changes what the program
 * does; it also needs a signal number the program does not use and a
 * handler that survives the program's own sigaction calls. Here the
 * program's signals, masks, alternate stacks and errno are never touched.
 *
 * The events stay enabled: an outermost iteration's begin discards what the
 * ring holds (moves its tail to its head: no syscall), and its end drains
 * what came since (enabling and disabling them per iteration cost two
 * ioctls, 6-7 us a pair on these VMs: 7 % of a 100 us iteration). Samples
 * between iterations are the price: a fault or a switch there is sampled
 * and thrown away. At the end, for an iteration whose stacks are kept
 * (ITP_KEPT_*), each sample is unwound here, in the marker's ordinary
 * context, with libunwind over a "remote" address space whose memory is
 * the stack copy plus this process's own code and unwind tables (CFI from
 * .eh_frame, so frame pointers are not needed); the frames are deduplicated
 * in a per-thread table and written once as STACK records; the iteration's
 * samples, aggregated by (stack, kind), follow its ITERATION record.
 *
 * libunwind (the generic x86-64 flavour, libunwind-x86_64.so.8) is loaded
 * with dlopen(RTLD_LOCAL) when stacks are on, not linked: linking it would
 * put its _Unwind_* functions in the program's global scope, ahead of
 * libgcc_s, under every C++ exception of the program.
 *
 * Cost: stacks off - nothing is opened, markers test one pointer. On: the
 * kernel's copy of stack_copy_bytes per sample, and the unwinding of kept
 * iterations' samples after the iteration's end stamp (doc/stacks.md has
 * the measured figures).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iterprof/perf-events.h"
#include "shim.h"
#include "stacks.h"

#if defined(__x86_64__) && __has_include(<libunwind.h>)
#define STACKS_CAN_UNWIND 1
#include <libunwind.h>
#else
#define STACKS_CAN_UNWIND 0
#endif

#define RING_PAGES_MAX 512u        /* 2 MiB of samples between drains */
#define RING_PAGES_MIN 16u
#define WARMUP_KEPT 20u            /* first outermost iterations always kept */
#define RESERVOIR_EVERY 10u        /* one in this many of the others */
#define SLOW_NUM 13u               /* slow: longer than 1.3 x the median */
#define SLOW_DEN 10u
#define RECENT 31u                 /* iterations behind that median */
#define MAX_ENTRIES 1024u          /* distinct (stack, kind) per iteration */
#define TABLE_SLOTS 8192u          /* distinct stacks deduplicated per thread */
#define ARENA_FRAMES (1u << 17)
#define MAX_MODULES 512u
#define MAX_SEGMENTS 2048u
#define MODULE_PATH_MAX 512u

/* ---- modules: what is mapped, for the records and for safe reads -------- */

struct module {
	uint64_t start, end, bias;
	uint32_t written_gen; /* trace_writer_generation() + 1 when written */
	uint8_t build_id_len;
	uint8_t build_id[ITP_MODULE_BUILD_ID_MAX];
	char path[MODULE_PATH_MAX];
};

struct segment {
	uint64_t start, end; /* a readable PT_LOAD segment */
};

/* A snapshot of dl_iterate_phdr. Published whole and never changed after
 * (a thread may be reading it while another builds the next one); replaced
 * ones are kept, which costs memory only per dlopen/dlclose seen. */
struct module_table {
	unsigned long long adds, subs;
	unsigned count, segment_count;
	struct module modules[MAX_MODULES];
	struct segment segments[MAX_SEGMENTS];
};

static struct module_table *module_table;
static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;

struct loaded_count {
	unsigned long long adds, subs;
};

static int read_loaded_count(struct dl_phdr_info *info, size_t size, void *data)
{
	struct loaded_count *c = data;

	(void)size;
	c->adds = info->dlpi_adds;
	c->subs = info->dlpi_subs;
	return 1; /* the first object says it */
}

static void note_build_id(struct module *m, const struct dl_phdr_info *info, const ElfW(Phdr) *ph)
{
	const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
	const uint8_t *end = p + ph->p_memsz;

	while (p + sizeof(ElfW(Nhdr)) <= end) {
		const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
		const uint8_t *name = p + sizeof(*n);
		const uint8_t *desc = name + ((n->n_namesz + 3u) & ~3u);

		if (desc + n->n_descsz > end)
			return;
		if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
		    n->n_descsz && n->n_descsz <= ITP_MODULE_BUILD_ID_MAX) {
			m->build_id_len = (uint8_t)n->n_descsz;
			memcpy(m->build_id, desc, n->n_descsz);
			return;
		}
		p = desc + ((n->n_descsz + 3u) & ~3u);
	}
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct module_table *t = data;
	struct module *m;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)size;
	t->adds = info->dlpi_adds;
	t->subs = info->dlpi_subs;
	if (t->count == MAX_MODULES)
		return 0;
	m = &t->modules[t->count];
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE && !m->build_id_len)
			note_build_id(m, info, ph);
		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		if ((ph->p_flags & PF_R) && t->segment_count < MAX_SEGMENTS) {
			t->segments[t->segment_count].start = info->dlpi_addr + ph->p_vaddr;
			t->segments[t->segment_count].end =
				info->dlpi_addr + ph->p_vaddr + ph->p_filesz;
			t->segment_count++;
		}
	}
	if (hi <= lo)
		return 0;
	m->start = lo;
	m->end = hi;
	m->bias = info->dlpi_addr;
	if (t->count == 0) {
		/* The program itself: dlpi_name is "". */
		ssize_t n = readlink("/proc/self/exe", m->path, sizeof(m->path) - 1);

		m->path[n > 0 ? n : 0] = '\0';
	} else if (info->dlpi_name && info->dlpi_name[0] == '/') {
		snprintf(m->path, sizeof(m->path), "%s", info->dlpi_name);
	} /* else the vdso ("linux-vdso.so.1"): no file, path "" */
	t->count++;
	return 0;
}

/* The current table, rebuilt when objects were loaded or unloaded since. */
static struct module_table *modules_current(void)
{
	struct module_table *t = __atomic_load_n(&module_table, __ATOMIC_ACQUIRE);
	struct loaded_count now = { 0, 0 };
	struct module_table *fresh;
	void *p;

	dl_iterate_phdr(read_loaded_count, &now);
	if (t && t->adds == now.adds && t->subs == now.subs)
		return t;
	pthread_mutex_lock(&module_lock);
	t = module_table;
	if (t && t->adds == now.adds && t->subs == now.subs)
		goto out;
	p = mmap(NULL, sizeof(*fresh), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		goto out; /* the old table, or none: unwinding reads less */
	fresh = p;
	dl_iterate_phdr(add_module, fresh);
	/* Keep what was written: the same object at the same place. */
	for (unsigned i = 0; t && i < fresh->count; i++) {
		for (unsigned j = 0; j < t->count; j++) {
			if (t->modules[j].start == fresh->modules[i].start &&
			    !strcmp(t->modules[j].path, fresh->modules[i].path)) {
				fresh->modules[i].written_gen = t->modules[j].written_gen;
				break;
			}
		}
	}
	__atomic_store_n(&module_table, fresh, __ATOMIC_RELEASE);
	t = fresh;
out:
	pthread_mutex_unlock(&module_lock);
	return t;
}

#if STACKS_CAN_UNWIND
static bool is_readable(const struct module_table *t, uint64_t addr, size_t len)
{
	for (unsigned i = 0; t && i < t->segment_count; i++) {
		if (addr >= t->segments[i].start && addr + len <= t->segments[i].end)
			return true;
	}
	return false;
}
#endif

/* ---- libunwind, loaded on demand ---------------------------------------- */

#if STACKS_CAN_UNWIND
static struct {
	__typeof__(unw_create_addr_space) *create_addr_space;
	__typeof__(unw_get_accessors) *get_accessors;
	__typeof__(unw_init_remote) *init_remote;
	__typeof__(unw_step) *step;
	__typeof__(unw_get_reg) *get_reg;
	__typeof__(unw_set_caching_policy) *set_caching_policy;
	unw_addr_space_t as;
} uw;

/* perf's x86-64 user registers we ask for, and their order in a sample:
 * AX BX CX DX SI DI BP SP IP (0-8) and R8-R15 (16-23). */
#define REG_MASK_OF_ARCH 0xff01ffull
#define REG_COUNT 17u

/* What the accessors read: one sample. */
struct sample_view {
	uint64_t regs[REG_COUNT]; /* PERF_REG_X86_* order, masked */
	const uint8_t *stack;
	uint64_t stack_size;  /* valid bytes from sp */
	uint64_t sp;
	const struct module_table *modules;
};

static int perf_index_of_unw(int reg)
{
	static const signed char map[17] = {
		[UNW_X86_64_RAX] = 0, [UNW_X86_64_RDX] = 3, [UNW_X86_64_RCX] = 2,
		[UNW_X86_64_RBX] = 1, [UNW_X86_64_RSI] = 4, [UNW_X86_64_RDI] = 5,
		[UNW_X86_64_RBP] = 6, [UNW_X86_64_RSP] = 7, [UNW_X86_64_R8] = 9,
		[UNW_X86_64_R9] = 10, [UNW_X86_64_R10] = 11, [UNW_X86_64_R11] = 12,
		[UNW_X86_64_R12] = 13, [UNW_X86_64_R13] = 14, [UNW_X86_64_R14] = 15,
		[UNW_X86_64_R15] = 16, [UNW_X86_64_RIP] = 8,
	};

	/* Index into the packed sample: bits 0-8 are 0-8, bits 16-23 are
	 * 9-16. */
	return reg >= 0 && reg < 17 ? map[reg] : -1;
}

static int acc_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	const struct sample_view *v = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (addr >= v->sp && addr + sizeof(*val) <= v->sp + v->stack_size) {
		memcpy(val, v->stack + (addr - v->sp), sizeof(*val));
		return 0;
	}
	/* Code, .eh_frame and libunwind's own data: this process's mapped
	 * objects, read directly. Anything else (a guess through a frame
	 * pointer that is not one) is refused, never dereferenced. */
	if (is_readable(v->modules, addr, sizeof(*val))) {
		memcpy(val, (const void *)(uintptr_t)addr, sizeof(*val));
		return 0;
	}
	return -UNW_EINVAL;
}

static int acc_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	const struct sample_view *v = arg;
	int i = perf_index_of_unw(reg);

	(void)as;
	if (write || i < 0)
		return -UNW_EBADREG;
	*val = v->regs[i];
	return 0;
}

static int acc_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write, void *arg)
{
	(void)as, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as, (void)c, (void)arg;
	return -UNW_EINVAL;
}

static int acc_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *off, void *arg)
{
	(void)as, (void)addr, (void)buf, (void)len, (void)off, (void)arg;
	return -UNW_ENOINFO; /* names are the analyzer's job */
}

static const char *unwinder_load(void)
{
	static const char lib[] = "libunwind-x86_64.so.8";
	/* The real dlopen: the shim's own (patch.c) would count a code event
	 * and look for -f functions in libunwind. */
	void *(*real_dlopen)(const char *, int) =
		(void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	void *h = real_dlopen ? real_dlopen(lib, RTLD_NOW | RTLD_LOCAL) : NULL;
	unw_addr_space_t *local;
	unw_accessors_t acc;

	if (!h)
		return "libunwind-x86_64.so.8 not found (install libunwind8)";
#define SYM(field, name)                                                  \
	do {                                                              \
		*(void **)&uw.field = dlsym(h, name);                     \
		if (!uw.field)                                            \
			return "libunwind-x86_64.so.8 lacks " name;       \
	} while (0)
	SYM(create_addr_space, "_Ux86_64_create_addr_space");
	SYM(get_accessors, "_Ux86_64_get_accessors");
	SYM(init_remote, "_Ux86_64_init_remote");
	SYM(step, "_Ux86_64_step");
	SYM(get_reg, "_Ux86_64_get_reg");
	SYM(set_caching_policy, "_Ux86_64_set_caching_policy");
#undef SYM
	local = dlsym(h, "_Ux86_64_local_addr_space");
	if (!local || !*local)
		return "libunwind-x86_64.so.8 has no local address space";
	/* The local address space's way to find unwind tables (its objects
	 * through dl_iterate_phdr, which are ours), with our memory and
	 * registers: those of the sample. */
	acc = *uw.get_accessors(*local);
	acc.access_mem = acc_mem;
	acc.access_reg = acc_reg;
	acc.access_fpreg = acc_fpreg;
	acc.resume = acc_resume;
	acc.get_proc_name = acc_proc_name;
	uw.as = uw.create_addr_space(&acc, 0);
	if (!uw.as)
		return "libunwind could not create an address space";
	uw.set_caching_policy(uw.as, UNW_CACHE_GLOBAL);
	return NULL;
}
#else
#define REG_MASK_OF_ARCH 0ull
#endif /* STACKS_CAN_UNWIND */

/* ---- per thread ----------------------------------------------------------- */

struct table_slot {
	uint64_t hash;
	uint32_t id;    /* 0: empty */
	uint32_t first; /* index in the arena */
	uint16_t count;
	uint16_t flags;
};

struct sample_entry {
	uint32_t stack_id;
	uint8_t kind;
	uint32_t samples;
};

struct stack_sampler {
	int fd[3];             /* switches (owns the ring), faults, task-clock */
	uint64_t id[3];        /* their sample ids */
	uint8_t *ring;
	size_t ring_bytes;     /* mapping: one meta page + data */
	size_t data_bytes;
	uint64_t outer;        /* outermost iterations seen */
	uint64_t recent[RECENT];
	uint64_t typical_ns;
	bool is_cpu_on;        /* task-clock samples (see cpu_sampling_wanted) */
	uint32_t next_stack_id;
	uint32_t lost;
	uint16_t kept;
	unsigned entry_count;
	struct sample_entry entries[MAX_ENTRIES];
	struct table_slot *table; /* TABLE_SLOTS, mapped at first use */
	uint64_t *arena;          /* ARENA_FRAMES */
	uint32_t arena_used;
	uint8_t scratch[65536];   /* a record that wraps around the ring */
	uint8_t stack_buf[STACK_COPY_BYTES]; /* with -f: return addresses fixed */
};

/* Switches own the ring; task-clock is toggled by itself
 * (cpu_sampling_wanted). */
#define CPU_EVENT 2
static const uint64_t sw_config[3] = {
	PERF_COUNT_SW_CONTEXT_SWITCHES, PERF_COUNT_SW_PAGE_FAULTS, PERF_COUNT_SW_TASK_CLOCK,
};
static const uint8_t sw_kind[3] = { ITP_SAMPLE_SWITCH, ITP_SAMPLE_FAULT, ITP_SAMPLE_CPU };

static struct {
	bool is_available;    /* stacks are on and the unwinder loaded */
	int error;
} stacks_setup;

void stacks_probe(uint8_t *header)
{
	const char *why = NULL;

	stacks_setup.is_available = false;
	stacks_setup.error = 0;
	put_u32(header + ITP_OFF_STACKS_MODE, shim_config.stacks_mode);
	if (shim_config.stacks_mode == ITP_STACKS_OFF)
		return;
	put_u32(header + ITP_OFF_FAULT_PERIOD, shim_config.stack_fault_period);
	put_u32(header + ITP_OFF_CPU_PERIOD_US, shim_config.stack_cpu_us);
	put_u32(header + ITP_OFF_STACK_COPY_BYTES, STACK_COPY_BYTES);
#if STACKS_CAN_UNWIND
	why = unwinder_load();
	if (why)
		stacks_setup.error = ENOENT;
#else
	why = "call stacks are captured on x86-64 only in this version";
	stacks_setup.error = EOPNOTSUPP;
#endif
	if (why) {
		put_u32(header + ITP_OFF_STACKS_ERROR, (uint32_t)stacks_setup.error);
		snprintf((char *)header + ITP_OFF_STACKS_WHY, ITP_STACKS_WHY_LEN, "%s", why);
		return;
	}
	stacks_setup.is_available = true;
}

static int sampler_open_events(struct stack_sampler *s, bool exclude_kernel)
{
	for (int i = 0; i < 3; i++) {
		struct perf_event_attr attr =
			itp_perf_attr(PERF_TYPE_SOFTWARE, sw_config[i], 0, 0, 0, exclude_kernel);

		attr.size = sizeof(attr);
		attr.sample_period = i == CPU_EVENT ? (uint64_t)shim_config.stack_cpu_us * 1000u
				   : i == 1 ? shim_config.stack_fault_period : 1;
		attr.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_REGS_USER |
				   PERF_SAMPLE_STACK_USER;
		attr.sample_regs_user = REG_MASK_OF_ARCH;
		attr.sample_stack_user = STACK_COPY_BYTES;
		attr.exclude_hv = 1;
		if (shim_config.inject_perf_errno) {
			errno = shim_config.inject_perf_errno;
			return -errno;
		}
		/* Not a group: nothing toggles them together, and a task-clock
		 * sibling of software events was seen enabled but never
		 * running (time_running 0) in 3 runs out of 8 of one program,
		 * on Linux 6.18. */
		s->fd[i] = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
		if (s->fd[i] < 0)
			return -errno;
		if (ioctl(s->fd[i], PERF_EVENT_IOC_ID, &s->id[i]) < 0)
			return -errno;
	}
	return 0;
}

static void sampler_close_fds(struct stack_sampler *s)
{
	for (int i = 2; i >= 0; i--) {
		if (s->fd[i] >= 0)
			close(s->fd[i]);
		s->fd[i] = -1;
	}
}

int stacks_thread_open(struct stack_sampler **out)
{
	struct stack_sampler *s;
	void *p;
	int err;

	*out = NULL;
	/* Off, or unavailable to the whole process: the header says why,
	 * once, rather than a note per thread. */
	if (!stacks_setup.is_available)
		return 0;
	p = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	s = p;
	s->fd[0] = s->fd[1] = s->fd[2] = -1;
	/* Context switches are kernel events: as non-root with
	 * perf_event_paranoid >= 2 only exclude_kernel opens, and those
	 * samples never come (faults and CPU time do). */
	err = sampler_open_events(s, false);
	if (err == -EACCES || err == -EPERM) {
		sampler_close_fds(s);
		err = sampler_open_events(s, true);
	}
	if (err)
		goto fail;
	/* The largest ring the locked-memory limit allows, down to 64 KiB. */
	for (unsigned pages = RING_PAGES_MAX; pages >= RING_PAGES_MIN; pages /= 2) {
		size_t bytes = (size_t)(pages + 1) * 4096u;

		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd[0], 0);
		if (p != MAP_FAILED) {
			s->ring = p;
			s->ring_bytes = bytes;
			s->data_bytes = (size_t)pages * 4096u;
			break;
		}
	}
	if (!s->ring) {
		err = -errno;
		goto fail;
	}
	for (int i = 1; i < 3; i++) {
		if (ioctl(s->fd[i], PERF_EVENT_IOC_SET_OUTPUT, s->fd[0]) < 0) {
			err = -errno;
			goto fail;
		}
	}
	s->is_cpu_on = true;
	*out = s;
	return 0;
fail:
	if (s->ring)
		munmap(s->ring, s->ring_bytes);
	sampler_close_fds(s);
	munmap(s, sizeof(*s));
	return err;
}

/* Give back what @s holds; the ring only where it is mapped (not in a
 * forked child: perf maps are not copied by fork). */
static void sampler_free(struct stack_sampler *s, bool has_ring)
{
	if (!s)
		return;
	if (has_ring && s->ring)
		munmap(s->ring, s->ring_bytes);
	sampler_close_fds(s);
	if (s->table)
		munmap(s->table, TABLE_SLOTS * sizeof(*s->table));
	if (s->arena)
		munmap(s->arena, ARENA_FRAMES * sizeof(*s->arena));
	munmap(s, sizeof(*s));
}

void stacks_thread_close(struct stack_sampler *s)
{
	sampler_free(s, true);
}

void stacks_drop_inherited(struct stack_sampler *s)
{
	/* A forked child: the events follow the parent's thread; the state
	 * itself is the child's copy. */
	sampler_free(s, false);
}

/*
 * On-CPU samples only where iterations typically last half a period or
 * more: a sample costs the iteration it lands in 25-29 us on these VMs (a
 * timer interrupt; 1-3 us on hardware), the same for all when every
 * iteration takes some, but an outlier when one short iteration in twenty
 * takes one - iterprof would be making the slow iterations it reports
 * (measured: 6-9 % of a 5 us benchmark's iterations slow with them, under
 * 1 % without). A disabled task-clock starts no timer.
 */
static bool cpu_sampling_wanted(const struct stack_sampler *s)
{
	return !s->typical_ns || s->typical_ns * 2 >= (uint64_t)shim_config.stack_cpu_us * 1000u;
}

void stacks_start(struct stack_sampler *s)
{
	bool want = cpu_sampling_wanted(s);
	struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)s->ring;

	if (want != s->is_cpu_on) {
		ioctl(s->fd[CPU_EVENT], want ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
		s->is_cpu_on = want;
	}
	/* What came before the iteration is not its. */
	__atomic_store_n(&meta->data_tail, __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

/* ---- the end of an iteration ---------------------------------------------- */

static bool keep_iteration(struct stack_sampler *s, uint64_t duration_ns)
{
	uint64_t n = s->outer++;
	bool is_slow = s->typical_ns && duration_ns * SLOW_DEN > s->typical_ns * SLOW_NUM;

	s->recent[n % RECENT] = duration_ns;
	if ((n + 1) % (n < 2 * RECENT ? 4 : 32) == 0) {
		unsigned count = n + 1 < RECENT ? (unsigned)n + 1 : RECENT;
		uint64_t v[RECENT];

		/* The median of the last (up to) RECENT: an insertion sort of
		 * 31 at most (~300 ns), every 4 iterations at first, then
		 * every 32: for an empty iteration of 2.6 us, every 4 was 3 %
		 * of its cost (scripts/bench-overhead). */
		memcpy(v, s->recent, count * sizeof(v[0]));
		for (unsigned i = 1; i < count; i++) {
			uint64_t x = v[i];
			unsigned j = i;

			for (; j && v[j - 1] > x; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		s->typical_ns = v[count / 2];
	}
	s->kept = 0;
	if (shim_config.stacks_mode == ITP_STACKS_ALL)
		s->kept |= ITP_KEPT_ALL;
	if (n < WARMUP_KEPT)
		s->kept |= ITP_KEPT_WARMUP;
	if (is_slow)
		s->kept |= ITP_KEPT_SLOW;
	if (!s->kept && n % RESERVOIR_EVERY == RESERVOIR_EVERY / 2)
		s->kept |= ITP_KEPT_RESERVOIR;
	return s->kept != 0;
}

static uint64_t hash_frames(const uint64_t *f, unsigned n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	for (unsigned i = 0; i < n; i++) {
		h ^= f[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

static bool write_modules(struct chunk_cursor *c, pid_t tid, struct module_table *t)
{
	uint32_t gen = trace_writer_generation() + 1;

	for (unsigned i = 0; t && i < t->count; i++) {
		struct module *m = &t->modules[i];
		uint32_t seen = __atomic_load_n(&m->written_gen, __ATOMIC_ACQUIRE);
		uint32_t path_len = (uint32_t)strlen(m->path);
		uint32_t size = (ITP_MODULE_OFF_STRINGS + m->build_id_len + path_len + 1 + 7u) & ~7u;
		uint8_t *rec;

		if (seen == gen ||
		    !__atomic_compare_exchange_n(&m->written_gen, &seen, gen, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		rec = trace_writer_reserve(c, tid, size);
		if (!rec) {
			__atomic_store_n(&m->written_gen, seen, __ATOMIC_RELEASE);
			return false;
		}
		memset(rec, 0, size);
		put_u64(rec + ITP_MODULE_OFF_START, m->start);
		put_u64(rec + ITP_MODULE_OFF_END, m->end);
		put_u64(rec + ITP_MODULE_OFF_BIAS, m->bias);
		put_u16(rec + ITP_MODULE_OFF_PATH_LEN, (uint16_t)path_len);
		rec[ITP_MODULE_OFF_BUILD_ID_LEN] = m->build_id_len;
		memcpy(rec + ITP_MODULE_OFF_STRINGS, m->build_id, m->build_id_len);
		memcpy(rec + ITP_MODULE_OFF_STRINGS + m->build_id_len, m->path, path_len);
		trace_writer_commit(c, rec, ITP_REC_MODULE, size);
	}
	return true;
}

/* The id of this stack in the thread's table; a STACK record is written the
 * first time. 0 when it could not be written. */
static uint32_t stack_id_of(struct stack_sampler *s, const uint64_t *frames, unsigned n,
			    uint16_t flags, struct chunk_cursor *c, pid_t tid)
{
	uint64_t h = hash_frames(frames, n);
	struct table_slot *slot = NULL;
	uint32_t size = ITP_STACK_OFF_FRAMES + 8u * n;
	uint8_t *rec;

	if (!s->table) {
		void *t = mmap(NULL, TABLE_SLOTS * sizeof(*s->table), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *a = mmap(NULL, ARENA_FRAMES * sizeof(*s->arena), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (t == MAP_FAILED || a == MAP_FAILED) {
			if (t != MAP_FAILED)
				munmap(t, TABLE_SLOTS * sizeof(*s->table));
			if (a != MAP_FAILED)
				munmap(a, ARENA_FRAMES * sizeof(*s->arena));
			return 0;
		}
		s->table = t;
		s->arena = a;
	}
	for (unsigned probe = 0; probe < TABLE_SLOTS; probe++) {
		struct table_slot *e = &s->table[(h + probe) & (TABLE_SLOTS - 1)];

		if (!e->id) {
			slot = e;
			break;
		}
		if (e->hash == h && e->count == n && e->flags == flags &&
		    !memcmp(s->arena + e->first, frames, 8u * n))
			return e->id;
	}
	/* New. Past the table's room (a full table, or arena) it is written
	 * again each time under a new id: correct, only larger. */
	rec = trace_writer_reserve(c, tid, size);
	if (!rec)
		return 0;
	put_u32(rec + ITP_STACK_OFF_ID, ++s->next_stack_id);
	put_u16(rec + ITP_STACK_OFF_FRAME_COUNT, (uint16_t)n);
	put_u16(rec + ITP_STACK_OFF_FLAGS, flags);
	memcpy(rec + ITP_STACK_OFF_FRAMES, frames, 8u * n);
	trace_writer_commit(c, rec, ITP_REC_STACK, size);
	if (slot && s->arena_used + n <= ARENA_FRAMES && s->next_stack_id < TABLE_SLOTS * 3 / 4) {
		slot->hash = h;
		slot->id = s->next_stack_id;
		slot->first = s->arena_used;
		slot->count = (uint16_t)n;
		slot->flags = flags;
		memcpy(s->arena + s->arena_used, frames, 8u * n);
		s->arena_used += n;
	}
	return s->next_stack_id;
}

static void count_sample(struct stack_sampler *s, uint32_t stack_id, uint8_t kind)
{
	for (unsigned i = s->entry_count; i-- > 0;) {
		struct sample_entry *e = &s->entries[i];

		if (e->stack_id == stack_id && e->kind == kind) {
			e->samples++;
			return;
		}
	}
	if (s->entry_count == MAX_ENTRIES) {
		s->lost++;
		return;
	}
	s->entries[s->entry_count++] = (struct sample_entry){ stack_id, kind, 1 };
}

#if STACKS_CAN_UNWIND
static bool in_module(const struct module_table *t, uint64_t addr)
{
	for (unsigned i = 0; t && i < t->count; i++) {
		if (addr >= t->modules[i].start && addr < t->modules[i].end)
			return true;
	}
	return false;
}

/*
 * Out of a frame of code that no module holds (JIT code, an interpreter's
 * generated code), by its frame pointer, or not at all. libunwind has no
 * unwind information there and guesses (a leaf function's return address
 * at the stack pointer, measured: it took a saved %rbp for a return
 * address and skipped the caller); a frame-pointer chain inside the stack
 * copy is the one guess that can be checked. Moves the registers of @v to
 * the caller's frame: 0, or -1 when there is no plausible chain.
 */
static int step_by_frame_pointer(struct sample_view *v, uint64_t rsp, uint64_t rbp, uint64_t *ret)
{
	uint64_t saved_rbp;

	if (rbp < rsp || rbp < v->sp || rbp + 16 > v->sp + v->stack_size)
		return -1;
	memcpy(&saved_rbp, v->stack + (rbp - v->sp), 8);
	memcpy(ret, v->stack + (rbp - v->sp) + 8, 8);
	if (!*ret)
		return -1;
	v->regs[8] = *ret;       /* IP */
	v->regs[7] = rbp + 16;   /* SP: past the saved %rbp and the return address */
	v->regs[6] = saved_rbp;  /* BP */
	return 0;
}

static unsigned unwind(struct sample_view *v, uint64_t ip, uint64_t *frames, uint16_t *flags)
{
	unw_cursor_t cursor;
	unsigned n = 0;
	int r;

	frames[n++] = ip;
	*flags = 0;
	if (uw.init_remote(&cursor, uw.as, v) < 0) {
		*flags |= ITP_STACK_BROKEN;
		return n;
	}
	for (;;) {
		unw_word_t pc, rsp, rbp;

		if (!in_module(v->modules, frames[n - 1])) {
			uint64_t ret;

			if (uw.get_reg(&cursor, UNW_X86_64_RSP, &rsp) < 0 ||
			    uw.get_reg(&cursor, UNW_X86_64_RBP, &rbp) < 0 ||
			    step_by_frame_pointer(v, rsp, rbp, &ret) < 0) {
				*flags |= ITP_STACK_BROKEN;
				break;
			}
			if (n == ITP_STACK_MAX_FRAMES) {
				*flags |= ITP_STACK_TRUNCATED;
				break;
			}
			frames[n++] = ret;
			/* On from the caller, with the registers just set (the
			 * callee-saved others as the sample had them). */
			if (uw.init_remote(&cursor, uw.as, v) < 0) {
				*flags |= ITP_STACK_BROKEN;
				break;
			}
			continue;
		}
		r = uw.step(&cursor);
		if (r == 0)
			break; /* the outermost frame */
		if (r < 0 || uw.get_reg(&cursor, UNW_REG_IP, &pc) < 0) {
			*flags |= ITP_STACK_BROKEN;
			break;
		}
		if (!pc)
			break;
		if (n == ITP_STACK_MAX_FRAMES) {
			*flags |= ITP_STACK_TRUNCATED;
			break;
		}
		frames[n++] = pc;
	}
	return n;
}
#endif

/* One PERF_RECORD_SAMPLE of a kept iteration: unwind, count. */
static void take_sample(struct stack_sampler *s, const uint8_t *p, const uint8_t *end,
			struct module_table *modules, struct chunk_cursor *c, pid_t tid)
{
	uint64_t id, ip, abi, size;
	uint8_t kind = 0;
	uint64_t frames[ITP_STACK_MAX_FRAMES];
	unsigned n = 0;
	uint16_t flags = ITP_STACK_BROKEN;
	uint32_t stack_id;
#if STACKS_CAN_UNWIND
	struct sample_view v = { .modules = modules };
#endif

	(void)modules;
	if (p + 24 > end)
		goto lost;
	memcpy(&id, p, 8);
	memcpy(&ip, p + 8, 8);
	memcpy(&abi, p + 16, 8);
	p += 24;
	for (int i = 0; i < 3; i++) {
		if (id == s->id[i])
			kind = sw_kind[i];
	}
	if (!kind)
		goto lost;
	if (abi == PERF_SAMPLE_REGS_ABI_NONE)
		goto lost; /* no user context (a kernel-only moment) */
#if STACKS_CAN_UNWIND
	if (p + 8u * REG_COUNT > end)
		goto lost;
	/* A copy: unwinding through generated code moves them. */
	memcpy(v.regs, p, sizeof(v.regs));
	p += 8u * REG_COUNT;
	if (p + 8 > end)
		goto lost;
	memcpy(&size, p, 8);
	p += 8;
	v.stack = p;
	if (size && p + size + 8 <= end) {
		memcpy(&v.stack_size, p + size, 8);
		if (v.stack_size > size)
			v.stack_size = size;
	}
	v.sp = v.regs[7];
	if (patch_is_active()) {
		/* The ring's pages are read-only: fix a copy of the copy. */
		if (v.stack_size > sizeof(s->stack_buf))
			v.stack_size = sizeof(s->stack_buf);
		memcpy(s->stack_buf, v.stack, v.stack_size);
		v.stack = s->stack_buf;
		patch_restore_return_addresses(s->stack_buf, v.sp, v.stack_size);
	}
	/* The user IP, not the sample's: a fault or a switch taken in the
	 * kernel reports a kernel IP there. */
	n = unwind(&v, v.regs[8], frames, &flags);
#else
	(void)size;
	(void)ip;
	goto lost;
#endif
	stack_id = stack_id_of(s, frames, n, flags, c, tid);
	if (!stack_id)
		goto lost;
	count_sample(s, stack_id, kind);
	return;
lost:
	s->lost++;
}

bool stacks_finish(struct stack_sampler *s, uint64_t duration_ns, struct chunk_cursor *c,
		   pid_t tid)
{
	struct perf_event_mmap_page *meta = (struct perf_event_mmap_page *)s->ring;
	const uint8_t *data = s->ring + 4096;
	uint64_t head, tail;
	bool keep;
	struct module_table *modules = NULL;

	keep = keep_iteration(s, duration_ns) && c;
	s->entry_count = 0;
	s->lost = 0;
	head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	tail = meta->data_tail;
	if (keep && head != tail) {
		modules = modules_current();
		if (!write_modules(c, tid, modules))
			keep = false;
	}
	while (tail < head) {
		struct perf_event_header h;
		size_t off = (size_t)(tail % s->data_bytes);
		const uint8_t *rec;

		if (off + sizeof(h) <= s->data_bytes) {
			memcpy(&h, data + off, sizeof(h));
		} else {
			size_t first = s->data_bytes - off;

			memcpy(&h, data + off, first);
			memcpy((uint8_t *)&h + first, data, sizeof(h) - first);
		}
		if (h.size < sizeof(h) || tail + h.size > head)
			break; /* never happens with a sane kernel; stop */
		if (off + h.size <= s->data_bytes) {
			rec = data + off;
		} else {
			size_t first = s->data_bytes - off;

			memcpy(s->scratch, data + off, first);
			memcpy(s->scratch + first, data, h.size - first);
			rec = s->scratch;
		}
		if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
			uint64_t lost;

			memcpy(&lost, rec + sizeof(h) + 8, 8);
			s->lost += (uint32_t)lost;
		} else if (h.type == PERF_RECORD_SAMPLE && keep) {
			take_sample(s, rec + sizeof(h), rec + h.size, modules, c, tid);
		}
		tail += h.size;
	}
	__atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
	/* Nothing sampled, nothing lost: no record (16 bytes an iteration of
	 * the reservoir, in a benchmark of short iterations that are never
	 * sampled). */
	return keep && (s->entry_count || s->lost);
}

bool stacks_write_samples(struct stack_sampler *s, struct chunk_cursor *c, pid_t tid)
{
	uint32_t size = ITP_SAMPLES_OFF_ENTRIES + ITP_SAMPLES_ENTRY_SIZE * s->entry_count;
	unsigned n = 0;
	uint8_t *rec = trace_writer_reserve(c, tid, size);

	if (!rec)
		return false;
	for (unsigned i = 0; i < s->entry_count; i++) {
		const struct sample_entry *e = &s->entries[i];

		/* A count past 65535 (hours of one iteration) is cut, not
		 * split: the share it gives is what matters. */
		put_u32(rec + ITP_SAMPLES_OFF_ENTRIES + 8u * n, e->stack_id);
		rec[ITP_SAMPLES_OFF_ENTRIES + 8u * n + 4] = e->kind;
		rec[ITP_SAMPLES_OFF_ENTRIES + 8u * n + 5] = 0;
		put_u16(rec + ITP_SAMPLES_OFF_ENTRIES + 8u * n + 6,
			(uint16_t)(e->samples > 65535u ? 65535u : e->samples));
		n++;
	}
	put_u32(rec + ITP_SAMPLES_OFF_COUNT, n);
	put_u16(rec + ITP_SAMPLES_OFF_LOST, (uint16_t)(s->lost > 65535u ? 65535u : s->lost));
	put_u16(rec + ITP_SAMPLES_OFF_KEPT, s->kept);
	trace_writer_commit(c, rec, ITP_REC_SAMPLES, size);
	return true;
}
