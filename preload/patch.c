/*
 * Function interception by name (`iterprof record -f PATTERN`).
 *
 * At start-up (single-threaded, from the shim's initialisation) every loaded
 * object is searched for functions matching the patterns (symbols.c); each is
 * patched at its entry with a jmp to a per-function stub (patch-x86.c builds
 * it, patch-entry-x86_64.S runs it). Objects loaded later with dlopen are
 * searched when they load.
 *
 * Entry: the common trampoline calls patch_on_entry(), which starts an
 * iteration and replaces the caller's return address with the exit
 * trampoline, remembering the original on a per-thread shadow stack. Exit:
 * the function returns into the exit trampoline, which calls patch_on_exit()
 * to end the iteration and returns to the original address.
 *
 * Why return-address replacement and not a wrapper call: calling the
 * function from the trampoline would push another return address and shift
 * every argument passed on the stack; copying them needs the signature.
 * The price is that a frame can be left without returning:
 *  - longjmp out of a patched function, or an exception unwinding through
 *    it: the shadow stack keeps an entry whose slot is no longer a live
 *    frame. It is recognised on the thread's next entry or exit (its slot is
 *    at or below the current stack pointer) and the iteration is counted as
 *    dropped (ITP_DROP_UNWOUND), never as a wrong duration.
 *  - the unwinder must see real return addresses: _Unwind_RaiseException,
 *    _Unwind_ForcedUnwind and _Unwind_Resume_or_Rethrow are wrapped to put
 *    them back first (those iterations end as dropped).
 * Stack switching (makecontext/swapcontext, coroutines) inside a patched
 * function is not supported: the shadow stack assumes one stack per thread.
 *
 * Recursion and re-entry: only the outermost call per thread is an iteration;
 * inner calls are not hooked at all.
 */
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include "patch.h"
#include "stacks.h"
#include "shim.h"
#include "symbols.h"

#define EXPORT __attribute__((visibility("default")))

#define MAX_PATTERNS 64
#define MAX_SITES 4096
#define MAX_MODULES 512
#define ARENA_SIZE (64u * 1024u)
#define STUB_SIZE 32u                 /* push imm32; jmp *[rip]; .quad target */
#define SITE_CODE_SIZE (STUB_SIZE + 112u)
#define REACH ((uintptr_t)1 << 31)    /* rel32 */

struct arena {
	uint8_t *write;     /* RW view */
	uintptr_t exec;     /* RX view, within rel32 reach of its module */
	size_t used;
};

struct module {
	char path[1024];
	uintptr_t bias;
	uintptr_t text_lo, text_hi;
	bool is_main;
	bool is_done;       /* searched already */
	struct symbol_table *symbols;
	struct arena arena;
};

/* Read by the trampolines (RIP-relative, so hidden): the CPU has AVX, and
 * XGETBV with ECX=1 tells which register states are in use. */
uint8_t patch_use_avx;
uint8_t patch_use_xinuse;

static struct {
	unsigned pattern_count;
	struct symbol_pattern patterns[MAX_PATTERNS];
	const char *pattern_text[MAX_PATTERNS];
	unsigned site_count;
	struct module *modules;
	unsigned module_count;
	bool is_reporting;   /* print the outcome on stderr */
	uintptr_t shim_base; /* our own object: never searched */
} patcher;

__thread struct shadow_stack patch_shadow;
struct patch_site *patch_sites;

bool patch_is_active(void)
{
	return patcher.pattern_count > 0;
}

#if defined(__x86_64__)
/* ---- run time --------------------------------------------------------- */

/* The iteration of @e will never end normally. */
static void shadow_abandon(const struct shadow_entry *e)
{
	if (e->is_fast)
		markers_abandon_fast();
	else
		markers_abandon(patch_sites[e->site].region);
}

