"""End-to-end: -f and objects loaded later with dlopen.

A plugin loaded by dlopen while the process is single-threaded is searched
and patched when it loads; one loaded while another thread runs is refused
with a stated reason (patching running code safely is not implemented), and
the program runs unchanged either way.
"""
import os
import re

from harness import (ITERPROF, Workdir, expect, main, record, regions, report_json, run)

PLUGIN = r"""
#include <stdint.h>
__attribute__((noinline)) uint64_t plugin_step(uint64_t x)
{
	for (int i = 0; i < 50; i++)
		x = x * 6364136223846793005u + 1442695040888963407u;
	return x;
}
"""

HOST = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile int stop;
static void *spin(void *arg) { (void)arg; while (!stop) usleep(1000); return NULL; }

int main(int argc, char **argv)
{
	int with_thread = argc > 2 && argv[2][0] == 't';
	pthread_t t;
	uint64_t x = 1;
	if (with_thread)
		pthread_create(&t, NULL, spin, NULL);
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
	uint64_t (*step)(uint64_t) = (uint64_t (*)(uint64_t))dlsym(h, "plugin_step");
	for (int i = 0; i < 77; i++)
		x = step(x);
	if (with_thread) { stop = 1; pthread_join(t, NULL); }
	printf("calls plugin_step 77 result %llu\n", (unsigned long long)x);
	return 0;
}
"""


def build(w):
    with open(w.join("plugin.c"), "w") as f:
        f.write(PLUGIN)
    with open(w.join("host.c"), "w") as f:
        f.write(HOST)
    run(["cc", "-O2", "-shared", "-fPIC", "-o", w.join("libplugin.so"), w.join("plugin.c")],
        check=0)
    run(["cc", "-O2", "-o", w.join("host"), w.join("host.c"), "-lpthread", "-ldl"], check=0)


def test_plugin_patched_when_loaded():
    w = Workdir()
    build(w)
    cmd = [w.join("host"), w.join("libplugin.so")]
    plain = run(cmd, check=0)
    p = record(w.join("t"), cmd, options=["-f", "plugin_step"])
    expect(p.stdout == plain.stdout, f"same output: {p.stdout!r} vs {plain.stdout!r}")
    expect(re.search(r"-f plugin_step: patched plugin_step \(libplugin.so\)", p.stderr),
           p.stderr)
    step = regions(report_json(w.join("t")), "plugin_step")
    expect(len(step) == 1 and step[0]["iterations"] == 77, f"77 calls: {step}")
    w.cleanup()


def test_plugin_refused_while_threads_run():
    w = Workdir()
    build(w)
    cmd = [w.join("host"), w.join("libplugin.so"), "thread"]
    plain = run(cmd, check=0)
    p = record(w.join("t"), cmd, options=["-f", "plugin_step"])
    expect(p.stdout == plain.stdout, "same output")
    expect("refused plugin_step" in p.stderr and "threads run" in p.stderr, p.stderr)
    doc = report_json(w.join("t"))
    expect(not regions(doc, "plugin_step"), "not recorded")
    refused = [f for pr in doc["processes"] for f in pr["functions"] if f["status"] == "refused"]
    expect(refused and "dlopen" in refused[0]["reason"], f"reason recorded: {refused}")
    w.cleanup()


if __name__ == "__main__":
    main([test_plugin_patched_when_loaded, test_plugin_refused_while_threads_run])
