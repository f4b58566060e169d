/*
 * stats: see stats.h for the definitions used.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * LSD radix sort, 8 bits per pass. All eight digit histograms are counted in
 * one pass, and a pass whose digit is the same for every value is skipped:
 * durations of one region share their top bytes, so 10 million values
 * typically take 3 or 4 passes instead of qsort's ~23 comparisons each.
 */
/*
 * Turn one digit's histogram into the first output position of each digit
 * value. False when every value has the digit @first (that of any value):
 * the pass would not move anything and is skipped.
 */
static bool digit_offsets(size_t counts[256], size_t n, unsigned first)
{
	size_t offset = 0, tmp;

	if (counts[first] == n)
		return false;
	for (unsigned b = 0; b < 256; b++) {
		tmp = counts[b];
		counts[b] = offset;
		offset += tmp;
	}
	return true;
}

/*
 * The LSD passes of a radix sort of @n @type values at @values, @scratch
 * the other buffer, @counts[d] the histogram of byte d (d < @digits) of the
 * values; the sorted values end in @values. One definition for the 32- and
 * 64-bit sorts.
 */
#define RADIX_PASSES(type, values, scratch, n, counts, digits)                           \
	do {                                                                              \
		type *src_ = (values), *dst_ = (scratch), *swap_;                          \
		for (unsigned d_ = 0; d_ < (digits); d_++) {                               \
			unsigned shift_ = 8 * d_;                                          \
			if (!digit_offsets((counts)[d_], (n),                              \
					   (unsigned)(src_[0] >> shift_) & 0xff))          \
				continue;                                                  \
			for (size_t i_ = 0; i_ < (n); i_++)                                \
				dst_[(counts)[d_][(src_[i_] >> shift_) & 0xff]++] = src_[i_]; \
			swap_ = src_;                                                      \
			src_ = dst_;                                                       \
			dst_ = swap_;                                                      \
		}                                                                          \
		if (src_ != (values))                                                      \
			memcpy((values), src_, (n) * sizeof(type));                        \
	} while (0)

/*
 * Values that all fit 32 bits (iteration times under 4.29 s, most counts)
 * are sorted as uint32 inside the caller's own array: packed into its first
 * half, sorted with its second half as the radix scratch, and widened back
 * from the end (element i is written at bytes 8i..8i+7, over packed
 * elements 2i and 2i+1, which are read by then). No allocation: at 10
 * million values that saves 80 MB and the page faults of touching it.
 */
static bool sort_narrow(uint64_t *values, size_t n)
{
	uint32_t *packed = (uint32_t *)(void *)values, *scratch = packed + n;
	size_t counts[4][256] = { { 0 } };

	for (size_t i = 0; i < n; i++)
		if (values[i] > UINT32_MAX)
			return false;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)values[i]; /* i <= 2i: read before written */

		packed[i] = v;
		for (unsigned d = 0; d < 4; d++)
			counts[d][(v >> (8 * d)) & 0xff]++;
	}
	RADIX_PASSES(uint32_t, packed, scratch, n, counts, 4);
	for (size_t i = n; i-- > 0;)
		values[i] = packed[i];
	return true;
}

void stats_sort(uint64_t *values, size_t n)
{
	size_t (*counts)[256];
	uint64_t *scratch;

	if (n < 64) {
		qsort(values, n, sizeof(*values), compare_u64);
		return;
	}
	if (sort_narrow(values, n))
		return;
	scratch = malloc(n * sizeof(*scratch));
	counts = calloc(8, sizeof(*counts));
	if (!scratch || !counts) {
		free(scratch);
		free(counts);
		qsort(values, n, sizeof(*values), compare_u64);
		return;
	}
	for (size_t i = 0; i < n; i++)
		for (unsigned d = 0; d < 8; d++)
			counts[d][(values[i] >> (8 * d)) & 0xff]++;
	RADIX_PASSES(uint64_t, values, scratch, n, counts, 8);
	free(scratch);
	free(counts);
}

double stats_quantile_sorted(const uint64_t *sorted, size_t n, double q)
{
	double h, frac;
	size_t i;

	assert(n >= 1);
	if (!(q > 0)) /* also NaN */
		return (double)sorted[0];
	if (q >= 1)
		return (double)sorted[n - 1];
	h = (double)(n - 1) * q;
	i = (size_t)h;
	if (i >= n - 1)
		return (double)sorted[n - 1];
	frac = h - (double)i;
	/* Interpolate on the difference so that large equal values stay exact. */
	return (double)sorted[i] + frac * (double)(sorted[i + 1] - sorted[i]);
}

int stats_quantile(const uint64_t *values, size_t n, double q, double *result)
{
	uint64_t *copy;

	if (!n)
		return -EINVAL;
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, values, n * sizeof(*copy));
	stats_sort(copy, n);
	*result = stats_quantile_sorted(copy, n, q);
	free(copy);
	return 0;
}

