/*
 * trace_reader: validation and streaming of one trace file. See
 * trace-reader.h for the contract and include/iterprof/trace-format.h for the
 * bytes.
 *
 * Nothing read from the file is trusted before it is checked: a field is
 * read only after checking that it lies inside the file, and every size is
 * compared with the bytes that remain before the reader moves past it. All
 * loads go through le16/le32/le64 (byte loads), so a damaged size can never
 * make a load misaligned or read past the mapping.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace-reader.h"

/* Limits beyond which a header value is damage, not a choice of the writer. */
#define TRACE_MAX_HEADER_SIZE (1u << 20)
#define TRACE_MAX_CHUNK_SIZE (1u << 30)

struct trace_chunk {
	uint64_t offset; /* of the chunk in the file */
	uint64_t length; /* bytes present: chunk_size, or less for a cut chunk */
	uint32_t tid, thread_seq, chunk_seq;
};

struct trace_reader {
	char *name;
	const unsigned char *data;
	size_t size;
	void *map; /* what to munmap, NULL for a caller's buffer */
	size_t map_size;
	struct trace_file_info info;
	struct trace_chunk *chunks; /* used chunks, by thread then chunk_seq */
	size_t chunk_used;
	struct trace_thread_info *threads;
	size_t *thread_first; /* index in chunks[] of each thread's first */
	unsigned thread_count;
};

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Write "<name>: byte <offset>: <fmt...>" into @why; return @err. */
static int __attribute__((format(printf, 6, 7)))
reader_fail(const struct trace_reader *r, char *why, size_t why_len, uint64_t offset,
	    int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!why || !why_len)
		return err;
	n = snprintf(why, why_len, "%s: byte %" PRIu64 ": ", r->name, offset);
	if (n >= 0 && (size_t)n < why_len) {
		va_start(ap, fmt);
		vsnprintf(why + n, why_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* Copy a fixed-size field that should hold a NUL-terminated string; @dst has
 * @len + 1 bytes and is always terminated, even if the field is not. */
static void copy_field(char *dst, const unsigned char *src, size_t len)
{
	size_t n = strnlen((const char *)src, len);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool is_power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int parse_header(struct trace_reader *r, char *why, size_t why_len)
{
	const unsigned char *d = r->data;
	size_t size = r->size;
	struct trace_file_info *info = &r->info;
	static const unsigned char zeros[ITP_MAGIC_LEN];

	/* Magic first, then the version: a foreign or newer file must get a
	 * message about what it is, not about a field we misread. */
	if (size == 0)
		return reader_fail(r, why, why_len, 0, -EINVAL,
				   "empty file (its writer stopped before writing a header)");
	if (size < ITP_MAGIC_LEN) {
		if (!memcmp(d, ITP_MAGIC, size))
			return reader_fail(r, why, why_len, size, -EINVAL,
					   "file ends inside the %u-byte header",
					   ITP_HEADER_PAGE);
		return reader_fail(r, why, why_len, 0, -EINVAL,
				   "not an iterprof trace (no \"" ITP_MAGIC "\" magic)");
	}
	if (memcmp(d, ITP_MAGIC, ITP_MAGIC_LEN)) {
		if (!memcmp(d, zeros, ITP_MAGIC_LEN))
			return reader_fail(r, why, why_len, 0, -EINVAL,
					   "header never written (zeros where the \"" ITP_MAGIC
					   "\" magic should be)");
		return reader_fail(r, why, why_len, 0, -EINVAL,
				   "not an iterprof trace (no \"" ITP_MAGIC "\" magic)");
	}
	if (size < ITP_OFF_HEADER_SIZE)
		return reader_fail(r, why, why_len, size, -EINVAL,
				   "file ends inside the %u-byte header", ITP_HEADER_PAGE);
	info->version_major = le16(d + ITP_OFF_VERSION_MAJOR);
	info->version_minor = le16(d + ITP_OFF_VERSION_MINOR);
	if (info->version_major > ITP_VERSION_MAJOR)
		return reader_fail(r, why, why_len, ITP_OFF_VERSION_MAJOR, -EPROTONOSUPPORT,
				   "written by a newer iterprof (format %u.%u); this iterprof "
				   "reads format %u.x",
				   info->version_major, info->version_minor, ITP_VERSION_MAJOR);
	if (info->version_major < ITP_VERSION_MAJOR)
		return reader_fail(r, why, why_len, ITP_OFF_VERSION_MAJOR, -EPROTONOSUPPORT,
				   "format %u.%u was never released; this iterprof reads "
				   "format %u.x",
				   info->version_major, info->version_minor, ITP_VERSION_MAJOR);
	if (size < ITP_HEADER_PAGE)
		return reader_fail(r, why, why_len, size, -EINVAL,
				   "file ends inside the %u-byte header", ITP_HEADER_PAGE);

	info->header_size = le32(d + ITP_OFF_HEADER_SIZE);
	if (info->header_size < ITP_HEADER_PAGE || info->header_size % ITP_HEADER_PAGE ||
	    info->header_size > TRACE_MAX_HEADER_SIZE)
		return reader_fail(r, why, why_len, ITP_OFF_HEADER_SIZE, -EINVAL,
				   "impossible header size %" PRIu32 " (a multiple of %u)",
				   info->header_size, ITP_HEADER_PAGE);
	{
		uint32_t tag = le32(d + ITP_OFF_ENDIAN_TAG);

		if (tag == __builtin_bswap32(ITP_ENDIAN_TAG))
			return reader_fail(r, why, why_len, ITP_OFF_ENDIAN_TAG, -EINVAL,
					   "written on a big-endian machine; this iterprof "
					   "reads little-endian traces");
		if (tag != ITP_ENDIAN_TAG)
			return reader_fail(r, why, why_len, ITP_OFF_ENDIAN_TAG, -EINVAL,
					   "bad endian tag 0x%08" PRIx32 " (expected 0x%08x)",
					   tag, ITP_ENDIAN_TAG);
	}
	info->chunk_size = le32(d + ITP_OFF_CHUNK_SIZE);
	if (!is_power_of_two(info->chunk_size) || info->chunk_size < 4096 ||
	    info->chunk_size > TRACE_MAX_CHUNK_SIZE)
		return reader_fail(r, why, why_len, ITP_OFF_CHUNK_SIZE, -EINVAL,
				   "impossible chunk size %" PRIu32
				   " (a power of two from 4096 to 2^30)",
				   info->chunk_size);
	info->counter_count = le32(d + ITP_OFF_COUNTER_COUNT);
	if (info->counter_count > ITP_MAX_COUNTERS)
		return reader_fail(r, why, why_len, ITP_OFF_COUNTER_COUNT, -EINVAL,
				   "%" PRIu32 " counters (at most %u)", info->counter_count,
				   ITP_MAX_COUNTERS);
	if (info->counter_count > ITP_COUNTERS_FIRST_PAGE &&
	    info->header_size < ITP_OFF_COUNTERS_EXT + ITP_COUNTER_DESC_SIZE *
					(info->counter_count - ITP_COUNTERS_FIRST_PAGE))
		return reader_fail(r, why, why_len, ITP_OFF_COUNTER_COUNT, -EINVAL,
				   "%" PRIu32 " counters in a %" PRIu32 "-byte header",
				   info->counter_count, info->header_size);
	if (size < info->header_size)
		return reader_fail(r, why, why_len, size, -EINVAL,
				   "file ends inside the %" PRIu32 "-byte header",
				   info->header_size);

	info->flags = le32(d + ITP_OFF_FLAGS);
	info->pid = le32(d + ITP_OFF_PID);
	info->ppid = le32(d + ITP_OFF_PPID);
	info->exec_generation = le32(d + ITP_OFF_EXEC_GENERATION);
	info->clock_id = le32(d + ITP_OFF_CLOCK_ID);
	info->start_ns = le64(d + ITP_OFF_START_NS);
	info->start_realtime_ns = le64(d + ITP_OFF_START_REALTIME_NS);
	info->clock_read_cost_ns = le32(d + ITP_OFF_CLOCK_READ_COST_NS);
	info->time_source = le32(d + ITP_OFF_TIME_SOURCE);
	info->tsc_hz = le64(d + ITP_OFF_TSC_HZ);
	info->uid = le32(d + ITP_OFF_UID);
	info->config_flags = le64(d + ITP_OFF_CONFIG_FLAGS);
	copy_field(info->host, d + ITP_OFF_HOST, ITP_HOST_LEN);
	copy_field(info->kernel, d + ITP_OFF_KERNEL, ITP_KERNEL_LEN);
	copy_field(info->cpu_model, d + ITP_OFF_CPU_MODEL, ITP_CPU_MODEL_LEN);
	copy_field(info->exe, d + ITP_OFF_EXE, ITP_EXE_LEN);
	copy_field(info->cmdline, d + ITP_OFF_CMDLINE, ITP_CMDLINE_LEN);
	copy_field(info->counters_note, d + ITP_OFF_COUNTERS_NOTE, ITP_COUNTERS_NOTE_LEN);

	/* The stacks fields were reserved zeros before 1.4: reading them
	 * there would give the same answer, but only by luck. */
	if (info->version_minor >= 4) {
		info->stacks_mode = le32(d + ITP_OFF_STACKS_MODE);
		info->stacks_error = le32(d + ITP_OFF_STACKS_ERROR);
		info->fault_period = le32(d + ITP_OFF_FAULT_PERIOD);
		info->cpu_period_us = le32(d + ITP_OFF_CPU_PERIOD_US);
		info->stack_copy_bytes = le32(d + ITP_OFF_STACK_COPY_BYTES);
		copy_field(info->stacks_why, d + ITP_OFF_STACKS_WHY, ITP_STACKS_WHY_LEN);
		if (info->stacks_mode > ITP_STACKS_ALL && info->version_minor <= ITP_VERSION_MINOR)
			return reader_fail(r, why, why_len, ITP_OFF_STACKS_MODE, -EINVAL,
					   "unknown stacks mode %" PRIu32 " (at most %u)",
					   info->stacks_mode, ITP_STACKS_ALL);
	}

	for (uint32_t i = 0; i < info->counter_count; i++) {
		const unsigned char *cd = d + itp_counter_desc_offset(i);
		struct trace_counter *c = &info->counters[i];

		c->id = le16(cd + ITP_CD_OFF_ID);
		c->source = le16(cd + ITP_CD_OFF_SOURCE);
		c->flags = le32(cd + ITP_CD_OFF_FLAGS);
		c->error = le32(cd + ITP_CD_OFF_ERROR);
		c->is_counting = c->flags & ITP_COUNTER_COUNTS;
		copy_field(c->name, cd + ITP_CD_OFF_NAME, ITP_CD_NAME_LEN);
		copy_field(c->why, cd + ITP_CD_OFF_WHY, ITP_CD_WHY_LEN);
		/* A report needs a name to show; a writer that left it empty
		 * still told us the position. */
		if (!c->name[0])
			snprintf(c->name, sizeof(c->name), "counter%" PRIu32, i);
	}

	/* The footer's magic is stored last, so a footer with its magic is
	 * whole; anything else means the writer never finished. */
	{
		const unsigned char *f = d + ITP_OFF_FOOTER;

		info->has_footer = le32(f + ITP_FT_OFF_MAGIC) == ITP_FOOTER_MAGIC;
		if (info->has_footer) {
			info->end_reason = le32(f + ITP_FT_OFF_REASON);
			info->end_ns = le64(f + ITP_FT_OFF_END_NS);
			info->footer_iterations = le64(f + ITP_FT_OFF_ITERATIONS);
			info->footer_dropped = le64(f + ITP_FT_OFF_DROPPED);
			info->footer_chunks_used = le64(f + ITP_FT_OFF_CHUNKS_USED);
		}
	}
	info->file_size = size;
	return 0;
}

static int chunk_compare(const void *a, const void *b)
{
	const struct trace_chunk *x = a, *y = b;

	if (x->thread_seq != y->thread_seq)
		return x->thread_seq < y->thread_seq ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->chunk_seq != y->chunk_seq)
		return x->chunk_seq < y->chunk_seq ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Find the used chunks, sort them per thread and check that no chunk
 * position is claimed twice. */
static int index_chunks(struct trace_reader *r, char *why, size_t why_len)
{
	struct trace_file_info *info = &r->info;
	uint64_t body = r->size - info->header_size;
	uint64_t whole = body / info->chunk_size;
	uint64_t rest = body % info->chunk_size;
	uint64_t count = whole + (rest >= ITP_CHUNK_HEADER_SIZE);

	/* A cut last chunk is what a full disk or a copy interrupted midway
	 * leaves; its whole records are still good. */
	info->is_cut = rest != 0;
	/* A footer counts the chunks handed out: fewer whole chunks in the
	 * file means it was cut at a chunk boundary (a partial copy). */
	if (info->has_footer && info->footer_chunks_used > whole)
		info->is_cut = true;
	info->is_truncated = !info->has_footer || info->is_cut;
	info->chunk_count = count;
	if (!count)
		return 0;
	r->chunks = calloc(count, sizeof(*r->chunks));
	if (!r->chunks)
		return reader_fail(r, why, why_len, 0, -ENOMEM, "out of memory indexing %" PRIu64
				   " chunks", count);
	for (uint64_t k = 0; k < count; k++) {
		uint64_t off = info->header_size + k * info->chunk_size;
		const unsigned char *c = r->data + off;
		uint32_t magic = le32(c + ITP_CH_OFF_MAGIC);
		struct trace_chunk *ch;

		if (magic == 0) {
			info->unused_chunks++;
			continue;
		}
		if (magic != ITP_CHUNK_MAGIC)
			return reader_fail(r, why, why_len, off, -EINVAL,
					   "bad chunk magic 0x%08" PRIx32 " (chunk %" PRIu64
					   "; expected 0x%08x or 0)",
					   magic, k, ITP_CHUNK_MAGIC);
		ch = &r->chunks[r->chunk_used++];
		ch->offset = off;
		ch->length = k < whole ? info->chunk_size : rest;
		ch->tid = le32(c + ITP_CH_OFF_TID);
		ch->thread_seq = le32(c + ITP_CH_OFF_THREAD_SEQ);
		ch->chunk_seq = le32(c + ITP_CH_OFF_CHUNK_SEQ);
	}
	qsort(r->chunks, r->chunk_used, sizeof(*r->chunks), chunk_compare);

	for (size_t i = 0; i < r->chunk_used; i++) {
		const struct trace_chunk *ch = &r->chunks[i], *prev = i ? ch - 1 : NULL;

		if (prev && prev->thread_seq == ch->thread_seq && prev->tid == ch->tid) {
			if (prev->chunk_seq == ch->chunk_seq)
				return reader_fail(r, why, why_len, ch->offset, -EINVAL,
						   "chunk %" PRIu32 " of thread %" PRIu32
						   " appears twice (also at byte %" PRIu64 ")",
						   ch->chunk_seq, ch->tid, prev->offset);
			continue;
		}
		r->thread_count++;
	}
	r->threads = calloc(r->thread_count ? r->thread_count : 1, sizeof(*r->threads));
	r->thread_first = calloc(r->thread_count ? r->thread_count : 1,
				 sizeof(*r->thread_first));
	if (!r->threads || !r->thread_first)
		return reader_fail(r, why, why_len, 0, -ENOMEM, "out of memory indexing threads");
	for (size_t i = 0, t = 0; i < r->chunk_used; i++) {
		const struct trace_chunk *ch = &r->chunks[i];

		if (i && ch[-1].thread_seq == ch->thread_seq && ch[-1].tid == ch->tid) {
			r->threads[t - 1].chunk_count++;
			continue;
		}
		r->threads[t].tid = ch->tid;
		r->threads[t].thread_seq = ch->thread_seq;
		r->threads[t].chunk_count = 1;
		r->thread_first[t] = i;
		t++;
	}
	return 0;
}

int trace_reader_open_buffer(const void *data, size_t size, const char *name,
			     struct trace_reader **out, char *why, size_t why_len)
{
	struct trace_reader *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name))) {
		free(r);
		if (why && why_len)
			snprintf(why, why_len, "%s: out of memory", name);
		return -ENOMEM;
	}
	r->data = data;
	r->size = size;
	err = parse_header(r, why, why_len);
	if (!err)
		err = index_chunks(r, why, why_len);
	if (err) {
		trace_reader_close(r);
		return err;
	}
	*out = r;
	return 0;
}

