/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay.c - run a fuzz target over files without libFuzzer, so that
 * 'make check' exercises the parsers on the seed corpus (and on any
 * crash reproducer added to it) with the normal compiler.
 *
 * Usage: replay [FILE|DIR]...; with no argument, every file under
 * $top_srcdir/tests/fuzz/corpus/FUZZ_TARGET/ (built once per target,
 * with -DFUZZ_TARGET=\"name\").
 * A violated invariant aborts; finding no input at all is a failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_TARGET
#define FUZZ_TARGET "vhost"
#endif

static unsigned ran;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* a private copy of exactly n bytes, so ASan sees overreads */
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return -1;
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	ran++;
	return 0;
}

static int run_path(const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	if (depth > 2)
		return 0;
	DIR *dir = opendir(path);
	if (!dir) {
		perror(path);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rc |= run_path(sub, depth + 1);
	}
	closedir(dir);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			rc |= run_path(argv[i], 0);
	} else {
		const char *top = getenv("top_srcdir");
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/" FUZZ_TARGET,
			 top ? top : ".");
		rc = run_path(dir, 0);
	}
	printf("replayed %u inputs\n", ran);
	return rc || ran == 0 ? 1 : 0;
}
