/*
 * rec_env: print argv[0], argc and the variables the launcher sets, one
 * "NAME=value" line each ("NAME unset" when absent), as they were in the
 * environment this program was executed with: read from /proc/self/environ,
 * because the shim may remove its own variables from environ at start-up
 * (--no-follow) and getenv() would then not show what the launcher passed.
 */
#include <stdio.h>
#include <string.h>

static char environment[1 << 20];

int main(int argc, char **argv)
{
	static const char *const names[] = {
		"LD_PRELOAD", "ITERPROF_OUTPUT", "ITERPROF_FOLLOW",
		"ITERPROF_SCHED", "ITERPROF_VERBOSE",
	};
	FILE *f = fopen("/proc/self/environ", "r");
	size_t len;

	if (!f)
		return 2;
	len = fread(environment, 1, sizeof(environment) - 1, f);
	fclose(f);
	environment[len] = 0;
	printf("argv0=%s\nargc=%d\n", argv[0], argc);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t name_len = strlen(names[i]);
		const char *value = NULL;

		for (const char *p = environment; p < environment + len; p += strlen(p) + 1) {
			if (!strncmp(p, names[i], name_len) && p[name_len] == '=')
				value = p + name_len + 1;
		}
		if (value)
			printf("%s=%s\n", names[i], value);
		else
			printf("%s unset\n", names[i]);
	}
	return 0;
}