int trace_reader_open(const char *path, struct trace_reader **out, char *why,
		      size_t why_len)
{
	struct stat st;
	void *map = NULL;
	int fd, err;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		goto fail_errno;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto fail_errno;
	}
	if (!S_ISREG(st.st_mode)) {
		/* A pipe or device has no stable size to map. */
		if (why && why_len)
			snprintf(why, why_len, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > 0) {
		if ((uint64_t)st.st_size > SIZE_MAX) {
			err = -EFBIG;
			goto fail_errno;
		}
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			err = -errno;
			goto fail_errno;
		}
	}
	close(fd);
	fd = -1;
	err = trace_reader_open_buffer(map, map ? (size_t)st.st_size : 0, path, out, why,
				       why_len);
	if (err) {
		if (map)
			munmap(map, (size_t)st.st_size);
		return err;
	}
	(*out)->map = map;
	(*out)->map_size = (size_t)st.st_size;
	return 0;

fail_errno:
	if (why && why_len)
		snprintf(why, why_len, "%s: %s", path, strerror(-err));
	if (fd >= 0)
		close(fd);
	return err;
}

void trace_reader_close(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->map_size);
	free(r->chunks);
	free(r->threads);
	free(r->thread_first);
	free(r->name);
	free(r);
}

const char *trace_reader_name(const struct trace_reader *r)
{
	return r->name;
}