/*
 * The deviations |x - m| of a sorted array from its median m form two
 * non-decreasing runs: walking left from the median (m - x[i]) and right
 * from it (x[j] - m). Merging the two runs until the middle one is reached
 * gives the median of the deviations in n/2 steps without sorting them.
 */
double stats_mad_sorted(const uint64_t *sorted, size_t n)
{
	double m = stats_quantile_sorted(sorted, n, 0.5);
	size_t lo = 0, hi = n, k, want;
	ptrdiff_t left;
	size_t right;
	double previous = 0, current = 0;

	/* right = first index whose value is above m */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((double)sorted[mid] <= m)
			lo = mid + 1;
		else
			hi = mid;
	}
	right = lo;
	left = (ptrdiff_t)lo - 1;
	want = (n - 1) / 2; /* index of the lower middle deviation */
	for (k = 0; k <= want + (n % 2 == 0); k++) {
		double dl = left >= 0 ? m - (double)sorted[left] : INFINITY;
		double dr = right < n ? (double)sorted[right] - m : INFINITY;

		previous = current;
		if (dl <= dr) {
			current = dl;
			left--;
		} else {
			current = dr;
			right++;
		}
	}
	/* n even: the two middle deviations, averaged as the median is */
	return n % 2 ? current : (previous + current) / 2;
}

void stats_summarize_sorted(const uint64_t *sorted, size_t n, struct stats_summary *s)
{
	long double sum = 0;
	uint64_t total = 0;

	assert(n >= 1);
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		sum += sorted[i];
		if (__builtin_add_overflow(total, sorted[i], &total))
			total = UINT64_MAX;
	}
	s->n = n;
	s->min = sorted[0];
	s->max = sorted[n - 1];
	s->total = total;
	s->mean = (double)(sum / n);
	s->median = stats_quantile_sorted(sorted, n, 0.5);
	s->p90 = stats_quantile_sorted(sorted, n, 0.9);
	s->p99 = stats_quantile_sorted(sorted, n, 0.99);
	s->mad = stats_mad_sorted(sorted, n);
}

int stats_summarize(const uint64_t *values, size_t n, struct stats_summary *s)
{
	uint64_t *sorted;

	memset(s, 0, sizeof(*s));
	if (!n)
		return -EINVAL;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, values, n * sizeof(*sorted));
	stats_sort(sorted, n);
	stats_summarize_sorted(sorted, n, s);
	free(sorted);
	return 0;
}

/* The bins of a histogram of values from @min to @max (counts left 0). */
static void histogram_edges(struct stats_histogram *h, uint64_t min, uint64_t max,
			    unsigned max_bins)
{
	unsigned bins;

	memset(h, 0, sizeof(*h));
	if (max_bins < 1)
		max_bins = 1;
	if (max_bins > STATS_HISTOGRAM_MAX_BINS)
		max_bins = STATS_HISTOGRAM_MAX_BINS;

	h->lower[0] = min;
	if (min == max) {
		bins = 1;
	} else if (max - min < max_bins) {
		/* few distinct integers: one bin per value */
		bins = (unsigned)(max - min) + 1;
		for (unsigned i = 1; i < bins; i++)
			h->lower[i] = min + i;
	} else {
		double lo = min ? (double)min : 1.0;
		double ratio = pow((double)max / lo, 1.0 / max_bins);

		bins = 1;
		for (unsigned i = 1; i < max_bins; i++) {
			double edge = lo * pow(ratio, i);
			uint64_t e = edge >= (double)max ? max : (uint64_t)llround(edge);

			/* rounding can merge edges of small values: keep them
			 * strictly increasing, and below max */
			if (e <= h->lower[bins - 1])
				e = h->lower[bins - 1] + 1;
			if (e >= max)
				break;
			h->lower[bins++] = e;
		}
	}
	h->bins = bins;
	h->lower[bins] = max;
}

void stats_histogram_build(const uint64_t *sorted, size_t n, unsigned max_bins,
			   struct stats_histogram *h)
{
	unsigned bins;

	assert(n >= 1);
	histogram_edges(h, sorted[0], sorted[n - 1], max_bins);
	bins = h->bins;
	for (size_t i = 0, b = 0; i < n; i++) {
		while (b + 1 < bins && sorted[i] >= h->lower[b + 1])
			b++;
		h->count[b]++;
	}
}

char *stats_format_duration(double ns, char *buf, size_t len)
{
	static const char *const units[] = { "ns", "µs", "ms", "s" };
	double v = ns;
	unsigned u = 0;

	if (!(v >= 0))
		v = 0;
	/* 999.7 ns must print as "1.00 µs", not "1000 ns": compare the value
	 * as it will be rounded to 3 significant digits. */
	while (u < 3 && v >= 999.5) {
		v /= 1000;
		u++;
	}
	if (u == 0 && v == floor(v))
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else if (v >= 99.95)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else if (v >= 9.995)
		snprintf(buf, len, "%.1f %s", v, units[u]);
	else
		snprintf(buf, len, "%.2f %s", v, units[u]);
	return buf;
}

