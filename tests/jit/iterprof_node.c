/*
 * iterprof markers for Node.js: a tiny N-API addon.
 *
 *     const markers = require('./iterprof_node.node');
 *     markers.begin('step'); work(); markers.end('step');
 *     markers.available   // true when the iterprof shim is loaded
 *     markers.fileSize(fd) // fstat(fd).st_size, -1 on error
 *
 * fileSize is for node_warmup.js's ground truth (the size of V8's perf map
 * around each iteration): natively, because fs.fstatSync is JavaScript that
 * V8 compiles and tiers up like any other, adding its own code objects to
 * the map at the moment it is measured.
 * Build (no node-gyp; the napi_* symbols are resolved from the node binary
 * when node loads the addon, hence no -l and no undefined-symbol check):
 *
 *     gcc -shared -fPIC -O2 -I/usr/include/node -o iterprof_node.node iterprof_node.c
 *
 * iterprof_iter_begin/end are looked up with dlsym(RTLD_DEFAULT) once, at
 * load, so the addon loads and runs (markers doing nothing) without the
 * shim. N-API 1 functions only: any node since 8.x loads it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define NAPI_VERSION 1
#include <node_api.h>

typedef void (*marker_fn)(const char *region);

static marker_fn marker_begin;
static marker_fn marker_end;

/* Region names longer than this are cut (the shim keeps 255 bytes of a name). */
#define NAME_MAX_BYTES 256

/* Call @fn with the string argv[0]; throws a TypeError when it is not one. */
static napi_value call_marker(napi_env env, napi_callback_info info, marker_fn fn)
{
	char name[NAME_MAX_BYTES];
	size_t argc = 1, len = 0;
	napi_value argv[1];

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return NULL;
	if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &len) !=
				napi_ok) {
		napi_throw_type_error(env, NULL, "iterprof marker: region name must be a string");
		return NULL;
	}
	if (fn)
		fn(name);
	return NULL;
}

static napi_value begin(napi_env env, napi_callback_info info)
{
	return call_marker(env, info, marker_begin);
}

static napi_value end(napi_env env, napi_callback_info info)
{
	return call_marker(env, info, marker_end);
}

static napi_value file_size(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], result;
	int32_t fd;
	struct stat st;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return NULL;
	if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
		napi_throw_type_error(env, NULL, "fileSize: the argument must be a file descriptor");
		return NULL;
	}
	if (napi_create_double(env, fstat(fd, &st) == 0 ? (double)st.st_size : -1.0, &result) !=
	    napi_ok)
		return NULL;
	return result;
}

static bool export_function(napi_env env, napi_value exports, const char *name, napi_callback cb)
{
	napi_value fn;

	return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
	       napi_set_named_property(env, exports, name, fn) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_value available;

	/* Both or neither: a half-found pair would open iterations it never closes. */
	marker_begin = (marker_fn)dlsym(RTLD_DEFAULT, "iterprof_iter_begin");
	marker_end = (marker_fn)dlsym(RTLD_DEFAULT, "iterprof_iter_end");
	if (!marker_begin || !marker_end)
		marker_begin = marker_end = NULL;

	if (!export_function(env, exports, "begin", begin) ||
	    !export_function(env, exports, "end", end) ||
	    !export_function(env, exports, "fileSize", file_size) ||
	    napi_get_boolean(env, marker_begin != NULL, &available) != napi_ok ||
	    napi_set_named_property(env, exports, "available", available) != napi_ok)
		return NULL;
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
