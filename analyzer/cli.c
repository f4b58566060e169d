#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

int cli_quiet;

static void cli_vprint(const char *fmt, va_list ap)
{
	fputs("iterprof: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vprint(fmt, ap);
	va_end(ap);
}

void cli_info(const char *fmt, ...)
{
	va_list ap;

	if (cli_quiet)
		return;
	va_start(ap, fmt);
	cli_vprint(fmt, ap);
	va_end(ap);
}