size_t stats_display_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void print_padded(FILE *out, const char *s, size_t width, int right)
{
	size_t w = stats_display_width(s);

	if (right)
		fprintf(out, "%*s%s", (int)(width > w ? width - w : 0), "", s);
	else
		fprintf(out, "%s%*s", s, (int)(width > w ? width - w : 0), "");
}

void stats_histogram_print(const struct stats_histogram *h, FILE *out, const char *indent,
			   unsigned width)
{
	char labels[STATS_HISTOGRAM_MAX_BINS][64];
	char lo[24], hi[24];
	size_t label_width = 0, count_width = 1, fixed;
	uint64_t most = 1;
	unsigned bar;

	for (unsigned b = 0; b < h->bins; b++) {
		/* bin b is [lower, next) except the last, which is [lower, max] */
		if (h->bins == 1 || h->lower[b + 1] - h->lower[b] <= 1)
			snprintf(labels[b], sizeof(labels[b]), "%s",
				 stats_format_duration((double)h->lower[b], lo, sizeof(lo)));
		else
			snprintf(labels[b], sizeof(labels[b]), "%s - %s",
				 stats_format_duration((double)h->lower[b], lo, sizeof(lo)),
				 stats_format_duration((double)h->lower[b + 1], hi,
						       sizeof(hi)));
		if (stats_display_width(labels[b]) > label_width)
			label_width = stats_display_width(labels[b]);
		if (h->count[b] > most)
			most = h->count[b];
	}
	for (uint64_t c = most; c >= 10; c /= 10)
		count_width++;
	fixed = strlen(indent) + label_width + count_width + 4; /* " |" "| " */
	bar = width > fixed + 10 ? (unsigned)(width - fixed) : 10;

	for (unsigned b = 0; b < h->bins; b++) {
		/* a non-empty bin shows at least one mark: rare slow iterations
		 * are what one looks for */
		unsigned len = (unsigned)((double)h->count[b] * bar / (double)most + 0.5);

		if (h->count[b] && !len)
			len = 1;
		fputs(indent, out);
		print_padded(out, labels[b], label_width, 1);
		fputs(" |", out);
		for (unsigned i = 0; i < bar; i++)
			fputc(i < len ? '#' : ' ', out);
		fprintf(out, "| %*llu\n", (int)count_width, (unsigned long long)h->count[b]);
	}
}

