/*
 * Initialisation, fork and exit.
 *
 * Initialisation is lazy and guarded: the constructor normally does it, but
 * another library's constructor may call a marker first, and a thread may race
 * the constructor of a dlopen'ed copy. The state moves UNINITIALISED ->
 * INITIALISING -> READY (or DISABLED) exactly once; a marker called from
 * inside initialisation (same thread) passes through instead of deadlocking.
 *
 * Exit: the destructor marks the process FINISHED first (markers called by
 * other threads or later destructors pass through), then writes the footer.
 * Nothing is freed: threads still running must not touch freed state.
 * Durability does not depend on this running at all (see trace-writer.c).
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "patch.h"
#include "shim.h"

int shim_state = SHIM_UNINITIALISED;
static __thread int tls_initialising __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void)
{
	/* Hold both locks across fork so the child never inherits one that a
	 * now-vanished thread was holding. */
	markers_registry_lock();
	trace_writer_lock();
}

static void atfork_parent(void)
{
	trace_writer_unlock();
	markers_registry_unlock();
}

static void atfork_child(void)
{
	/* Only closes fds and resets plain state: no allocation, no lock that
	 * another thread could hold. The child's file is created at its first
	 * iteration, so forked helpers that never iterate leave no file. */
	trace_writer_after_fork_child();
	markers_after_fork_child();
}

static void shim_init(void)
{
	int err;

	tls_initialising = 1;
	config_load();
	if (!shim_config.is_enabled) {
		__atomic_store_n(&shim_state, SHIM_DISABLED, __ATOMIC_RELEASE);
		return;
	}
	clock_init();
	trace_writer_prepare_template();
	err = trace_writer_open();
	if (err) {
		shim_log("not recording: cannot create a trace file in %s: %s",
			 shim_config.output_dir, strerror(-err));
		__atomic_store_n(&shim_state, SHIM_DISABLED, __ATOMIC_RELEASE);
		return;
	}
	markers_init_thread_key();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	tls_initialising = 0;
	__atomic_store_n(&shim_state, SHIM_READY, __ATOMIC_RELEASE);
	/* Still single-threaded (a constructor): patch the -f functions. */
	patch_init();
}

bool shim_ensure_ready(void)
{
	int expected = SHIM_UNINITIALISED;
	int state = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);

	if (state == SHIM_READY)
		return true;
	if (state == SHIM_UNINITIALISED &&
	    __atomic_compare_exchange_n(&shim_state, &expected, SHIM_INITIALISING, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		shim_init();
		return __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_READY;
	}
	if (tls_initialising)
		return false;
	/* Another thread is initialising: it does not wait on us, and
	 * initialisation is a handful of syscalls. */
	while ((state = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE)) == SHIM_INITIALISING)
		sched_yield();
	return state == SHIM_READY;
}

__attribute__((constructor)) static void shim_constructor(void)
{
	bool is_ready = shim_ensure_ready();

	/* --no-follow: programs this one execs run without us. Also when the
	 * shim is inert, so that it does not spread further. */
	if (shim_config.is_enabled && !shim_config.follow_exec)
		config_stop_following();
	if (is_ready)
		shim_log("recording into %s", shim_config.output_dir);
}

__attribute__((destructor)) static void shim_destructor(void)
{
	uint64_t iterations, dropped;
	int expected = SHIM_READY;

	if (!__atomic_compare_exchange_n(&shim_state, &expected, SHIM_FINISHED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	markers_totals(&iterations, &dropped);
	trace_writer_close(iterations, dropped, ITP_END_EXIT);
}

bool shim_before_exec(void)
{
	uint64_t iterations, dropped;

	if (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_READY)
		return false;
	markers_totals(&iterations, &dropped);
	return trace_writer_close(iterations, dropped, ITP_END_EXEC);
}

void shim_after_failed_exec(bool was_closed)
{
	if (was_closed)
		trace_writer_reopen();
}