const struct trace_file_info *trace_reader_info(const struct trace_reader *r)
{
	return &r->info;
}

unsigned trace_reader_thread_count(const struct trace_reader *r)
{
	return r->thread_count;
}

const struct trace_thread_info *trace_reader_thread(const struct trace_reader *r,
						    unsigned index)
{
	assert(index < r->thread_count);
	return &r->threads[index];
}

void trace_cursor_init_range(struct trace_cursor *c, const struct trace_reader *r,
			     unsigned thread, uint32_t first, uint32_t end)
{
	assert(thread < r->thread_count && end <= r->threads[thread].chunk_count);
	memset(c, 0, sizeof(*c));
	c->reader = r;
	c->thread = thread;
	c->chunk = first;
	c->drop_first = first;
	c->begin_chunk = first;
	c->end_chunk = end;
	c->pos = ITP_CHUNK_HEADER_SIZE;
}

void trace_cursor_init(struct trace_cursor *c, const struct trace_reader *r, unsigned thread)
{
	assert(thread < r->thread_count);
	trace_cursor_init_range(c, r, thread, 0, r->threads[thread].chunk_count);
}

/* Drop the pages of the contiguous file range [@from, @to) from the
 * mapping (whole pages inside it). */
static void drop_range(const struct trace_reader *r, uint64_t from, uint64_t to)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)r->data + from + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)r->data + to) & ~(page - 1);

	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/* Chunks read but not dropped yet, at most (see cursor_next_chunk). */
