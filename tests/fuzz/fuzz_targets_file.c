/* fuzz_targets_file — libFuzzer over the exec-targets file loader
 * (--targets, targets/exec_load*.c): the input is the file. It is handed to
 * exec_load_file() through a memfd (the loader reads a path), and what it
 * accepts is freed again. What must hold: 0 with a set, or an error with a
 * message and no set.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "targets/exec_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[1024] = "";
	int fd = memfd_create("targets.json", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct exec_file *f = NULL;
	int r = exec_load_file(path, &f, err, sizeof err);
	if ((r == 0) != (f != NULL) || (r < 0 && !err[0]))
		abort();
	exec_file_free(f);
	close(fd);
	return 0;
}
