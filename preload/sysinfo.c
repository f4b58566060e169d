/*
 * Descriptive fields of the trace header: what a reader needs to know where
 * and what was recorded. Read once per process image, never on the hot path.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "shim.h"

/* Copy @src into a fixed field of @len bytes, always NUL-terminated. */
static void put_string(uint8_t *field, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(field, src, n);
	field[n] = '\0';
}

ssize_t sysinfo_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t total = 0;

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1) {
		ssize_t n = read(fd, buf + total, size - 1 - (size_t)total);

		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

/* First value of "key<spaces>: value" in /proc/cpuinfo. */
static bool cpuinfo_value(const char *cpuinfo, const char *key, char *out, size_t size)
{
	size_t keylen = strlen(key);
	const char *line = cpuinfo;

	while (line && *line) {
		if (!strncmp(line, key, keylen) && (line[keylen] == ' ' || line[keylen] == '\t' ||
						    line[keylen] == ':')) {
			const char *colon = strchr(line, ':');
			const char *end = strchr(line, '\n');

			if (colon && (!end || colon < end)) {
				size_t n;

				colon++;
				while (*colon == ' ')
					colon++;
				n = end ? (size_t)(end - colon) : strlen(colon);
				if (n >= size)
					n = size - 1;
				memcpy(out, colon, n);
				out[n] = '\0';
				return true;
			}
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return false;
}

static void fill_cpu_model(uint8_t *header)
{
	static char cpuinfo[16384];
	char model[ITP_CPU_MODEL_LEN] = "unknown";
	char part[32];

	if (sysinfo_read_file("/proc/cpuinfo", cpuinfo, sizeof(cpuinfo)) > 0 &&
	    !cpuinfo_value(cpuinfo, "model name", model, sizeof(model))) {
		/* arm64 has no model name: implementer and part identify it. */
		if (cpuinfo_value(cpuinfo, "CPU implementer", model, 16) &&
		    cpuinfo_value(cpuinfo, "CPU part", part, sizeof(part))) {
			size_t n = strlen(model);

			snprintf(model + n, sizeof(model) - n, " part %s", part);
		}
	}
	put_string(header + ITP_OFF_CPU_MODEL, ITP_CPU_MODEL_LEN, model);
}

static void fill_cmdline(uint8_t *header)
{
	char buf[ITP_CMDLINE_LEN];
	ssize_t n = sysinfo_read_file("/proc/self/cmdline", buf, sizeof(buf));

	if (n <= 0)
		return;
	/* argv is NUL-separated; show it space-separated. */
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	put_string(header + ITP_OFF_CMDLINE, ITP_CMDLINE_LEN, buf);
}

void sysinfo_fill_header(uint8_t *header)
{
	struct utsname u;
	char exe[ITP_EXE_LEN];
	ssize_t n;

	if (uname(&u) == 0) {
		char kernel[sizeof(u.sysname) + sizeof(u.release) + 1];

		snprintf(kernel, sizeof(kernel), "%s %s", u.sysname, u.release);
		put_string(header + ITP_OFF_HOST, ITP_HOST_LEN, u.nodename);
		put_string(header + ITP_OFF_KERNEL, ITP_KERNEL_LEN, kernel);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		put_string(header + ITP_OFF_EXE, ITP_EXE_LEN, exe);
	}
	fill_cpu_model(header);
	fill_cmdline(header);
}
