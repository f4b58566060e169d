/*
 * The trace file of this process image (format: include/iterprof/trace-format.h).
 *
 * Crash safety comes from the page cache, not from exit hooks: the file is
 * written through MAP_SHARED mappings, so a record is in the kernel the moment
 * its commit word is stored and survives SIGKILL, SIGSEGV, _exit and exec
 * (stdio buffers would not). Space is reserved with posix_fallocate before it
 * is mapped: on a full disk that call fails with ENOSPC and we stop writing
 * (counting what we drop), where a sparse ftruncate'd file would raise SIGBUS
 * inside the benchmark at the first store.
 *
 * Each thread writes its own chunk, so the per-iteration path takes no lock
 * and no atomic read-modify-write; the lock is taken once per chunk (every
 * ~580 iterations with 64 KiB chunks) and space is reserved a segment of
 * SEGMENT_CHUNKS chunks at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"
#include "stacks.h"

#define SEGMENT_CHUNKS 16u
#ifdef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE_VALUE MADV_POPULATE_WRITE
#else
#define MADV_POPULATE_WRITE_VALUE 23 /* Linux 5.14; older kernels: EINVAL */
#endif
#define MAX_EXEC_GENERATIONS 1000

static struct {
	pthread_mutex_t lock;
	int fd;
	bool is_open;
	bool is_full;        /* stop trying: ENOSPC, EMFILE, ... */
	bool has_footer;
	uint32_t chunk_size; /* ITP_DEFAULT_CHUNK_SIZE: trace_writer_room assumes it */
	uint8_t *header;     /* mapped header page */
	uint8_t *segment;    /* current mapped segment */
	uint64_t segment_first; /* chunk index of segment[0] */
	uint32_t segment_chunks; /* chunks in the current segment */
	uint64_t next_chunk;    /* next chunk index to hand out */
	uint32_t next_thread_seq;
	uint32_t exec_generation;
	pid_t pid;           /* process the open file belongs to */
	char counters_note[ITP_COUNTERS_NOTE_LEN];
	/* Counter table and other process-wide fields, filled once by the
	 * probe and copied into every file this process writes (a forked
	 * child writes its own). */
	uint8_t template[ITP_HEADER_SIZE];
	bool has_template;
} writer = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.chunk_size = ITP_DEFAULT_CHUNK_SIZE,
};


void trace_writer_lock(void) { pthread_mutex_lock(&writer.lock); }
void trace_writer_unlock(void) { pthread_mutex_unlock(&writer.lock); }
bool trace_writer_is_open(void) { return writer.is_open; }

uint32_t trace_writer_fork_generation;

void trace_writer_set_counters_note(const char *note)
{
	if (!writer.counters_note[0])
		snprintf(writer.counters_note, sizeof(writer.counters_note), "%s", note);
}

/* Median cost of one clock read, measured on this machine for the header. */
static uint32_t measure_clock_cost(void)
{
	uint64_t best = UINT64_MAX;

	for (int round = 0; round < 8; round++) {
		uint64_t t0 = clock_now_ns(), t1;

		for (int i = 0; i < 16; i++)
			(void)clock_now_ns();
		t1 = clock_now_ns();
		if ((t1 - t0) / 17 < best)
			best = (t1 - t0) / 17;
	}
	return (uint32_t)best;
}