#define DROP_BATCH 16

static void cursor_next_chunk(struct trace_cursor *c)
{
	const struct trace_reader *r = c->reader;
	const struct trace_chunk *chunks = &r->chunks[r->thread_first[c->thread]];
	uint32_t count = r->threads[c->thread].chunk_count;

	c->chunk++;
	c->pos = ITP_CHUNK_HEADER_SIZE;
	c->prev_start_ns = 0; /* start times are deltas within a chunk */
	/*
	 * Drop the pages of the chunks read from the mapping, so that reading
	 * a 300 MB trace does not keep 300 MB resident next to the model built
	 * from it (the pages stay in the page cache; touching them again reads
	 * them back). In batches of DROP_BATCH chunks, neighbours in the file
	 * in one call: each call flushes the TLB of every CPU the reader's
	 * threads run on.
	 */
	if (!r->map || (c->chunk - c->drop_first < DROP_BATCH && c->chunk < c->end_chunk &&
			c->chunk < count))
		return;
	for (uint32_t k = c->drop_first; k < c->chunk && k < count;) {
		uint64_t from = chunks[k].offset, to = from + chunks[k].length;

		for (k++; k < c->chunk && k < count && chunks[k].offset == to; k++)
			to += chunks[k].length;
		drop_range(r, from, to);
	}
	c->drop_first = c->chunk;
}

