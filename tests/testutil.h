/* testutil.h: small helpers shared by the Check suites. */
#ifndef NB_TESTUTIL_H
#define NB_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Path of a file under the shared models folder (NB_SHARED_MODELS, default
 * ../shared/models from the source root). Returns a static-lifetime string
 * from a small ring of buffers. The test FAILS (never skips) if the file is
 * missing: the data is part of the test setup. */
const char *nbt_shared(const char *rel);
/* Path under the build dir (NB_BUILD_DIR), e.g. nbt_build("nibble"). */
const char *nbt_build(const char *rel);
/* A fresh temporary path (in a per-process temp dir) with this file name. */
const char *nbt_tmp(const char *name);
/* Reads a whole file into an nb_malloc'd buffer (NUL-terminated). */
char *nbt_read_file(const char *path, size_t *len);
/* Runs a Suite with CK_NORMAL output and returns the exit status. */
int nbt_run_suite(Suite *s);

#endif