uintptr_t patch_on_entry(uint64_t index, uintptr_t *slot)
{
	struct shadow_stack *sh = &patch_shadow;
	const struct patch_site *site = &patch_sites[index];
	int saved_errno;

	if (sh->is_busy || __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_READY)
		return site->resume;
	saved_errno = errno;
	sh->is_busy = 1;
	/* Entries whose slot is at or below this one are frames that were
	 * left without returning (longjmp, exception) - except a patched
	 * function tail-calling this one, which shares the slot and already
	 * replaced the return address. */
	while (sh->depth) {
		struct shadow_entry *top = &sh->entries[sh->depth - 1];

		if (top->slot > slot)
			break;
		if (top->slot == slot && *slot == (uintptr_t)patch_exit_trampoline)
			break;
		shadow_abandon(top);
		sh->depth--;
	}
	for (unsigned i = 0; i < sh->depth; i++) {
		if (sh->entries[i].site == index)
			goto out; /* recursion: only the outermost call counts */
	}
	if (sh->depth == SHADOW_DEPTH)
		goto out;
	sh->entries[sh->depth].site = (uint32_t)index;
	sh->entries[sh->depth].is_fast = false;
	sh->entries[sh->depth].slot = slot;
	sh->entries[sh->depth].return_address = *slot;
	sh->depth++;
	*slot = (uintptr_t)patch_exit_trampoline;
	markers_begin(site->region);
	/* Next time, patch_fast_entry can find this function's region. */
	markers_cache_site((uint32_t)index, site->region);
out:
	sh->is_busy = 0;
	errno = saved_errno;
	return site->resume;
}

static void fatal_shadow_mismatch(void)
{
	static const char msg[] =
		"iterprof: a patched function returned to a frame the shim does not know "
		"(stack switching?); cannot continue\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	abort();
}

uintptr_t patch_on_exit(uintptr_t *slot)
{
	struct shadow_stack *sh = &patch_shadow;
	/* patch_fast_exit ran just before and stamped the end: with the TSC as
	 * the clock that stamp is the end, no second read needed. */
	uint64_t end_tsc = sh->exit_tsc;
	uint64_t end_ns = shim_tsc.is_used ? tsc_to_ns(end_tsc) : clock_now_ns();
	struct shadow_entry e;
	int saved_errno = errno;
	int was_busy = sh->is_busy;

	sh->is_busy = 1;
	/* Frames below this one that never returned. */
	while (sh->depth && sh->entries[sh->depth - 1].slot < slot) {
		shadow_abandon(&sh->entries[sh->depth - 1]);
		sh->depth--;
	}
	if (!sh->depth || sh->entries[sh->depth - 1].slot != slot)
		fatal_shadow_mismatch();
	e = sh->entries[--sh->depth];
	if (e.is_fast && was_busy)
		markers_abandon_fast();
	else if (e.is_fast)
		markers_end_fast(e.region, e.begin_tsc, end_tsc);
	else if (!was_busy)
		markers_end(patch_sites[e.site].region, end_ns);
	sh->is_busy = was_busy;
	errno = saved_errno;
	return e.return_address;
}

/* Before the unwinder walks the stack: give it the real return addresses.
 * Top down, so that a tail-call pair sharing a slot ends with the outer
 * caller's address. Only slots still holding the exit trampoline are
 * written: a slot of a frame already gone may hold anything now. */
static void restore_return_addresses(void)
{
	struct shadow_stack *sh = &patch_shadow;

	for (unsigned i = sh->depth; i-- > 0;) {
		struct shadow_entry *e = &sh->entries[i];

		if (*e->slot == (uintptr_t)patch_exit_trampoline)
			*e->slot = e->return_address;
	}
}

#define WRAP_UNWIND(name, type, ...)                                               \
	do {                                                                       \
		static type real;                                                  \
                                                                                   \
		if (!real)                                                         \
			real = (type)dlsym(RTLD_NEXT, name);                       \
		if (!real)                                                         \
			abort(); /* only libgcc_s's callers get here */            \
		restore_return_addresses();                                        \
		return real(__VA_ARGS__);                                          \
	} while (0)

typedef _Unwind_Reason_Code (*raise_fn)(struct _Unwind_Exception *);
typedef _Unwind_Reason_Code (*forced_fn)(struct _Unwind_Exception *, _Unwind_Stop_Fn, void *);

EXPORT _Unwind_Reason_Code _Unwind_RaiseException(struct _Unwind_Exception *e)
{
	WRAP_UNWIND("_Unwind_RaiseException", raise_fn, e);
}

EXPORT _Unwind_Reason_Code _Unwind_Resume_or_Rethrow(struct _Unwind_Exception *e)
{
	WRAP_UNWIND("_Unwind_Resume_or_Rethrow", raise_fn, e);
}

