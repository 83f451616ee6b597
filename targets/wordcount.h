/* wordcount — the chapter's MapReduce word count (PyMOTW multiprocessing_wordcount.py)
 * as two builtin targets for POST /mapreduce: wordcount_map (a text file ->
 * [[word, count]...]) and wordcount_reduce (word, counts... -> their sum). */
#ifndef SPAWND_WORDCOUNT_H
#define SPAWND_WORDCOUNT_H

#include "targets/target.h"

/* The folder wordcount_map reads, relative to the server's working directory. */
#define WORDCOUNT_DIR "examples/texts"

int wordcount_map(const cJSON *args, const struct target_ctx *ctx);
int wordcount_reduce(const cJSON *args, const struct target_ctx *ctx);

#endif