/* ITP_REC_MODULE of rec->size >= ITP_MODULE_OFF_STRINGS bytes at @p. */
static int decode_module(const struct trace_reader *r, const unsigned char *p,
			 struct trace_record *rec, char *why, size_t why_len)
{
	uint32_t need;

	rec->module.start = le64(p + ITP_MODULE_OFF_START);
	rec->module.end = le64(p + ITP_MODULE_OFF_END);
	rec->module.bias = le64(p + ITP_MODULE_OFF_BIAS);
	rec->module.path_len = le16(p + ITP_MODULE_OFF_PATH_LEN);
	rec->module.build_id_len = p[ITP_MODULE_OFF_BUILD_ID_LEN];
	if (rec->module.build_id_len > ITP_MODULE_BUILD_ID_MAX)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "module build-id of %u bytes (at most %u)",
				   rec->module.build_id_len, ITP_MODULE_BUILD_ID_MAX);
	/* build-id, path, then the path's NUL */
	need = ITP_MODULE_OFF_STRINGS + (uint32_t)rec->module.build_id_len +
	       rec->module.path_len + 1;
	if (need > rec->size)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "module record needs %" PRIu32 " bytes, has %" PRIu32, need,
				   rec->size);
	/* The symboliser places the module by this range; an empty or
	 * inverted one cannot hold an address. */
	if (rec->module.start >= rec->module.end)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "module range 0x%" PRIx64 "-0x%" PRIx64 " is empty",
				   rec->module.start, rec->module.end);
	rec->module.build_id = p + ITP_MODULE_OFF_STRINGS;
	rec->module.path = (const char *)p + ITP_MODULE_OFF_STRINGS + rec->module.build_id_len;
	return 0;
}

/* ITP_REC_STACK of rec->size >= ITP_STACK_OFF_FRAMES bytes at @p. */
static int decode_stack(const struct trace_reader *r, const unsigned char *p,
			struct trace_record *rec, char *why, size_t why_len)
{
	rec->stack.id = le32(p + ITP_STACK_OFF_ID);
	rec->stack.frame_count = le16(p + ITP_STACK_OFF_FRAME_COUNT);
	rec->stack.flags = le16(p + ITP_STACK_OFF_FLAGS);
	rec->stack.frames = p + ITP_STACK_OFF_FRAMES;
	if (!rec->stack.id)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "stack id 0 (ids start at 1)");
	if (!rec->stack.frame_count || rec->stack.frame_count > ITP_STACK_MAX_FRAMES)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "stack of %u frames (1 to %u)", rec->stack.frame_count,
				   ITP_STACK_MAX_FRAMES);
	if (ITP_STACK_OFF_FRAMES + 8u * rec->stack.frame_count > rec->size)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "stack of %u frames in a %" PRIu32 "-byte record",
				   rec->stack.frame_count, rec->size);
	return 0;
}