uint64_t stats_select(uint64_t *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	/* Quickselect with a median-of-three pivot and a three-way partition:
	 * expected O(n), and sorted blocks or many equal values (common in
	 * iteration times on a coarse clock) do not degrade it. The pivot is
	 * a value of the range, so the "equal" part is never empty. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, lt = lo, gt = hi, i = lo;
		uint64_t a = v[lo], b = v[mid], c = v[hi], pivot, t;

		pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		while (i <= gt) {
			if (v[i] < pivot) {
				t = v[lt], v[lt++] = v[i], v[i++] = t;
			} else if (v[i] > pivot) {
				t = v[gt], v[gt--] = v[i], v[i] = t;
			} else {
				i++;
			}
		}
		if (k < lt)
			hi = lt - 1;
		else if (k > gt)
			lo = gt + 1;
		else
			return pivot;
	}
	return v[k];
}

/* ------------------------------------------------------------------------
 * Statistics of a union of sorted runs, without merging them: the k-th
 * smallest value is the smallest v with count(<= v) > k, found by binary
 * search over the values, each count a binary search per run. With a few
 * runs (the phases of a region) that is a few thousand steps, where merging
 * would copy every value again.
 */

/* Values of @run (sorted, @len) that are <= @v. */
static size_t count_at_most(const uint64_t *run, size_t len, uint64_t v)
{
	size_t lo = 0, hi = len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (run[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The number of values of the runs, their smallest and largest. */
static size_t runs_extent(const struct stats_run *runs, unsigned count, uint64_t *min,
			  uint64_t *max)
{
	size_t n = 0;

	*min = UINT64_MAX;
	*max = 0;
	for (unsigned r = 0; r < count; r++) {
		if (!runs[r].len)
			continue;
		n += runs[r].len;
		*min = runs[r].values[0] < *min ? runs[r].values[0] : *min;
		*max = runs[r].values[runs[r].len - 1] > *max ? runs[r].values[runs[r].len - 1] : *max;
	}
	return n;
}

static uint64_t runs_select(const struct stats_run *runs, unsigned count, size_t k)
{
	uint64_t lo, hi;

	runs_extent(runs, count, &lo, &hi);
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		size_t n = 0;

		for (unsigned r = 0; r < count; r++)
			n += count_at_most(runs[r].values, runs[r].len, mid);
		if (n > k)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static double runs_quantile(const struct stats_run *runs, unsigned count, size_t n, double q);

double stats_quantile_runs(const struct stats_run *runs, unsigned count, double q)
{
	size_t n = 0;

	for (unsigned r = 0; r < count; r++)
		n += runs[r].len;
	return n ? runs_quantile(runs, count, n, q) : 0;
}

static double runs_quantile(const struct stats_run *runs, unsigned count, size_t n, double q)
{
	double h = (double)(n - 1) * (q < 0 ? 0 : q > 1 ? 1 : q), frac;
	size_t i = (size_t)h;
	uint64_t a = runs_select(runs, count, i), b;

	frac = h - (double)i;
	if (frac == 0 || i + 1 >= n)
		return (double)a;
	b = runs_select(runs, count, i + 1);
	return (double)a + frac * (double)(b - a);
}

/* Values within @u / 2 of m, where @m2 = 2m: 2x in [m2 - u, m2 + u]. */
static size_t runs_count_near(const struct stats_run *runs, unsigned count, __int128 m2,
			      __int128 u)
{
	__int128 low = m2 - u, high = m2 + u; /* bounds on 2x */
	size_t n = 0;

	for (unsigned r = 0; r < count; r++) {
		size_t below = 0, upto;

		if (high < 0)
			continue;
		upto = count_at_most(runs[r].values, runs[r].len,
				     high / 2 > UINT64_MAX ? UINT64_MAX : (uint64_t)(high / 2));
		if (low > 0)
			below = count_at_most(runs[r].values, runs[r].len,
					       (uint64_t)((low + 1) / 2) - 1);
		n += upto - below;
	}
	return n;
}

/* The k-th smallest |x - m| (in halves: returns 2|x - m|). */
static __int128 runs_select_deviation(const struct stats_run *runs, unsigned count,
				      __int128 m2, uint64_t span, size_t k)
{
	__int128 lo = 0, hi = (__int128)span * 2 + 2;

	while (lo < hi) {
		__int128 mid = lo + (hi - lo) / 2;

		if (runs_count_near(runs, count, m2, mid) > k)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void stats_summarize_runs(const struct stats_run *runs, unsigned count,
			  struct stats_summary *s)
{
	double median;
	long double sum = 0;
	size_t n;

	memset(s, 0, sizeof(*s));
	n = runs_extent(runs, count, &s->min, &s->max);
	s->n = n;
	if (!n) {
		s->min = 0;
		return;
	}
	/* one pass: the exact (saturated) total and the sum for the mean */
	for (unsigned r = 0; r < count; r++)
		for (size_t i = 0; i < runs[r].len; i++) {
			uint64_t v = runs[r].values[i];

			s->total = s->total + v < s->total ? UINT64_MAX : s->total + v;
			sum += v;
		}
	s->mean = (double)(sum / n);
	median = runs_quantile(runs, count, n, 0.5);
	s->median = median;
	s->p90 = runs_quantile(runs, count, n, 0.9);
	s->p99 = runs_quantile(runs, count, n, 0.99);
	s->mad = stats_mad_runs(runs, count, median);
}

double stats_mad_runs(const struct stats_run *runs, unsigned count, double median)
{
	uint64_t min, max;
	size_t n = runs_extent(runs, count, &min, &max), lo, hi;
	__int128 m2, a, b;

	if (!n)
		return 0;
	/* the median is a whole number or half of one */
	m2 = (__int128)(2 * median + 0.5);
	lo = (n - 1) / 2;
	hi = n / 2;
	a = runs_select_deviation(runs, count, m2, max - min, lo);
	b = hi == lo ? a : runs_select_deviation(runs, count, m2, max - min, hi);
	return ((double)a + (double)b) / 4; /* halves, averaged */
}

void stats_histogram_build_runs(const struct stats_run *runs, unsigned count, unsigned max_bins,
				struct stats_histogram *h)
{
	uint64_t min, max;

	if (!runs_extent(runs, count, &min, &max)) {
		memset(h, 0, sizeof(*h));
		return;
	}
	histogram_edges(h, min, max, max_bins);
	/* bin b: lower[b] <= x < lower[b + 1], the last one up to max */
	for (unsigned b = 0; b < h->bins; b++) {
		size_t below = 0, upto = 0;

		for (unsigned r = 0; r < count; r++) {
			if (h->lower[b])
				below += count_at_most(runs[r].values, runs[r].len, h->lower[b] - 1);
			upto += b + 1 == h->bins ? runs[r].len
						 : count_at_most(runs[r].values, runs[r].len,
								 h->lower[b + 1] - 1);
		}
		h->count[b] = upto - below;
	}
}
