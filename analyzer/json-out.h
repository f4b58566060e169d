/*
 * json-out: what the commands that print JSON (report, check) share.
 *
 * Every member goes through json_set() or json_add(), which note a failed
 * allocation in json_failed; a command then prints no document at all
 * rather than one with members missing.
 */
#ifndef ITERPROF_JSON_OUT_H
#define ITERPROF_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

extern bool json_failed;

void json_set(json_t *object, const char *key, json_t *value);
void json_add(json_t *array, json_t *value);
/* json_integer is signed 64-bit: larger values become reals. */
json_t *json_u64(uint64_t v);
/* A string from a trace or /proc; jansson refuses invalid UTF-8, so bytes
 * of a broken sequence become '?'. */
json_t *json_text(const char *s);
/* json_text(), or null for NULL or "". */
json_t *json_text_or_null(const char *s);

#endif /* ITERPROF_JSON_OUT_H */