/* ITP_REC_SAMPLES of rec->size >= ITP_SAMPLES_OFF_ENTRIES bytes at @p. */
static int decode_samples(const struct trace_reader *r, const unsigned char *p,
			  struct trace_record *rec, char *why, size_t why_len)
{
	rec->samples.count = le32(p + ITP_SAMPLES_OFF_COUNT);
	rec->samples.lost = le16(p + ITP_SAMPLES_OFF_LOST);
	rec->samples.kept = le16(p + ITP_SAMPLES_OFF_KEPT);
	rec->samples.entries = p + ITP_SAMPLES_OFF_ENTRIES;
	/* 64 bits: a damaged count times 8 must not wrap */
	if (ITP_SAMPLES_OFF_ENTRIES + (uint64_t)ITP_SAMPLES_ENTRY_SIZE * rec->samples.count >
	    rec->size)
		return reader_fail(r, why, why_len, rec->offset, -EINVAL,
				   "%" PRIu32 " sample entries in a %" PRIu32 "-byte record",
				   rec->samples.count, rec->size);
	for (uint32_t i = 0; i < rec->samples.count; i++) {
		const unsigned char *e = rec->samples.entries + (size_t)i * ITP_SAMPLES_ENTRY_SIZE;
		uint8_t kind = e[4];

		if (!le32(e))
			return reader_fail(r, why, why_len, rec->offset + ITP_SAMPLES_OFF_ENTRIES +
					   (uint64_t)i * ITP_SAMPLES_ENTRY_SIZE, -EINVAL,
					   "sample entry %" PRIu32 " names stack 0", i);
		/* a newer minor may add kinds; readers skip those */
		if ((kind < ITP_SAMPLE_FAULT || kind > ITP_SAMPLE_KIND_MAX) &&
		    r->info.version_minor <= ITP_VERSION_MINOR)
			return reader_fail(r, why, why_len, rec->offset + ITP_SAMPLES_OFF_ENTRIES +
					   (uint64_t)i * ITP_SAMPLES_ENTRY_SIZE, -EINVAL,
					   "sample entry %" PRIu32 " of unknown kind %u", i, kind);
	}
	return 0;
}

uint64_t trace_stack_frame(const struct trace_record *rec, unsigned i)
{
	assert(rec->type == ITP_REC_STACK && i < rec->stack.frame_count);
	return le64(rec->stack.frames + 8 * (size_t)i);
}

void trace_samples_entry(const struct trace_record *rec, uint32_t i,
			 struct trace_sample_entry *entry)
{
	const unsigned char *e;

	assert(rec->type == ITP_REC_SAMPLES && i < rec->samples.count);
	e = rec->samples.entries + (size_t)i * ITP_SAMPLES_ENTRY_SIZE;
	entry->stack_id = le32(e);
	entry->kind = e[4];
	entry->samples = le16(e + 6);
}

/* Decode the payload of a record whose header has been checked; 0 or
 * -EINVAL. @p points at the record, @size bytes of it are in the chunk. */
