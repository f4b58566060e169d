/*
 * Event names to perf_event_attr fields (events.h). libpfm4 knows the
 * generic names and the event tables of the machine's CPU PMU; sysfs PMU
 * events (msr/tsc/, power/energy-pkg/) are encoded here from the kernel's own
 * description of each PMU: its `type`, its `events/NAME` aliases ("event=0x3c,
 * umask=0x1") and its `format/FIELD` bit ranges ("config:0-7").
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <perfmon/pfmlib_perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "events.h"
#include "iterprof/perf-events.h"

#define SYSFS_PMUS "/sys/bus/event_source/devices"

static bool pfm_is_ready;

static int pfm_ready(void)
{
	if (!pfm_is_ready && pfm_initialize() != PFM_SUCCESS)
		return -1;
	pfm_is_ready = true;
	return 0;
}

static int read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return 0;
}

/* Put @value into the bits a format file describes ("config1:0-15,32-35"). */
static int apply_format(const char *format, uint64_t value, struct event_spec *ev)
{
	uint64_t *target;
	const char *ranges;
	unsigned shift = 0;

	if (!strncmp(format, "config:", 7))
		target = &ev->config, ranges = format + 7;
	else if (!strncmp(format, "config1:", 8))
		target = &ev->config1, ranges = format + 8;
	else if (!strncmp(format, "config2:", 8))
		target = &ev->config2, ranges = format + 8;
	else
		return -1;
	while (*ranges) {
		char *end;
		unsigned lo = (unsigned)strtoul(ranges, &end, 10), hi = lo;

		if (end == ranges || lo > 63)
			return -1;
		if (*end == '-') {
			hi = (unsigned)strtoul(end + 1, &end, 10);
			if (hi < lo || hi > 63)
				return -1;
		}
		for (unsigned bit = lo; bit <= hi; bit++, shift++) {
			if (value >> shift & 1)
				*target |= (uint64_t)1 << bit;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		ranges = end;
	}
	return 0;
}

/* Apply "term[=value],..." of PMU @pmu (an event alias's text or what the
 * user typed between the slashes). @depth stops alias loops. */
static int apply_terms(const char *pmu, const char *terms, struct event_spec *ev, int depth,
		       char *why, size_t why_len)
{
	char *copy = strdup(terms), *save = NULL, *term;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (term = strtok_r(copy, ",", &save); term && !err; term = strtok_r(NULL, ",", &save)) {
		char path[512], text[512], *eq = strchr(term, '=');
		uint64_t value = 1;

		while (isspace((unsigned char)*term))
			term++;
		if (!*term)
			continue;
		if (eq) {
			*eq = '\0';
			value = strtoull(eq + 1, NULL, 0);
		}
		snprintf(path, sizeof(path), SYSFS_PMUS "/%s/format/%s", pmu, term);
		if (read_text(path, text, sizeof(text)) == 0) {
			if (apply_format(text, value, ev)) {
				snprintf(why, why_len, "%s/%s: cannot read its format '%s'", pmu, term,
					 text);
				err = -EINVAL;
			}
			continue;
		}
		snprintf(path, sizeof(path), SYSFS_PMUS "/%s/events/%s", pmu, term);
		if (!eq && depth < 2 && read_text(path, text, sizeof(text)) == 0) {
			err = apply_terms(pmu, text, ev, depth + 1, why, why_len);
			continue;
		}
		snprintf(why, why_len, "PMU %s has no event or field '%s' (see %s/%s/events)", pmu,
			 term, SYSFS_PMUS, pmu);
		err = -EINVAL;
	}
	free(copy);
	return err;
}

/* "PMU/terms/": 0, -EINVAL with @why, or 1 when @name is not of this form. */
static int resolve_sysfs(const char *name, struct event_spec *ev, char *why, size_t why_len)
{
	const char *slash = strchr(name, '/'), *close;
	char pmu[128], terms[256], path[512], text[64];

	if (!slash || slash == name || !(close = strchr(slash + 1, '/')))
		return 1;
	if ((size_t)(slash - name) >= sizeof(pmu) || (size_t)(close - slash - 1) >= sizeof(terms))
		return 1;
	memcpy(pmu, name, (size_t)(slash - name));
	pmu[slash - name] = '\0';
	memcpy(terms, slash + 1, (size_t)(close - slash - 1));
	terms[close - slash - 1] = '\0';
	if (close[1] && close[1] != ':') {
		snprintf(why, why_len, "'%s': nothing may follow the closing '/' but :u or :k", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), SYSFS_PMUS "/%s/type", pmu);
	if (read_text(path, text, sizeof(text))) {
		snprintf(why, why_len, "no PMU '%s' on this machine (%s lists them)", pmu,
			 SYSFS_PMUS);
		return -EINVAL;
	}
	ev->type = (uint32_t)strtoul(text, NULL, 10);
	return apply_terms(pmu, terms, ev, 0, why, why_len);
}

int events_resolve(const char *name, struct event_spec *ev, char *why, size_t why_len)
{
	char base[256];
	size_t len = strlen(name);
	const char *mods = NULL;
	int err;

	memset(ev, 0, sizeof(*ev));
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	if (!len || len >= sizeof(base) || strpbrk(name, " \t\n")) {
		snprintf(why, why_len, "'%s': not an event name", name);
		return -EINVAL;
	}
	/* perf's modifiers, when they end the name: ":u", ":k", ":uk". */
	memcpy(base, name, len + 1);
	{
		char *colon = strrchr(base, ':');

		if (colon && colon[1] && strspn(colon + 1, "uk") == strlen(colon + 1) &&
		    (colon == base || colon[-1] != ':')) {
			mods = name + (colon - base) + 1;
			*colon = '\0';
		}
	}
	err = resolve_sysfs(base, ev, why, why_len);
	if (err <= 0) {
		if (err)
			return err;
	} else {
		struct perf_event_attr attr;
		pfm_perf_encode_arg_t arg;
		int ret;

		if (pfm_ready()) {
			snprintf(why, why_len, "'%s': libpfm4 failed to initialise", name);
			return -EINVAL;
		}
		memset(&attr, 0, sizeof(attr));
		memset(&arg, 0, sizeof(arg));
		arg.attr = &attr;
		arg.size = sizeof(arg);
		ret = pfm_get_os_event_encoding(base, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg);
		if (ret != PFM_SUCCESS) {
			snprintf(why, why_len,
				 "unknown event '%s' (libpfm4: %s; `iterprof events --all` lists this "
				 "machine's)",
				 name, pfm_strerror(ret));
			return -EINVAL;
		}
		ev->type = attr.type;
		ev->config = attr.config;
		ev->config1 = attr.config1;
		ev->config2 = attr.config2;
		ev->exclude_user = attr.exclude_user;
		ev->exclude_kernel = attr.exclude_kernel;
		ev->is_mode_given = attr.exclude_user || attr.exclude_kernel;
	}
	if (mods) {
		bool user = strchr(mods, 'u'), kernel = strchr(mods, 'k');

		ev->exclude_user = !user;
		ev->exclude_kernel = !kernel;
		ev->is_mode_given = true;
	}
	return 0;
}

int events_parse_list(const char *list, struct event_spec *out, size_t max, size_t *count,
		      char *why, size_t why_len)
{
	const char *p = list;

	*count = 0;
	while (*p) {
		const char *end = p;
		int slashes = 0;
		char name[256];
		int err;

		/* A comma ends the name unless it is between PMU/ and /. */
		while (*end && (*end != ',' || slashes == 1))
			slashes += *end++ == '/';
		if (end == p || (size_t)(end - p) >= sizeof(name)) {
			snprintf(why, why_len, "-e '%s': an empty or overlong event name", list);
			return -EINVAL;
		}
		memcpy(name, p, (size_t)(end - p));
		name[end - p] = '\0';
		if (*count == max) {
			snprintf(why, why_len, "-e: more than %zu events", max);
			return -EINVAL;
		}
		err = events_resolve(name, &out[*count], why, why_len);
		if (err)
			return err;
		for (size_t i = 0; i < *count; i++) {
			if (!strcmp(out[i].name, out[*count].name)) {
				snprintf(why, why_len, "-e: '%s' is listed twice", name);
				return -EINVAL;
			}
		}
		(*count)++;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int open_attr(const struct event_spec *ev)
{
	struct perf_event_attr attr = itp_perf_attr(ev->type, ev->config, ev->config1, ev->config2,
						    ev->exclude_user, ev->exclude_kernel);
	/* Opened disabled: the question is whether it can be opened, and
	 * starting some events has side effects (power/energy-psys faults an
	 * MSR read in some guests). */
	int fd = itp_perf_open_self(&attr, -1, 1);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

int events_try_open(struct event_spec *ev)
{
	int err = open_attr(ev);

	if ((err == EACCES || err == EPERM) && !ev->is_mode_given && !ev->exclude_kernel) {
		ev->exclude_kernel = true;
		err = open_attr(ev);
		if (err)
			ev->exclude_kernel = false;
	}
	return err;
}

char *events_to_env(const struct event_spec *evs, size_t count)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	for (size_t i = 0; i < count; i++)
		fprintf(f, "%s %u %llu %llu %llu %d %d %d\n", evs[i].name, evs[i].type,
			(unsigned long long)evs[i].config, (unsigned long long)evs[i].config1,
			(unsigned long long)evs[i].config2, evs[i].exclude_user,
			evs[i].exclude_kernel, evs[i].is_mode_given);
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}