/* Create the file: iterprof-<pid>.trace, or .<n>.trace after an exec. */
static int create_file(uint32_t *exec_generation)
{
	char path[sizeof(shim_config.output_dir) + 64];
	pid_t pid = getpid();

	for (uint32_t n = 0; n < MAX_EXEC_GENERATIONS; n++) {
		int fd;

		if (n == 0)
			snprintf(path, sizeof(path), "%s/iterprof-%d.trace",
				 shim_config.output_dir, (int)pid);
		else
			snprintf(path, sizeof(path), "%s/iterprof-%d.%u.trace",
				 shim_config.output_dir, (int)pid, n);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			*exec_generation = n;
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Reserve [offset, offset+len) on disk and map it. NULL with errno on failure. */
static uint8_t *reserve_and_map(off_t offset, size_t len)
{
	int err = posix_fallocate(writer.fd, offset, (off_t)len);
	void *p;

	if (err) {
		errno = err;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, writer.fd, offset);
	return p == MAP_FAILED ? NULL : p;
}

/* Called with the lock held, or before any thread can write. */
static int open_locked(void)
{
	struct timespec realtime;
	uint8_t *h;
	int fd = create_file(&writer.exec_generation);
	uint64_t start_ns;

	if (fd < 0)
		return fd;
	writer.fd = fd;
	h = reserve_and_map(0, ITP_HEADER_SIZE);
	if (!h) {
		int err = -errno;

		close(fd);
		writer.fd = -1;
		return err;
	}
	if (writer.has_template)
		memcpy(h, writer.template, ITP_HEADER_SIZE);
	start_ns = clock_now_ns();
	clock_gettime(CLOCK_REALTIME, &realtime);
	put_u16(h + ITP_OFF_VERSION_MAJOR, ITP_VERSION_MAJOR);
	put_u16(h + ITP_OFF_VERSION_MINOR, ITP_VERSION_MINOR);
	put_u32(h + ITP_OFF_HEADER_SIZE, ITP_HEADER_SIZE);
	put_u32(h + ITP_OFF_ENDIAN_TAG, ITP_ENDIAN_TAG);
	put_u32(h + ITP_OFF_CHUNK_SIZE, writer.chunk_size);
	put_u32(h + ITP_OFF_FLAGS, ITP_FILE_LITTLE_ENDIAN);
	put_u32(h + ITP_OFF_PID, (uint32_t)getpid());
	put_u32(h + ITP_OFF_PPID, (uint32_t)getppid());
	put_u32(h + ITP_OFF_EXEC_GENERATION, writer.exec_generation);
	put_u32(h + ITP_OFF_CLOCK_ID, SHIM_CLOCK_ID);
	put_u64(h + ITP_OFF_START_NS, start_ns);
	put_u64(h + ITP_OFF_START_REALTIME_NS,
		(uint64_t)realtime.tv_sec * 1000000000u + (uint64_t)realtime.tv_nsec);
	put_u32(h + ITP_OFF_CLOCK_READ_COST_NS, measure_clock_cost());
	put_u32(h + ITP_OFF_TIME_SOURCE, shim_tsc.is_used ? ITP_TIME_TSC : ITP_TIME_CLOCK);
	put_u64(h + ITP_OFF_TSC_HZ, (uint64_t)(clock_tsc_hz() + 0.5));
	put_u32(h + ITP_OFF_UID, (uint32_t)getuid());
	put_u64(h + ITP_OFF_CONFIG_FLAGS,
		(shim_config.sched == SCHED_READ_ALWAYS ? ITP_CONFIG_RUSAGE | ITP_CONFIG_SCHEDSTAT : 0) |
		(shim_config.sched == SCHED_READ_AUTO ? ITP_CONFIG_RUSAGE | ITP_CONFIG_SCHEDSTAT |
								 ITP_CONFIG_ON_SWITCH : 0) |
		(shim_config.follow_exec ? 0 : ITP_CONFIG_NO_FOLLOW));
	snprintf((char *)h + ITP_OFF_COUNTERS_NOTE, ITP_COUNTERS_NOTE_LEN, "%s",
		 writer.counters_note);
	/* The template was filled by sysinfo and the probe in the first image;
	 * the command line and exe are the same in a forked child. */
	if (!writer.has_template)
		sysinfo_fill_header(h);
	/* Magic last: a reader never sees a half-filled header as valid. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h + ITP_OFF_MAGIC, ITP_MAGIC, ITP_MAGIC_LEN);

	writer.header = h;
	writer.pid = getpid();
	writer.segment = NULL;
	writer.segment_first = 0;
	writer.next_chunk = 0;
	writer.next_thread_seq = 0;
	writer.has_footer = false;
	writer.is_open = true;
	return 0;
}

void trace_writer_prepare_template(void)
{
	memset(writer.template, 0, sizeof(writer.template));
	sysinfo_fill_header(writer.template);
	counters_probe(writer.template);
	stacks_probe(writer.template);
	writer.has_template = true;
}

int trace_writer_open(void)
{
	int err;

	pthread_mutex_lock(&writer.lock);
	err = writer.is_open ? 0 : open_locked();
	if (err)
		writer.is_full = true;
	pthread_mutex_unlock(&writer.lock);
	return err;
}

/* Hand out the next chunk, reserving a new segment when needed; its file
 * offset goes to @offset. */
static uint8_t *next_chunk_locked(off_t *offset)
{
	uint64_t index;

	if (!writer.is_open && !writer.is_full) {
		int err = open_locked();

		if (err) {
			shim_log("cannot create the trace file in %s: %s", shim_config.output_dir,
				 strerror(-err));
			writer.is_full = true;
		}
	}
	if (writer.is_full)
		return NULL;
	index = writer.next_chunk;
	*offset = (off_t)ITP_HEADER_SIZE + (off_t)index * writer.chunk_size;
	if (!writer.segment || index >= writer.segment_first + writer.segment_chunks) {
		uint32_t chunks = SEGMENT_CHUNKS;
		uint8_t *seg = reserve_and_map(*offset, (size_t)chunks * writer.chunk_size);

		if (!seg && errno == ENOSPC) {
			/* Nearly full: keep going chunk by chunk while space lasts. */
			chunks = 1;
			seg = reserve_and_map(*offset, writer.chunk_size);
		}
		if (!seg) {
			shim_log("trace file full (%s): further iterations are counted as dropped",
				 strerror(errno));
			writer.is_full = true;
			return NULL;
		}
		writer.segment = seg;
		writer.segment_first = index;
		writer.segment_chunks = chunks;
	}
	writer.next_chunk++;
	return writer.segment + (index - writer.segment_first) * writer.chunk_size;
}

/*
 * Bring a fresh chunk into the page cache and map it, all at once. Left to
 * the first store into each page, every page of a MAP_SHARED ext4 file costs
 * a fault of about 3.3 us here - 100 ns an iteration at 32 bytes a record,
 * more than everything else the -f fast path does. Writing the chunk's zeros
 * with one pwritev and mapping it with MADV_POPULATE_WRITE (Linux 5.14)
 * costs about 1.0 us a page instead (measured, 16 MiB, ext4). Either step
 * may fail (old kernel): the pages then fault in as before.
 */
static void prefault_chunk(int fd, off_t offset, uint8_t *chunk)
{
	static const uint8_t zeros[4096];
	struct iovec iov[ITP_DEFAULT_CHUNK_SIZE / sizeof(zeros)];

	for (size_t i = 0; i < sizeof(iov) / sizeof(iov[0]); i++) {
		iov[i].iov_base = (void *)zeros;
		iov[i].iov_len = sizeof(zeros);
	}
	if (pwritev(fd, iov, (int)(sizeof(iov) / sizeof(iov[0])), offset) !=
	    (ssize_t)ITP_DEFAULT_CHUNK_SIZE)
		return;
	(void)madvise(chunk, ITP_DEFAULT_CHUNK_SIZE, MADV_POPULATE_WRITE_VALUE);
}

uint8_t *trace_writer_reserve(struct chunk_cursor *cur, pid_t tid, uint32_t size)
{
	uint8_t *chunk, *room;
	off_t offset = 0;
	int fd;

	if (cur->batch)
		trace_writer_close_batch(cur);
	room = trace_writer_room(cur, size);

	if (likely(room))
		return room;
	pthread_mutex_lock(&writer.lock);
	clock_resync();
	chunk = next_chunk_locked(&offset);
	fd = writer.fd;
	if (chunk && !cur->base && cur->chunk_seq == 0)
		cur->thread_seq = writer.next_thread_seq++;
	pthread_mutex_unlock(&writer.lock);
	if (!chunk)
		return NULL;
	prefault_chunk(fd, offset, chunk);

	put_u32(chunk + ITP_CH_OFF_TID, (uint32_t)tid);
	put_u32(chunk + ITP_CH_OFF_THREAD_SEQ, cur->thread_seq);
	put_u32(chunk + ITP_CH_OFF_CHUNK_SEQ, cur->chunk_seq);
	__atomic_store_n((uint32_t *)(chunk + ITP_CH_OFF_MAGIC), ITP_CHUNK_MAGIC,
			 __ATOMIC_RELEASE);
	cur->chunk_seq++;
	cur->base = chunk;
	cur->used = ITP_CHUNK_HEADER_SIZE;
	cur->prev_start_ns = 0;
	cur->batch = NULL;
	return chunk + cur->used;
}

bool trace_writer_close(uint64_t iterations, uint64_t dropped, uint32_t reason)
{
	uint8_t *f;

	pthread_mutex_lock(&writer.lock);
	if (!writer.is_open || writer.has_footer || writer.pid != getpid()) {
		/* Not ours to close: a vfork child shares our memory and must
		 * not write into the parent's file. */
		pthread_mutex_unlock(&writer.lock);
		return false;
	}
	f = writer.header + ITP_OFF_FOOTER;
	put_u32(f + ITP_FT_OFF_REASON, reason);
	put_u64(f + ITP_FT_OFF_END_NS, clock_now_ns());
	put_u64(f + ITP_FT_OFF_ITERATIONS, iterations);
	put_u64(f + ITP_FT_OFF_DROPPED, dropped);
	put_u64(f + ITP_FT_OFF_CHUNKS_USED, writer.next_chunk);
	__atomic_store_n((uint32_t *)(f + ITP_FT_OFF_MAGIC), ITP_FOOTER_MAGIC, __ATOMIC_RELEASE);
	writer.has_footer = true;
	pthread_mutex_unlock(&writer.lock);
	return true;
}

void trace_writer_reopen(void)
{
	pthread_mutex_lock(&writer.lock);
	if (writer.is_open && writer.has_footer) {
		/* Magic first: the file is "still being written" again. */
		__atomic_store_n((uint32_t *)(writer.header + ITP_OFF_FOOTER + ITP_FT_OFF_MAGIC), 0,
				 __ATOMIC_RELEASE);
		writer.has_footer = false;
	}
	pthread_mutex_unlock(&writer.lock);
}

void trace_writer_after_fork_child(void)
{
	/* The parent's file and mappings are not ours: never write them again.
	 * The mappings stay (unmapping costs and buys nothing); the fd goes. */
	pthread_mutex_init(&writer.lock, NULL);
	if (writer.fd >= 0)
		close(writer.fd);
	writer.fd = -1;
	writer.is_open = false;
	writer.is_full = false;
	writer.header = NULL;
	writer.segment = NULL;
	__atomic_store_n(&trace_writer_fork_generation, trace_writer_fork_generation + 1,
			 __ATOMIC_RELAXED);
}