static int decode_record(const struct trace_cursor *c, const struct trace_chunk *ch,
			 const unsigned char *p, struct trace_record *rec, char *why,
			 size_t why_len)
{
	const struct trace_reader *r = c->reader;
	uint32_t size = rec->size;

	switch (rec->type) {
	case ITP_REC_THREAD:
		if (size < ITP_THREAD_RECORD_SIZE)
			break;
		rec->thread.tid = le32(p + ITP_THREAD_OFF_TID);
		rec->thread.name = (const char *)p + ITP_THREAD_OFF_NAME;
		rec->thread.name_len = (uint32_t)strnlen(rec->thread.name, ITP_THREAD_NAME_LEN);
		if (rec->thread.tid != ch->tid)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "thread record for tid %" PRIu32
					   " in a chunk of tid %" PRIu32,
					   rec->thread.tid, ch->tid);
		return 0;
	case ITP_REC_REGION:
		if (size < ITP_REGION_OFF_NAME)
			break;
		rec->region.id = le16(p + ITP_REGION_OFF_ID);
		rec->region.name_len = le16(p + ITP_REGION_OFF_NAME_LEN);
		rec->region.name = (const char *)p + ITP_REGION_OFF_NAME;
		/* name, then its NUL, inside the record */
		if (rec->region.name_len > ITP_NAME_MAX ||
		    (uint32_t)rec->region.name_len + 1 > size - ITP_REGION_OFF_NAME)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "region name of %u bytes in a %" PRIu32
					   "-byte record",
					   rec->region.name_len, size);
		return 0;
	case ITP_REC_ITERATION:
		if (size < ITP_ITER_OFF_PAYLOAD)
			break;
		if (itp_iteration_decode(p, size, r->info.counter_count, c->prev_start_ns,
					 &rec->iteration))
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "iteration record of %" PRIu32
					   " bytes does not decode (a value is cut short or "
					   "malformed)",
					   size);
		return 0;
	case ITP_REC_ITERATION_BATCH:
		if (size < ITP_BATCH_OFF_ENTRIES)
			break;
		return 0; /* its entries are decoded one by one (batch_next) */
	case ITP_REC_DROPPED:
		if (size < ITP_DROPPED_RECORD_SIZE)
			break;
		rec->dropped.count = le32(p + ITP_DROPPED_OFF_COUNT);
		rec->dropped.reason = le32(p + ITP_DROPPED_OFF_REASON);
		return 0;
	case ITP_REC_FUNCTION: {
		uint32_t need;

		if (size < ITP_FUNCTION_OFF_STRINGS)
			break;
		rec->function.status = le16(p + ITP_FUNCTION_OFF_STATUS);
		rec->function.pattern_len = le16(p + ITP_FUNCTION_OFF_PATTERN_LEN);
		rec->function.name_len = le16(p + ITP_FUNCTION_OFF_NAME_LEN);
		rec->function.module_len = le16(p + ITP_FUNCTION_OFF_MODULE_LEN);
		rec->function.reason_len = le16(p + ITP_FUNCTION_OFF_REASON_LEN);
		need = ITP_FUNCTION_OFF_STRINGS + (uint32_t)rec->function.pattern_len +
		       rec->function.name_len + rec->function.module_len +
		       rec->function.reason_len + 4;
		if (need > size)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "function record needs %" PRIu32 " bytes, has %" PRIu32,
					   need, size);
		rec->function.pattern = (const char *)p + ITP_FUNCTION_OFF_STRINGS;
		rec->function.name = rec->function.pattern + rec->function.pattern_len + 1;
		rec->function.module = rec->function.name + rec->function.name_len + 1;
		rec->function.reason = rec->function.module + rec->function.module_len + 1;
		return 0;
	}
	case ITP_REC_MODULE:
		if (size < ITP_MODULE_OFF_STRINGS)
			break;
		return decode_module(r, p, rec, why, why_len);
	case ITP_REC_STACK:
		if (size < ITP_STACK_OFF_FRAMES)
			break;
		return decode_stack(r, p, rec, why, why_len);
	case ITP_REC_SAMPLES:
		if (size < ITP_SAMPLES_OFF_ENTRIES)
			break;
		return decode_samples(r, p, rec, why, why_len);
	case ITP_REC_NOTE:
		if (size < ITP_NOTE_OFF_TEXT)
			break;
		rec->note.len = le32(p + ITP_NOTE_OFF_LEN);
		rec->note.text = (const char *)p + ITP_NOTE_OFF_TEXT;
		if (rec->note.len >= size - ITP_NOTE_OFF_TEXT)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "note of %" PRIu32 " bytes in a %" PRIu32
					   "-byte record",
					   rec->note.len, size);
		return 0;
	}
	return reader_fail(r, why, why_len, rec->offset, -EINVAL,
			   "record of type %u is %" PRIu32 " bytes, too short for its type",
			   (unsigned)rec->type, size);
}

/* The next entry of the batch being returned, as an ITERATION record. */
static int batch_next(struct trace_cursor *c, struct trace_record *rec, char *why,
		      size_t why_len)
{
	memset(rec, 0, sizeof(*rec));
	rec->type = ITP_REC_ITERATION;
	rec->seq = c->batch_seq;
	rec->size = c->batch_size;
	rec->offset = c->batch_offset;
	if (itp_batch_entry_decode(&c->batch_p, c->batch_end, c->prev_start_ns, &rec->iteration))
		return reader_fail(c->reader, why, why_len, c->batch_offset, -EINVAL,
				   "iteration batch of %" PRIu32 " bytes ends before its "
				   "%" PRIu32 " entries do",
				   c->batch_size, c->batch_left);
	rec->iteration.flags = c->batch_flags;
	c->batch_left--;
	c->prev_start_ns = rec->iteration.start_ns;
	return 1;
}

