/*
 * json-out: see json-out.h.
 */
#include <stdlib.h>
#include <string.h>

#include "json-out.h"

bool json_failed;

void json_set(json_t *object, const char *key, json_t *value)
{
	if (!value || json_object_set_new(object, key, value))
		json_failed = true;
}

void json_add(json_t *array, json_t *value)
{
	if (!value || json_array_append_new(array, value))
		json_failed = true;
}

json_t *json_u64(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j || !s)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *c = copy; *c; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *json_text_or_null(const char *s)
{
	return s && s[0] ? json_text(s) : json_null();
}