EXPORT _Unwind_Reason_Code _Unwind_ForcedUnwind(struct _Unwind_Exception *e, _Unwind_Stop_Fn stop,
						void *arg)
{
	WRAP_UNWIND("_Unwind_ForcedUnwind", forced_fn, e, stop, arg);
}

/*
 * A handler caught the exception: the frames between the throw and the
 * catching frame are gone, the others live on. __cxa_begin_catch is called
 * from the catching frame, so its stack pointer at the call (our CFA: the
 * shim keeps frame pointers) separates them: entries whose slot is below it
 * were unwound (their iterations are dropped), the others get the exit
 * trampoline back, so that a function that catches inside still ends its
 * iteration normally.
 */
EXPORT void *__cxa_begin_catch(void *exception);
EXPORT void *__cxa_begin_catch(void *exception)
{
	static void *(*real)(void *);
	struct shadow_stack *sh = &patch_shadow;
	uintptr_t *catching_sp = (uintptr_t *)((uintptr_t)__builtin_frame_address(0) + 16);

	if (!real)
		real = (void *(*)(void *))dlsym(RTLD_NEXT, "__cxa_begin_catch");
	if (!real)
		abort(); /* only libstdc++'s landing pads get here */
	if (!sh->is_busy) {
		sh->is_busy = 1;
		while (sh->depth && sh->entries[sh->depth - 1].slot < catching_sp) {
			shadow_abandon(&sh->entries[sh->depth - 1]);
			sh->depth--;
		}
		for (unsigned i = 0; i < sh->depth; i++) {
			struct shadow_entry *e = &sh->entries[i];

			if (*e->slot == e->return_address)
				*e->slot = (uintptr_t)patch_exit_trampoline;
		}
		sh->is_busy = 0;
	}
	return real(exception);
}

/* ---- code memory --------------------------------------------------------- */

/*
 * An arena of code within rel32 reach of [lo, hi): one memfd mapped twice,
 * writable somewhere and executable near the module, so that no page is ever
 * writable and executable at once. Returns 0 or -errno.
 */
static int arena_open(struct arena *a, uintptr_t lo, uintptr_t hi)
{
	int fd = (int)syscall(SYS_memfd_create, "iterprof-code", MFD_CLOEXEC);
	uintptr_t start = (hi + ARENA_SIZE - 1) & ~(uintptr_t)(ARENA_SIZE - 1);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, ARENA_SIZE)) {
		int err = -errno;

		close(fd);
		return err;
	}
	a->write = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a->write == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	a->exec = 0;
	/* Above the module first, then below it, in 64 KiB steps. */
	for (int direction = 0; direction < 2 && !a->exec; direction++) {
		for (uintptr_t step = 0; step < REACH / 2; step += ARENA_SIZE) {
			uintptr_t want = direction == 0 ? start + step
						       : (lo & ~(uintptr_t)(ARENA_SIZE - 1)) -
							 ARENA_SIZE - step;
			void *p;

			if (direction == 1 && want > lo)
				break; /* wrapped below 0 */
			if (want + ARENA_SIZE - lo >= REACH && hi - want >= REACH)
				break;
			/* The raw call: the shim's own code is not the
			 * program's (jit.c counts mmap with PROT_EXEC). */
			p = (void *)syscall(SYS_mmap, (void *)want, ARENA_SIZE,
					    PROT_READ | PROT_EXEC,
					    MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
			if (p == MAP_FAILED)
				continue;
			if ((uintptr_t)p != want) { /* kernel without NOREPLACE */
				munmap(p, ARENA_SIZE);
				continue;
			}
			a->exec = want;
			break;
		}
	}
	close(fd);
	if (!a->exec) {
		munmap(a->write, ARENA_SIZE);
		a->write = NULL;
		return -ENOMEM;
	}
	a->used = 0;
	return 0;
}