int trace_cursor_next(struct trace_cursor *c, struct trace_record *rec, char *why,
		      size_t why_len)
{
	const struct trace_reader *r = c->reader;
	const struct trace_chunk *chunks = &r->chunks[r->thread_first[c->thread]];

	if (c->batch_left)
		return batch_next(c, rec, why, why_len);
	while (!c->done && c->chunk < c->end_chunk) {
		const struct trace_chunk *ch = &chunks[c->chunk];
		const unsigned char *p;
		uint32_t word, type, size, delta;
		int err;

		if (ch->length < ITP_RECORD_HEADER_SIZE ||
		    c->pos > ch->length - ITP_RECORD_HEADER_SIZE) {
			cursor_next_chunk(c);
			continue;
		}
		p = r->data + ch->offset + c->pos;
		word = le32(p);
		if (word == 0) { /* the writer had not got further */
			cursor_next_chunk(c);
			continue;
		}
		type = ITP_RECORD_TYPE(word);
		size = ITP_RECORD_SIZE(word);
		/* An ITERATION's decoding sets every member a reader may use
		 * (values up to counter_count): clearing the 200-byte record
		 * for each of 10 million iterations took a fifth of the
		 * reading time. */
		if (type != ITP_REC_ITERATION)
			memset(rec, 0, sizeof(*rec));
		rec->offset = ch->offset + c->pos;
		if (size < ITP_RECORD_HEADER_SIZE || size % 8)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "impossible record size %" PRIu32
					   " (a multiple of 8, at least 8)",
					   size);
		if (size > r->info.chunk_size - c->pos)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "record of %" PRIu32 " bytes does not fit its chunk "
					   "(%" PRIu64 " bytes left)",
					   size, r->info.chunk_size - c->pos);
		if (size > ch->length - c->pos) {
			/* It would fit the chunk, but the file was cut: the
			 * records before it are all there is. */
			cursor_next_chunk(c);
			continue;
		}
		/* The stack records came with 1.4: in an older file they are
		 * damage like any unknown type. */
		if (type < ITP_REC_THREAD || type > ITP_REC_TYPE_MAX ||
		    (type >= ITP_REC_MODULE && type <= ITP_REC_SAMPLES &&
		     r->info.version_minor < 4)) {
			/* Newer minor versions may add record types; ours
			 * cannot, so in a file of our minor it is damage. */
			if (r->info.version_minor > ITP_VERSION_MINOR) {
				c->pos += size;
				continue;
			}
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "unknown record type %" PRIu32, type);
		}
		rec->type = (enum itp_record_type)type;
		rec->size = size;
		rec->seq = le32(p + ITP_REC_OFF_SEQ);
		err = decode_record(c, ch, p, rec, why, why_len);
		if (err)
			return err;

		/* seq is 32 bits and may wrap in a long run: compare modulo
		 * 2^32, a forward step below 2^31 being a gap. */
		delta = rec->seq - (uint32_t)c->next_seq;
		if (c->records && delta >= 0x80000000u)
			return reader_fail(r, why, why_len, rec->offset, -EINVAL,
					   "record seq %" PRIu32 " after seq %" PRIu32
					   " (out of order)",
					   rec->seq, (uint32_t)(c->next_seq - 1));
		if (!c->records && c->begin_chunk)
			delta = 0; /* a later part: the caller counts the gap */
		c->lost_records += delta;
		c->next_seq = (uint64_t)rec->seq + 1;
		if (!c->records) {
			c->first_seq = rec->seq;
			c->first_offset = rec->offset;
		}
		if (rec->type == ITP_REC_ITERATION)
			c->prev_start_ns = rec->iteration.start_ns;
		c->records++;
		c->pos += size;
		if (rec->type == ITP_REC_ITERATION_BATCH) {
			c->batch_p = p + ITP_BATCH_OFF_ENTRIES;
			c->batch_end = p + size;
			c->batch_left = le32(p + ITP_BATCH_OFF_COUNT);
			c->batch_flags = le16(p + ITP_BATCH_OFF_FLAGS);
			c->batch_seq = rec->seq;
			c->batch_size = size;
			c->batch_offset = rec->offset;
			if (!c->batch_left)
				continue; /* opened, nothing in it yet */
			return batch_next(c, rec, why, why_len);
		}
		return 1;
	}
	c->done = true;
	return 0;
}

const char *trace_drop_reason_name(uint32_t reason)
{
	switch (reason) {
	case ITP_DROP_TRACE_FULL:
		return "trace full";
	case ITP_DROP_UNBALANCED:
		return "never ended";
	case ITP_DROP_REENTERED:
		return "marker called from inside the shim";
	case ITP_DROP_TOO_DEEP:
		return "nested too deep";
	case ITP_DROP_TOO_MANY_REGIONS:
		return "too many regions";
	case ITP_DROP_UNWOUND:
		return "left by longjmp or an exception";
	}
	return "unknown reason";
}
