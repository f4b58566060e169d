/*
 * stats: see stats.h for the definitions used.
 */
#include <assert.h>
#include <errno.h>
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
void stats_sort(uint64_t *values, size_t n)
{
	size_t (*counts)[256];
	uint64_t *scratch, *src, *dst;

	if (n < 64) {
		qsort(values, n, sizeof(*values), compare_u64);
		return;
	}
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
	src = values;
	dst = scratch;
	for (unsigned d = 0; d < 8; d++) {
		size_t offset = 0, tmp;
		unsigned shift = 8 * d;

		if (counts[d][(src[0] >> shift) & 0xff] == n)
			continue; /* one digit for all: this pass would not move anything */
		for (unsigned b = 0; b < 256; b++) {
			tmp = counts[d][b];
			counts[d][b] = offset;
			offset += tmp;
		}
		for (size_t i = 0; i < n; i++)
			dst[counts[d][(src[i] >> shift) & 0xff]++] = src[i];
		uint64_t *swap = src;
		src = dst;
		dst = swap;
	}
	if (src != values)
		memcpy(values, src, n * sizeof(*values));
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

void stats_histogram_build(const uint64_t *sorted, size_t n, unsigned max_bins,
			   struct stats_histogram *h)
{
	uint64_t min = sorted[0], max = sorted[n - 1];
	unsigned bins;

	assert(n >= 1);
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