/* Write @len bytes of code at @at in a module's text. 0 or -errno. */
static int write_text(uintptr_t at, const uint8_t *bytes, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t first = at & ~(uintptr_t)(page - 1);
	uintptr_t end = (at + len + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);

	/* Raw syscalls: the shim interposes mprotect (jit.c), and must not
	 * see its own calls. */
	if (syscall(SYS_mprotect, first, end - first, PROT_READ | PROT_WRITE | PROT_EXEC))
		return -errno;
	memcpy((void *)at, bytes, len);
	syscall(SYS_mprotect, first, end - first, PROT_READ | PROT_EXEC);
	__builtin___clear_cache((char *)at, (char *)at + len);
	return 0;
}

#endif /* __x86_64__ */

/* ---- reporting --------------------------------------------------------- */

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void report(uint16_t status, const char *pattern, const char *name, const char *module,
		   const char *reason)
{
	markers_write_function(status, pattern, name, module, reason);
	if (patcher.is_reporting) {
		char line[1024];
		int len;

		if (status == ITP_FUNCTION_PATCHED)
			len = snprintf(line, sizeof(line), "iterprof: -f %s: patched %s (%s)\n",
				       pattern, name, base_name(module));
		else if (status == ITP_FUNCTION_REFUSED)
			len = snprintf(line, sizeof(line), "iterprof: -f %s: refused %s (%s): %s\n",
				       pattern, name, base_name(module), reason);
		else
			len = snprintf(line, sizeof(line), "iterprof: -f %s: %s\n", pattern, reason);
		if (len > (int)sizeof(line) - 1)
			len = (int)sizeof(line) - 1;
		if (write(STDERR_FILENO, line, (size_t)len) < 0) {
			/* best effort */
		}
	}
}

/* ---- search and patch ---------------------------------------------------- */

static int collect_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct module *m;
	const char *name = info->dlpi_name;
	bool is_main = !name || !name[0];

	(void)size;
	(void)data;
	if (patcher.module_count == MAX_MODULES || info->dlpi_addr == patcher.shim_base)
		return 0;
	if (!is_main && (strstr(name, "linux-vdso") || strstr(name, "linux-gate") ||
			 strstr(name, "/ld-linux")))
		return 0;
	for (unsigned i = 0; i < patcher.module_count; i++) {
		if (patcher.modules[i].bias == info->dlpi_addr)
			return 0; /* known */
	}
	m = &patcher.modules[patcher.module_count];
	memset(m, 0, sizeof(*m));
	if (is_main) {
		ssize_t n = readlink("/proc/self/exe", m->path, sizeof(m->path) - 1);

		if (n <= 0)
			return 0;
		m->path[n] = '\0';
	} else {
		snprintf(m->path, sizeof(m->path), "%s", name);
	}
	m->is_main = is_main;
	m->bias = info->dlpi_addr;
	m->text_lo = UINTPTR_MAX;
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

			if (lo < m->text_lo)
				m->text_lo = lo;
			if (lo + ph->p_memsz > m->text_hi)
				m->text_hi = lo + ph->p_memsz;
		}
	}
	if (m->text_lo == UINTPTR_MAX)
		return 0;
	patcher.module_count++;
	return 0;
}

static bool is_patched(uintptr_t function)
{
	for (unsigned i = 0; i < patcher.site_count; i++)
		if (patch_sites[i].function == function)
			return true;
	return false;
}

