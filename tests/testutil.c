#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nibble.h"

static char *ring_next(void) {
  static char ring[16][1024];
  static int next;
  char *b = ring[next];
  next = (next + 1) % 16;
  return b;
}

const char *nbt_shared(const char *rel) {
  const char *dir = getenv("NB_SHARED_MODELS");
  if (dir == NULL || dir[0] == '\0') dir = "../shared/models";
  char *b = ring_next();
  snprintf(b, 1024, "%s/%s", dir, rel);
  struct stat st;
  ck_assert_msg(stat(b, &st) == 0,
                "reference file %s is missing (set NB_SHARED_MODELS)", b);
  return b;
}

const char *nbt_build(const char *rel) {
  const char *dir = getenv("NB_BUILD_DIR");
  if (dir == NULL || dir[0] == '\0') dir = ".";
  char *b = ring_next();
  snprintf(b, 1024, "%s/%s", dir, rel);
  return b;
}

const char *nbt_tmp(const char *name) {
  static char dir[256];
  if (dir[0] == '\0') {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nbtest.%ld", t ? t : "/tmp", (long)getpid());
    mkdir(dir, 0700);
  }
  char *b = ring_next();
  snprintf(b, 1024, "%s/%s", dir, name);
  return b;
}

char *nbt_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = nb_malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    nb_free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  buf[n] = '\0';
  if (len) *len = (size_t)n;
  return buf;
}

int nbt_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
