/* The program libshimt-early.so is preloaded into: it maps executable
 * memory and dlopens too, once the constructors have run. */
#include <dlfcn.h>
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *libm = dlopen("libm.so.6", RTLD_NOW);

	printf("main: mmap exec %s, dlopen libm %s\n", p == MAP_FAILED ? "failed" : "ok",
	       libm ? "ok" : dlerror());
	return 0;
}
