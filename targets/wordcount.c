/* wordcount — see wordcount.h. The rules are PyMOTW's file_to_words(): lines
 * whose first non-blank characters are ".." (reST comments) are skipped,
 * ASCII punctuation becomes a space, words are split on white space and
 * lowercased, and a word is kept when it is all letters (here: ASCII
 * letters) and not a stop word. Unlike the chapter's map, which emits
 * (word, 1) for every word, this one counts within its file first (a
 * combiner): the reduce's sums are the same and the pairs far fewer.
 *
 * Why a file name and not a path: a builtin runs as spawnd's user, so it
 * reads only WORDCOUNT_DIR/<name>.txt (the pattern allows no '/').
 */
#include "targets/wordcount.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stop_words[] = { "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is",
	"it", "of", "or", "py", "rst", "that", "the", "to", "with", NULL };

struct counts {
	char **words;
	long *n;
	size_t cap, used;
};

static size_t hash(const char *s)
{
	size_t h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static int grow(struct counts *c)
{
	struct counts g = { calloc(c->cap * 2, sizeof *g.words), calloc(c->cap * 2, sizeof *g.n), c->cap * 2, c->used };
	if (!g.words || !g.n) {
		free(g.words);
		free(g.n);
		return -1;
	}
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->words[i])
			continue;
		size_t k = hash(c->words[i]) & (g.cap - 1);
		while (g.words[k])
			k = (k + 1) & (g.cap - 1);
		g.words[k] = c->words[i];
		g.n[k] = c->n[i];
	}
	free(c->words);
	free(c->n);
	*c = g;
	return 0;
}

static int add(struct counts *c, const char *w)
{
	for (const char *const *s = stop_words; *s; s++)
		if (strcmp(*s, w) == 0)
			return 0;
	if ((c->used + 1) * 2 > c->cap && grow(c) < 0)
		return -1;
	size_t k = hash(w) & (c->cap - 1);
	while (c->words[k] && strcmp(c->words[k], w) != 0)
		k = (k + 1) & (c->cap - 1);
	if (!c->words[k]) {
		if (!(c->words[k] = strdup(w)))
			return -1;
		c->used++;
	}
	c->n[k]++;
	return 0;
}

/* The words of one line (changed in place). */
static int add_line(struct counts *c, char *line)
{
	const char *start = line + strspn(line, " \t\r\n\f\v");
	if (start[0] == '.' && start[1] == '.')
		return 0;
	for (char *p = line; *p; p++)
		*p = ispunct((unsigned char)*p) ? ' ' : (char)tolower((unsigned char)*p);
	for (char *save = NULL, *w = strtok_r(line, " \t\r\n\f\v", &save); w; w = strtok_r(NULL, " \t\r\n\f\v", &save)) {
		bool alpha = true;
		for (const char *q = w; *q && alpha; q++)
			alpha = (*q >= 'a' && *q <= 'z');
		if (alpha && add(c, w) < 0)
			return -1;
	}
	return 0;
}

static int print_counts(const struct counts *c)
{
	putchar('[');
	bool first = true;
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->words[i])
			continue;
		printf("%s[\"%s\",%ld]", first ? "" : ",", c->words[i], c->n[i]);
		first = false;
	}
	puts("]");
	return fflush(stdout) == 0 ? 0 : 1;
}

int wordcount_map(const cJSON *args, const struct target_ctx *ctx)
{
	char path[512], *line = NULL;
	size_t cap = 0;
	snprintf(path, sizeof path, "%s/%s", WORDCOUNT_DIR, target_arg_string(args, "file", ""));
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "wordcount_map: %s: cannot open it\n", path);
		return 2;
	}
	struct counts c = { calloc(1024, sizeof *c.words), calloc(1024, sizeof *c.n), 1024, 0 };
	int rc = c.words && c.n ? 0 : 1;
	while (rc == 0 && getline(&line, &cap, f) > 0)
		rc = add_line(&c, line) < 0;
	fclose(f);
	free(line);
	if (rc == 0)
		rc = print_counts(&c);
	for (size_t i = 0; c.words && i < c.cap; i++)
		free(c.words[i]);
	free(c.words);
	free(c.n);
	return rc;
}

int wordcount_reduce(const cJSON *args, const struct target_ctx *ctx)
{
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(args, "counts"), *v;
	long long sum = 0;
	cJSON_ArrayForEach(v, counts)
		sum += (long long)v->valuedouble;
	if (cJSON_IsNumber(counts))
		sum = (long long)counts->valuedouble;
	printf("%lld\n", sum);
	return fflush(stdout) == 0 ? 0 : 1;
}
