/* The plug-in of search-host: found only through its loader's RPATH or
 * RUNPATH ($ORIGIN/sub), never through the default search. */
int shimt_foo(void);
int shimt_foo(void)
{
	return 42;
}
