/*
 * env-dump: the test tool of the environment timeline (not installed).
 *
 *   env-dump DIR
 *       read DIR/iterprof-env.timeline with analyzer/env-timeline.c and print
 *       it as one JSON document (series as {"t": [...], "v": [...]}, null
 *       for a missing value); exit 2 with the reader's one-line reason on a
 *       bad file, 3 when there is no timeline.
 *
 *   env-dump --bench N [-i INTERVAL_NS] -- COMMAND [ARGS...]
 *       start COMMAND (without the shim), let it start its threads, then take
 *       N samples of it, one every INTERVAL_NS (default: record's default)
 *       as `record` does, with analyzer/env-sampler.c into a temporary file,
 *       and print what one sample costs (the sampler's CPU time and wall
 *       time, median and mean, rescans apart) and the bytes per sample.
 *       doc/environment.md quotes it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env-sampler.h"
#include "env-timeline.h"

static void print_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_value(uint64_t v)
{
	if (v == ENV_MISSING)
		fputs("null", stdout);
	else
		printf("%" PRIu64, v);
}

static void print_series(const char *name, const struct env_series *s, bool is_last)
{
	printf("\"%s\": {\"t\": [", name);
	for (size_t i = 0; i < s->n; i++)
		printf("%s%" PRIu64, i ? ", " : "", s->t[i]);
	fputs("], \"v\": [", stdout);
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			fputs(", ", stdout);
		print_value(s->v[i]);
	}
	printf("]}%s\n", is_last ? "" : ",");
}

static int dump(const char *dir)
{
	struct env_timeline tl;
	char why[512];
	int err = env_timeline_load(dir, &tl, why, sizeof(why));

	if (err) {
		fprintf(stderr, "env-dump: %s\n", why);
		return err == -ENOENT ? 3 : 2;
	}
	printf("{\"interval_ns\": %" PRIu64 ", \"start_ns\": %" PRIu64 ", \"end_ns\": %" PRIu64
	       ", \"ncpus\": %u, \"samples\": %zu,\n",
	       tl.interval_ns, tl.start_ns, tl.end_ns, tl.ncpus, tl.samples);
	fputs("\"sources\": [", stdout);
	for (size_t i = 0; i < tl.nsources; i++) {
		printf("%s{\"name\": ", i ? ", " : "");
		print_string(tl.sources[i].name);
		printf(", \"available\": %s, \"why\": ", tl.sources[i].is_available ? "true" : "false");
		print_string(tl.sources[i].why);
		putchar('}');
	}
	fputs("],\n\"cpus\": [\n", stdout);
	for (unsigned c = 0; c < tl.ncpus; c++) {
		const struct env_cpu *cpu = &tl.cpus[c];

		fputs("{", stdout);
		print_series("steal_ns", &cpu->steal_ns, false);
		print_series("irq_ns", &cpu->irq_ns, false);
		print_series("softirq_ns", &cpu->softirq_ns, false);
		print_series("idle_ns", &cpu->idle_ns, false);
		print_series("irq_count", &cpu->irq_count, false);
		print_series("softirq_count", &cpu->softirq_count, false);
		print_series("freq_khz", &cpu->freq_khz, false);
		print_series("throttle_count", &cpu->throttle_count, true);
		printf("}%s\n", c + 1 < tl.ncpus ? "," : "");
	}
	fputs("],\n", stdout);
	print_series("procs_running", &tl.procs_running, false);
	print_series("procs_blocked", &tl.procs_blocked, false);
	print_series("psi_cpu_some_ns", &tl.psi_cpu_some_ns, false);
	print_series("psi_io_some_ns", &tl.psi_io_some_ns, false);
	print_series("psi_mem_some_ns", &tl.psi_mem_some_ns, false);
	print_series("cg_nr_periods", &tl.cg_nr_periods, false);
	print_series("cg_nr_throttled", &tl.cg_nr_throttled, false);
	print_series("cg_throttled_ns", &tl.cg_throttled_ns, false);
	print_series("sampler_cpu_ns", &tl.sampler_cpu_ns, false);
	fputs("\"cg_quota_us\": ", stdout);
	print_value(tl.cg_quota_us);
	fputs(", \"cg_period_us\": ", stdout);
	print_value(tl.cg_period_us);
	fputs(", \"cg_path\": ", stdout);
	print_string(tl.cg_path);
	fputs(",\n\"tasks\": [\n", stdout);
	for (size_t i = 0; i < tl.ntasks; i++) {
		const struct env_task *t = &tl.tasks[i];

		printf("{\"pid\": %d, \"tid\": %d, \"comm\": ", t->pid, t->tid);
		print_string(t->comm);
		fputs(",\n", stdout);
		print_series("cpu_ns", &t->cpu_ns, false);
		print_series("run_delay_ns", &t->run_delay_ns, false);
		print_series("last_cpu", &t->last_cpu, true);
		printf("}%s\n", i + 1 < tl.ntasks ? "," : "");
	}
	fputs("],\n\"code\": [\n", stdout);
	for (size_t i = 0; i < tl.ncode; i++) {
		const struct env_code *c = &tl.code[i];

		printf("{\"pid\": %d,\n", c->pid);
		print_series("map_entries", &c->map_entries, false);
		print_series("map_bytes", &c->map_bytes, false);
		print_series("dump_entries", &c->dump_entries, false);
		print_series("dump_bytes", &c->dump_bytes, true);
		printf("}%s\n", i + 1 < tl.ncode ? "," : "");
	}
	fputs("]}\n", stdout);
	env_timeline_free(&tl);
	return 0;
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void summarize(const char *what, uint64_t *v, size_t n)
{
	uint64_t sum = 0;

	if (!n)
		return;
	qsort(v, n, sizeof(*v), compare_u64);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf("  %-22s n %6zu  median %7.1f us  mean %7.1f us  p90 %7.1f us\n", what, n,
	       v[n / 2] / 1e3, (double)sum / (double)n / 1e3, v[n * 9 / 10] / 1e3);
}

static int bench(size_t samples, uint64_t interval_ns, char **command)
{
	char dir[] = "/tmp/env-dump-XXXXXX", file[64], why[512];
	uint64_t *cpu_plain, *wall_plain, *cpu_rescan, *wall_rescan;
	size_t plain = 0, rescan = 0;
	unsigned rescan_every = interval_ns >= 50000000u ? 1 : (unsigned)(50000000u / interval_ns);
	struct env_sampler *s;
	struct stat st;
	pid_t pid;

	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof(file), "%s/%s", dir, ITP_ENV_FILE_NAME);
	pid = fork();
	if (pid == 0) {
		execvp(command[0], command);
		_exit(127);
	}
	if (pid < 0)
		return 1;
	usleep(200000); /* let it start its threads */
	if (env_sampler_open(file, pid, interval_ns, &s, why, sizeof(why))) {
		fprintf(stderr, "env-dump: %s\n", why);
		kill(pid, SIGKILL);
		return 1;
	}
	cpu_plain = calloc(samples, sizeof(uint64_t));
	wall_plain = calloc(samples, sizeof(uint64_t));
	cpu_rescan = calloc(samples, sizeof(uint64_t));
	wall_rescan = calloc(samples, sizeof(uint64_t));
	if (!cpu_plain || !wall_plain || !cpu_rescan || !wall_rescan)
		return 1;
	env_sampler_sample(s, false); /* the first: opens what it keeps */
	for (size_t i = 1; i <= samples; i++) {
		struct timespec tick;
		uint64_t c0, w0, next = clock_ns(CLOCK_MONOTONIC) + interval_ns;

		/* paced like the sampler thread: what changes between two
		 * samples (threads that ran) is what a sample reads */
		tick.tv_sec = (time_t)(next / 1000000000u);
		tick.tv_nsec = (long)(next % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL) == EINTR)
			;
		c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		w0 = clock_ns(CLOCK_MONOTONIC);

		env_sampler_sample(s, false);
		if (i % rescan_every == 0) {
			cpu_rescan[rescan] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
			wall_rescan[rescan++] = clock_ns(CLOCK_MONOTONIC) - w0;
		} else {
			cpu_plain[plain] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
			wall_plain[plain++] = clock_ns(CLOCK_MONOTONIC) - w0;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	stat(file, &st);
	{
		uint64_t cpu_sum = 0;

		for (size_t i = 0; i < plain; i++)
			cpu_sum += cpu_plain[i];
		for (size_t i = 0; i < rescan; i++)
			cpu_sum += cpu_rescan[i];
		printf("env-dump --bench: %zu samples of `%s` (a rescan every %u samples)\n",
		       samples, command[0], rescan_every);
		summarize("cpu, plain sample", cpu_plain, plain);
		summarize("cpu, with rescan", cpu_rescan, rescan);
		summarize("wall, plain sample", wall_plain, plain);
		summarize("wall, with rescan", wall_rescan, rescan);
		printf("  mean cpu per sample %.1f us: %.2f %% of one CPU at %.3g ms\n",
		       (double)cpu_sum / (double)samples / 1e3,
		       100.0 * (double)cpu_sum / (double)samples / (double)interval_ns,
		       interval_ns / 1e6);
		printf("  file: %lld bytes, %.0f bytes per sample\n", (long long)st.st_size,
		       (double)st.st_size / (double)(samples + 1));
	}
	env_sampler_close(s, NULL, 0);
	unlink(file);
	rmdir(dir);
	free(cpu_plain);
	free(wall_plain);
	free(cpu_rescan);
	free(wall_rescan);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "--bench")) {
		uint64_t interval_ns = ENV_INTERVAL_DEFAULT_NS;
		size_t samples = (size_t)strtoull(argv[2], NULL, 10);
		int i = 3;

		if (!strcmp(argv[i], "-i") && i + 1 < argc) {
			interval_ns = strtoull(argv[i + 1], NULL, 10);
			i += 2;
		}
		if (i < argc && !strcmp(argv[i], "--"))
			i++;
		if (!samples || !interval_ns || i >= argc)
			goto usage;
		return bench(samples, interval_ns, argv + i);
	}
	if (argc == 2 && argv[1][0] != '-')
		return dump(argv[1]);
usage:
	fputs("usage: env-dump DIR\n"
	      "       env-dump --bench N [-i INTERVAL_NS] -- COMMAND [ARGS...]\n",
	      stderr);
	return 2;
}