/* Number of threads of this process, from /proc/self/status. */
static int thread_count(void)
{
	char buf[4096];
	const char *p;

	if (sysinfo_read_file("/proc/self/status", buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

#if defined(__x86_64__)
static csh disassembler;
static bool has_disassembler;

/* Patch one function. Returns 0, or -EINVAL with @why. */
static int patch_function(struct module *m, const struct symbol *sym, const char *region,
			  char *why, size_t why_len)
{
	struct x86_plan plan;
	struct patch_site *site;
	uint8_t *stub_w, jmp[5];
	uintptr_t stub;
	int err;

	if (patcher.site_count == MAX_SITES) {
		snprintf(why, why_len, "more than %d functions patched", MAX_SITES);
		return -EINVAL;
	}
	if (!sym->size) {
		snprintf(why, why_len, "its size is unknown (no st_size): cannot check its code");
		return -EINVAL;
	}
	if (!m->arena.write || m->arena.used + SITE_CODE_SIZE > ARENA_SIZE) {
		err = arena_open(&m->arena, m->text_lo, m->text_hi);
		if (err) {
			snprintf(why, why_len, "no memory within reach of the module for its stub: %s",
				 strerror(-err));
			return -EINVAL;
		}
	}
	stub = m->arena.exec + m->arena.used;
	stub_w = m->arena.write + m->arena.used;
	err = x86_plan(disassembler, sym->address, sym->size, stub + STUB_SIZE, &plan, why,
		       why_len);
	if (err)
		return err;
	if ((int64_t)stub - (int64_t)(plan.patch_at + 5) > INT32_MAX ||
	    (int64_t)stub - (int64_t)(plan.patch_at + 5) < INT32_MIN) {
		snprintf(why, why_len, "its stub is out of reach");
		return -EINVAL;
	}
	/* Stub: push $index; jmp *0(%rip); .quad patch_entry_common */
	stub_w[0] = 0x68;
	memcpy(stub_w + 1, &patcher.site_count, 4);
	stub_w[5] = 0xff;
	stub_w[6] = 0x25;
	memset(stub_w + 7, 0, 4);
	{
		uintptr_t common = (uintptr_t)patch_entry_common;

		memcpy(stub_w + 11, &common, 8);
	}
	memcpy(stub_w + STUB_SIZE, plan.resume, plan.resume_len);

	site = &patch_sites[patcher.site_count];
	site->function = sym->address;
	site->resume = stub + STUB_SIZE;
	site->region = strdup(region);
	if (!site->region) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	/* The site must exist before the jmp does: the function may be called
	 * from this very code path (a patched libc function). */
	patcher.site_count++;
	m->arena.used += SITE_CODE_SIZE;
	x86_make_jmp(jmp, plan.patch_at, stub);
	err = write_text(plan.patch_at, jmp, sizeof(jmp));
	if (err) {
		patcher.site_count--;
		free(site->region);
		snprintf(why, why_len, "cannot write its code: mprotect: %s", strerror(-err));
		return err;
	}
	return 0;
}
#endif

/*
 * GCC clones a function it specialises (work.constprop.0, work.isra.0,
 * work.lto_priv.0): a call of the clone is a call of the function, so the
 * clone matches the function's name. Parts of a function (.part.N, .cold)
 * are not functions of their own and never match. Returns the length of the
 * name without clone suffixes, or 0 for a part.
 */
static size_t clone_base_length(const char *name)
{
	static const char *const clone_suffixes[] = { ".constprop.", ".isra.", ".lto_priv." };
	size_t len = strlen(name);

	if (strstr(name, ".part.") || strstr(name, ".cold"))
		return 0;
	for (size_t i = 0; i < sizeof(clone_suffixes) / sizeof(clone_suffixes[0]); i++) {
		const char *p = strstr(name, clone_suffixes[i]);

		if (p && (size_t)(p - name) < len)
			len = (size_t)(p - name);
	}
	return len;
}

/* The last component of a qualified name (after the last "::" outside
 * template arguments and parameter lists), or @name itself. */
static const char *unqualified(const char *name)
{
	const char *last = name;
	int depth = 0;

	for (const char *p = name; *p; p++) {
		if (*p == '<' || *p == '(')
			depth++;
		else if ((*p == '>' || *p == ')') && depth > 0)
			depth--;
		else if (!depth && p[0] == ':' && p[1] == ':')
			last = p + 2;
	}
	return last;
}

/* The symbol matches @glob as is, or - when @glob names no scope - by its
 * unqualified name: `-f training_step` finds crate::module::training_step,
 * `-f step` finds ns::Worker::step, as a debugger's `break` would. */
static bool symbol_matches_unqualified(const struct symbol *sym, const char *glob)
{
	struct symbol last;

	if (symbol_matches(sym, glob))
		return true;
	if (strstr(glob, "::") || unqualified(sym->name) == sym->name)
		return false;
	last = *sym;
	last.name = unqualified(sym->name);
	last.mangled = last.name;
	last.long_name = NULL;
	return symbol_matches(&last, glob);
}

/* Does @sym match @glob, directly or as a clone? Fills @region (the name
 * iterations are recorded under). */
static bool function_matches(const struct symbol *sym, const char *glob, char *region,
			     size_t region_len)
{
	size_t base = clone_base_length(sym->name);
	struct symbol as_function;
	char name[512];

	if (!base)
		return false;
	if (base == strlen(sym->name)) {
		snprintf(region, region_len, "%s", sym->name);
		return symbol_matches_unqualified(sym, glob);
	}
	snprintf(name, sizeof(name), "%.*s", (int)base, sym->name);
	snprintf(region, region_len, "%s", name);
	as_function = *sym;
	as_function.name = name;
	as_function.mangled = name;
	as_function.long_name = NULL;
	return symbol_matches_unqualified(&as_function, glob);
}

/* Search @m for the patterns not yet applied to it. @is_live: other threads
 * may run (dlopen time). */
static unsigned search_module(struct module *m, bool is_live, unsigned *matched_per_pattern)
{
	unsigned found = 0;
	int threads = is_live ? thread_count() : 1;

	m->is_done = true;
	for (unsigned p = 0; p < patcher.pattern_count; p++) {
		const struct symbol_pattern *pat = &patcher.patterns[p];

		if (!symbol_pattern_accepts_module(pat, m->path, m->is_main))
			continue;
		if (!m->symbols && symbol_table_load(m->path, m->bias, &m->symbols))
			return found;
		for (size_t i = 0; i < symbol_table_count(m->symbols); i++) {
			const struct symbol *sym = symbol_table_get(m->symbols, i);
			char why[256] = "", region[512];

			if (!function_matches(sym, pat->glob, region, sizeof(region)))
				continue;
			matched_per_pattern[p]++;
			found++;
			if (is_patched(sym->address))
				continue;
#if defined(__x86_64__)
			if (threads != 1) {
				snprintf(why, sizeof(why),
					 "loaded by dlopen while %d threads run: patching running "
					 "code safely is not supported yet",
					 threads);
			} else if (!has_disassembler) {
				snprintf(why, sizeof(why), "capstone could not be opened");
			} else if (patch_function(m, sym, region, why, sizeof(why)) == 0) {
				report(ITP_FUNCTION_PATCHED, patcher.pattern_text[p], region, m->path,
				       "");
				continue;
			}
#else
			(void)threads;
			snprintf(why, sizeof(why),
				 "function patching is not supported on this architecture yet: "
				 "use the marker API (iterprof/iterprof.h)");
#endif
			report(ITP_FUNCTION_REFUSED, patcher.pattern_text[p], region, m->path, why);
		}
	}
	return found;
}

/* "nothing matched; did you mean: a, b, c?" over the searched modules. */
static void report_no_match(unsigned p)
{
	char reason[512];
	size_t used = (size_t)snprintf(reason, sizeof(reason), "nothing matched");
	unsigned listed = 0;

	for (unsigned i = 0; i < patcher.module_count && listed < 5; i++) {
		const struct module *m = &patcher.modules[i];
		const char *names[3];
		size_t n;

		if (!m->symbols ||
		    !symbol_pattern_accepts_module(&patcher.patterns[p], m->path, m->is_main))
			continue;
		n = symbol_table_closest(m->symbols, patcher.patterns[p].glob, names, 3);
		for (size_t k = 0; k < n && listed < 5 && used < sizeof(reason) - 1; k++, listed++)
			used += (size_t)snprintf(reason + used, sizeof(reason) - used, "%s%s",
						 listed ? ", " : "; did you mean: ", names[k]);
	}
	if (used < sizeof(reason) - 1 && listed)
		snprintf(reason + used, sizeof(reason) - used, "?");
	report(ITP_FUNCTION_NO_MATCH, patcher.pattern_text[p], "", "", reason);
}

static int parse_patterns(void)
{
	char *text = shim_config.functions;

	while (*text && patcher.pattern_count < MAX_PATTERNS) {
		char *end = strchr(text, '\n');

		if (end)
			*end = '\0';
		if (*text && symbol_pattern_parse(text, &patcher.patterns[patcher.pattern_count]) == 0)
			patcher.pattern_text[patcher.pattern_count++] = text;
		if (!end)
			break;
		text = end + 1;
	}
	return 0;
}

void patch_init(void)
{
	unsigned matched[MAX_PATTERNS] = { 0 };
	Dl_info self;

	if (!shim_config.functions[0])
		return;
	parse_patterns();
	if (!patcher.pattern_count)
		return;
	patcher.is_reporting = shim_config.is_verbose ||
			       (shim_config.launcher_pid && getppid() == shim_config.launcher_pid);
	if (dladdr((void *)patch_init, &self))
		patcher.shim_base = (uintptr_t)self.dli_fbase;
	patch_sites = mmap(NULL, MAX_SITES * sizeof(struct patch_site), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	patcher.modules = mmap(NULL, MAX_MODULES * sizeof(struct module), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (patch_sites == MAP_FAILED || patcher.modules == MAP_FAILED) {
		patcher.pattern_count = 0;
		return;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	patch_use_avx = __builtin_cpu_supports("avx") ? 1 : 0;
	{
		unsigned a, b, c, d;

		/* CPUID.(EAX=0DH,ECX=1):EAX bit 2: XGETBV with ECX=1. */
		patch_use_xinuse = __get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a & 4) ? 1 : 0;
	}
	has_disassembler = x86_disassembler_open(&disassembler) == 0;
#endif
	dl_iterate_phdr(collect_module, NULL);
	for (unsigned i = 0; i < patcher.module_count; i++)
		search_module(&patcher.modules[i], false, matched);
	for (unsigned p = 0; p < patcher.pattern_count; p++)
		if (!matched[p])
			report_no_match(p);
}

void patch_after_dlopen(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned matched[MAX_PATTERNS] = { 0 };
	unsigned before;

	if (!patcher.pattern_count)
		return;
	pthread_mutex_lock(&lock);
	before = patcher.module_count;
	dl_iterate_phdr(collect_module, NULL);
	for (unsigned i = before; i < patcher.module_count; i++)
		search_module(&patcher.modules[i], true, matched);
	pthread_mutex_unlock(&lock);
}

EXPORT void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);
	const void *caller = __builtin_return_address(0);
	char path[4096];
	const char *name = file;
	struct jit_dlopen code;
	void *handle;
	int saved_errno = errno;

	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	if (!real)
		return NULL;
	jit_before_dlopen(&code);
	/* glibc searches for the object that called dlopen, which is now us:
	 * search for the program's caller instead (dlopen-search.c). */
	if (dlopen_search(file, caller, path, sizeof(path)) == 0)
		name = path;
	errno = saved_errno;
	handle = real(name, mode);
	if (handle) {
		saved_errno = errno;
		jit_after_dlopen(&code);
		/* In glibc a dlopen handle is the object's struct link_map
		 * (dlinfo RTLD_DI_LINKMAP returns it as is); dlinfo itself
		 * would reset the thread's dlerror state. */
		if (file && !strchr(file, '/'))
			dlopen_search_remember(file, ((struct link_map *)handle)->l_name);
		errno = saved_errno;
	}
	if (handle && patch_is_active() &&
	    __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_READY) {
		saved_errno = errno;
		patch_after_dlopen();
		errno = saved_errno;
	}
	return handle;
}

/*
 * For stacks.c: while a patched function runs, its caller's return address
 * on the stack is patch_exit_trampoline, and an unwinder that meets it
 * stops there (the trampoline's frame is not the caller's). In a sample's
 * copy of the stack [sp, sp + size), put back the real return addresses:
 * of the calls still open and of the one that just ended (the iteration
 * whose samples these are; its entry is still in the array, above depth).
 * A slot is rewritten only when the copy holds the trampoline there.
 */
void patch_restore_return_addresses(uint8_t *copy, uint64_t sp, uint64_t size)
{
#if defined(__x86_64__) /* the trampolines exist there only */
	const struct shadow_stack *sh = &patch_shadow;
	unsigned n = sh->depth < SHADOW_DEPTH ? sh->depth + 1 : SHADOW_DEPTH;

	for (unsigned i = 0; i < n; i++) {
		uint64_t slot = (uint64_t)(uintptr_t)sh->entries[i].slot;
		uintptr_t value;

		if (slot < sp || slot + sizeof(value) > sp + size)
			continue;
		memcpy(&value, copy + (slot - sp), sizeof(value));
		if (value == (uintptr_t)patch_exit_trampoline)
			memcpy(copy + (slot - sp), &sh->entries[i].return_address, sizeof(value));
	}
#else
	(void)copy, (void)sp, (void)size;
#endif
}
