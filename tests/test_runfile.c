/*
 * test_runfile.c: `nibble run -f PROMPTS` on text, block and JSONL files
 * (with broken lines), reproducibility with --seed, per-prompt seeds, fresh
 * context per prompt with a shared system prompt, and flat memory over a
 * 1000-prompt file. The model is llama.cpp's F32 stories260K GGUF. Every
 * child runs with a deadline.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "nibble.h"
#include "proc_util.h"
#include "testutil.h"

#define RUN_MS 300000

static const char *model(void) {
  return nbt_shared("llamacpp/stories260K-f32.gguf");
}

static void write_file(const char *path, const char *s, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(s, 1, n, f), n);
  fclose(f);
}

typedef struct result {
  int status; /* exit code, or -1 */
  char *out, *err;
  long maxrss_kb;
} result;

/* nibble run -m MODEL -f PATH args... */
static result run(const char *path, const char *const *args) {
  char *argv[40];
  int n = 0;
  argv[n++] = (char *)nbt_build("nibble");
  argv[n++] = "run";
  argv[n++] = "-m";
  argv[n++] = (char *)model();
  argv[n++] = "-f";
  argv[n++] = (char *)path;
  for (int i = 0; args[i] && n < 39; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  result r = {0};
  struct rusage ru;
  int st = nbt_run(argv, NULL, 0, &r.out, NULL, &r.err, RUN_MS, &ru);
  ck_assert_msg(st != -1, "nibble run -f timed out; stderr:\n%s", r.err);
  ck_assert_msg(WIFEXITED(st), "nibble run -f died: status %d; stderr:\n%s", st, r.err);
  r.status = WEXITSTATUS(st);
  r.maxrss_kb = ru.ru_maxrss;
  return r;
}

static void result_free(result *r) {
  nb_free(r->out);
  nb_free(r->err);
}

/* Parses JSONL output into an array of records. */
static cJSON *records(const char *out) {
  cJSON *arr = cJSON_CreateArray();
  const char *p = out;
  int line = 0;
  while (*p) {
    const char *e = strchr(p, '\n');
    ck_assert_msg(e != NULL, "record %d is not newline-terminated", line);
    cJSON *j = cJSON_ParseWithLength(p, (size_t)(e - p));
    ck_assert_msg(cJSON_IsObject(j), "output line %d is not a JSON object: %.*s",
                  line, (int)(e - p), p);
    cJSON_AddItemToArray(arr, j);
    p = e + 1;
    line++;
  }
  return arr;
}

static const char *str(const cJSON *rec, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *rec, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);
  ck_assert_msg(cJSON_IsNumber(v), "field %s is not a number", key);
  return v->valuedouble;
}

/* Checks the record schema; returns true when the record is an error. */
static bool check_record(const cJSON *r, int max_gen) {
  static const char *const keys[] = {"id", "prompt", "output", "prompt_tokens",
                                     "generated_tokens", "tok_per_s",
                                     "stop_reason", "error"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    ck_assert_msg(cJSON_GetObjectItemCaseSensitive(r, keys[i]) != NULL,
                  "record lacks %s", keys[i]);
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error");
  if (cJSON_IsNull(err)) {
    ck_assert_ptr_nonnull(str(r, "output"));
    double g = num(r, "generated_tokens");
    ck_assert(g >= 0 && g <= max_gen);
    ck_assert(num(r, "prompt_tokens") > 0);
    const char *stop = str(r, "stop_reason");
    ck_assert_msg(!strcmp(stop, "length") || !strcmp(stop, "eos"), "stop %s", stop);
    if (!strcmp(stop, "length")) ck_assert(g == max_gen);
    return false;
  }
  ck_assert(cJSON_IsString(err) && strlen(err->valuestring) > 0);
  ck_assert_str_eq(str(r, "stop_reason"), "error");
  return true;
}

START_TEST(test_text_format) {
  const char *f = nbt_tmp("prompts.txt");
  const char *txt = "Once upon a time\nThe little dog \\\nran away\n\n  \nLily was\n";
  write_file(f, txt, strlen(txt));
  result r = run(f, (const char *[]){"-n", "12", "-s", "42", NULL});
  ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
  ck_assert_ptr_nonnull(strstr(r.out, "=== 1 ===\nOnce upon a time"));
  ck_assert_ptr_nonnull(strstr(r.out, "=== 2 ===\nThe little dog \nran away"));
  ck_assert_ptr_nonnull(strstr(r.out, "=== 3 ===\nLily was"));
  ck_assert_ptr_null(strstr(r.out, "=== 4 ==="));
  ck_assert_ptr_nonnull(strstr(r.err, "3 prompts, 0 failed"));
  /* the same file as records: same texts, same seeds */
  result j = run(f, (const char *[]){"-n", "12", "-s", "42", "-o", "jsonl", NULL});
  ck_assert_int_eq(j.status, 0);
  cJSON *recs = records(j.out);
  ck_assert_int_eq(cJSON_GetArraySize(recs), 3);
  for (int i = 0; i < 3; i++) {
    const cJSON *rec = cJSON_GetArrayItem(recs, i);
    ck_assert(!check_record(rec, 12));
    char want[512];
    snprintf(want, sizeof want, "=== %d ===\n%s%s", i + 1, str(rec, "prompt"),
             str(rec, "output"));
    ck_assert_msg(strstr(r.out, want) != NULL, "text output lacks:\n%s", want);
  }
  cJSON_Delete(recs);
  result_free(&j);
  result_free(&r);
}
END_TEST

START_TEST(test_blocks_format) {
  const char *f = nbt_tmp("prompts.blocks");
  const char *txt = "Once upon a time\n---\nLily was\nhappy\n\n---\n\n---\nTom ran\n";
  write_file(f, txt, strlen(txt));
  result r = run(f, (const char *[]){"--format", "blocks", "-n", "6", "-s", "1",
                                     "-o", "jsonl", NULL});
  ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
  cJSON *recs = records(r.out);
  ck_assert_int_eq(cJSON_GetArraySize(recs), 3);
  ck_assert_str_eq(str(cJSON_GetArrayItem(recs, 0), "prompt"), "Once upon a time");
  ck_assert_str_eq(str(cJSON_GetArrayItem(recs, 1), "prompt"), "Lily was\nhappy");
  ck_assert_str_eq(str(cJSON_GetArrayItem(recs, 2), "prompt"), "Tom ran");
  for (int i = 0; i < 3; i++) ck_assert(!check_record(cJSON_GetArrayItem(recs, i), 6));
  cJSON_Delete(recs);
  result_free(&r);
}
END_TEST

static const char broken_jsonl[] =
    "{\"id\":\"a\",\"prompt\":\"Once upon a time\",\"n\":8}\n"
    "{not json\n"
    "{\"id\":\"u\",\"prompt\":\"\xff\xfe bad\"}\n"
    "{\"id\":5,\"prompt\":\"The cat\",\"seed\":3,\"temp\":0.5}\n"
    "{\"id\":\"x\"}\n"
    "\n"
    "{\"prompt\":\"\"}\n"
    "{\"id\":\"long\",\"prompt\":\"Lily and Tom Lily and Tom Lily and Tom Lily and "
    "Tom Lily and Tom Lily and Tom Lily and Tom Lily and Tom Lily and Tom Lily "
    "and Tom Lily and Tom Lily and Tom Lily and Tom Lily and Tom Lily and Tom "
    "Lily and Tom Lily and Tom Lily and Tom\"}\n"
    "[1,2]\n"
    "{\"id\":\"z\",\"prompt\":\"Tom and Lily\",\"n\":3,\"temp\":0}\n";

START_TEST(test_jsonl_broken_lines_and_reproducibility) {
  const char *f = nbt_tmp("prompts.jsonl");
  write_file(f, broken_jsonl, sizeof broken_jsonl - 1);
  const char *args[] = {"-c", "64", "-n", "10", "-s", "42", "-o", "jsonl", NULL};
  result r1 = run(f, args);
  ck_assert_msg(r1.status == 1, "a run with bad prompts must exit 1, got %d", r1.status);
  cJSON *a = records(r1.out);
  ck_assert_int_eq(cJSON_GetArraySize(a), 9);
  /* id -> expected error? (ids of unparsable lines name the line) */
  static const struct { const char *id; bool bad; const char *why; } want[] = {
      {"a", false, NULL},           {"line 2", true, "invalid JSON"},
      {"u", true, "UTF-8"},         {NULL, false, NULL} /* numeric id 5 */,
      {"x", true, "\"prompt\""},    {"line 7", true, "empty prompt"},
      {"long", true, "too long"},   {"line 9", true, "not a JSON object"},
      {"z", false, NULL}};
  for (int i = 0; i < 9; i++) {
    const cJSON *rec = cJSON_GetArrayItem(a, i);
    int max = i == 0 ? 8 : i == 8 ? 3 : 10;
    bool bad = check_record(rec, max);
    if (want[i].id) ck_assert_str_eq(str(rec, "id"), want[i].id);
    else ck_assert(num(rec, "id") == 5);
    ck_assert_msg(bad == want[i].bad, "record %d error state", i);
    if (bad) ck_assert_msg(strstr(str(rec, "error"), want[i].why) != NULL,
                           "record %d: error '%s' lacks '%s'", i,
                           str(rec, "error"), want[i].why);
  }
  /* the invalid prompt is echoed as valid UTF-8 (U+FFFD) */
  ck_assert_str_eq(str(cJSON_GetArrayItem(a, 2), "prompt"),
                   "\xEF\xBF\xBD\xEF\xBF\xBD bad");
  ck_assert(num(cJSON_GetArrayItem(a, 8), "generated_tokens") == 3);

  /* same seed: the same records (timings aside) */
  result r2 = run(f, args);
  ck_assert_int_eq(r2.status, 1);
  cJSON *b = records(r2.out);
  ck_assert_int_eq(cJSON_GetArraySize(b), 9);
  for (int i = 0; i < 9; i++) {
    const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
    ck_assert_str_eq(str(x, "output"), str(y, "output"));
    ck_assert(num(x, "generated_tokens") == num(y, "generated_tokens"));
  }
  /* a record's own seed does not depend on its position */
  const char *g = nbt_tmp("one.jsonl");
  const char *one = "{\"id\":5,\"prompt\":\"The cat\",\"seed\":3,\"temp\":0.5}\n";
  write_file(g, one, strlen(one));
  result r3 = run(g, (const char *[]){"-c", "64", "-n", "10", "-s", "7", "-o", "jsonl", NULL});
  ck_assert_int_eq(r3.status, 0);
  cJSON *c = records(r3.out);
  ck_assert_str_eq(str(cJSON_GetArrayItem(c, 0), "output"),
                   str(cJSON_GetArrayItem(a, 3), "output"));
  cJSON_Delete(a);
  cJSON_Delete(b);
  cJSON_Delete(c);
  result_free(&r1);
  result_free(&r2);
  result_free(&r3);
}
END_TEST

/* Prompt i is seeded with seed + i, and starts from a fresh context (after
 * the shared system prompt): running it alone with seed + i gives the same
 * text. */
START_TEST(test_seed_plus_index_and_fresh_context_with_system) {
  const char *f = nbt_tmp("two.txt"), *g = nbt_tmp("second.txt");
  write_file(f, "Once upon a time\nThe little dog\n", 32);
  write_file(g, "The little dog\n", 15);
  const char *sys = "Lily and Tom were best friends.";
  result r = run(f, (const char *[]){"-n", "16", "-s", "100", "-sys", sys,
                                     "--temp", "1", "-o", "jsonl", NULL});
  result s = run(g, (const char *[]){"-n", "16", "-s", "101", "-sys", sys,
                                     "--temp", "1", "-o", "jsonl", NULL});
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(s.status, 0);
  cJSON *a = records(r.out), *b = records(s.out);
  ck_assert_int_eq(cJSON_GetArraySize(a), 2);
  const cJSON *second = cJSON_GetArrayItem(a, 1);
  ck_assert(!check_record(second, 16));
  ck_assert_int_gt(strlen(str(second, "output")), 0);
  ck_assert_str_eq(str(second, "output"), str(cJSON_GetArrayItem(b, 0), "output"));
  /* prompt_tokens counts the prompt only ("The little dog": 4 with no BOS,
   * since BOS opens the system prompt) */
  ck_assert(num(second, "prompt_tokens") == num(cJSON_GetArrayItem(b, 0), "prompt_tokens"));
  cJSON_Delete(a);
  cJSON_Delete(b);
  result_free(&r);
  result_free(&s);
}
END_TEST

static char *many_prompts(int n, size_t *len) {
  static const char *const words[] = {"Once upon a time", "The little dog",
                                      "Lily and Tom", "One day", "The sun"};
  size_t cap = (size_t)n * 96 + 1, l = 0;
  char *s = nb_malloc(cap);
  for (int i = 0; i < n; i++) {
    if (i % 50 == 49)
      l += (size_t)snprintf(s + l, cap - l, "{\"id\":%d,\"prompt\":oops}\n", i);
    else
      l += (size_t)snprintf(s + l, cap - l, "{\"id\":%d,\"prompt\":\"%s\",\"n\":4}\n",
                            i, words[i % 5]);
  }
  *len = l;
  return s;
}

START_TEST(test_thousand_prompts_memory_flat) {
  size_t l1, l2;
  char *s1 = many_prompts(100, &l1), *s2 = many_prompts(1000, &l2);
  const char *f1 = nbt_tmp("p100.jsonl"), *f2 = nbt_tmp("p1000.jsonl");
  write_file(f1, s1, l1);
  write_file(f2, s2, l2);
  nb_free(s1);
  nb_free(s2);
  const char *args[] = {"-c", "32", "-t", "1", "-s", "5", "-o", "jsonl", NULL};
  /* Under AddressSanitizer freed blocks sit in a quarantine that grows RSS
   * with the number of frees; turn it off so RSS measures live memory (LSan
   * still checks for leaks at exit). */
  const char *asan = getenv("ASAN_OPTIONS");
  char opts[512];
  snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
           asan ? asan : "", asan && asan[0] ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
  result a = run(f1, args);
  result b = run(f2, args);
  ck_assert_int_eq(a.status, 1);
  ck_assert_int_eq(b.status, 1);
  cJSON *recs = records(b.out);
  ck_assert_int_eq(cJSON_GetArraySize(recs), 1000);
  int bad = 0;
  for (int i = 0; i < 1000; i++) {
    const cJSON *r = cJSON_GetArrayItem(recs, i);
    bool e = check_record(r, 4);
    ck_assert_msg(e == (i % 50 == 49), "record %d", i);
    bad += e;
    if (!e) ck_assert(num(r, "id") == i);
  }
  ck_assert_int_eq(bad, 20);
  cJSON_Delete(recs);
  /* peak RSS with 10x the prompts: flat within 2 MiB */
  ck_assert_msg(b.maxrss_kb - a.maxrss_kb < 2048,
                "peak RSS grows with the prompt count: %ld KiB for 100, %ld KiB for 1000",
                a.maxrss_kb, b.maxrss_kb);
  fprintf(stderr, "peak RSS: %ld KiB (100 prompts), %ld KiB (1000 prompts)\n",
          a.maxrss_kb, b.maxrss_kb);
  result_free(&a);
  result_free(&b);
}
END_TEST

/* The progress bar shows on a terminal only. */
START_TEST(test_progress_bar_only_on_a_terminal) {
  size_t l;
  char *s = many_prompts(20, &l);
  const char *f = nbt_tmp("p20.jsonl");
  write_file(f, s, l);
  nb_free(s);
  result r = run(f, (const char *[]){"-c", "32", "-s", "1", "-o", "jsonl", NULL});
  ck_assert_int_eq(r.status, 0);
  ck_assert_ptr_null(strstr(r.err, "ETA"));
  result_free(&r);
  char *argv[] = {(char *)nbt_build("nibble"), "run", "-m", (char *)model(), "-f",
                  (char *)f, "-c", "32", "-s", "1", "-o", "jsonl", NULL};
  nbt_pty p;
  nbt_pty_spawn(&p, argv);
  ck_assert(nbt_pty_wait(&p, RUN_MS));
  ck_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
  ck_assert_msg(strstr(p.out, "] 20/20") != NULL && strstr(p.out, "tok/s  ETA") != NULL,
                "no progress bar on a terminal:\n%s", p.out);
  nbt_pty_close(&p);
}
END_TEST

START_TEST(test_errors_exit_codes) {
  result r = run("/nonexistent/prompts.txt", (const char *[]){NULL});
  ck_assert_int_eq(r.status, 1);
  ck_assert_ptr_nonnull(strstr(r.err, "prompts.txt"));
  result_free(&r);
  const char *f = nbt_tmp("x.txt");
  write_file(f, "hi\n", 3);
  r = run(f, (const char *[]){"--format", "yaml", NULL});
  ck_assert_int_eq(r.status, 2);
  result_free(&r);
  r = run(f, (const char *[]){"-o", "xml", NULL});
  ck_assert_int_eq(r.status, 2);
  result_free(&r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("runfile");
  TCase *t = tcase_create("runfile");
  tcase_set_timeout(t, 600);
  tcase_add_test(t, test_text_format);
  tcase_add_test(t, test_blocks_format);
  tcase_add_test(t, test_jsonl_broken_lines_and_reproducibility);
  tcase_add_test(t, test_seed_plus_index_and_fresh_context_with_system);
  tcase_add_test(t, test_thousand_prompts_memory_flat);
  tcase_add_test(t, test_progress_bar_only_on_a_terminal);
  tcase_add_test(t, test_errors_exit_codes);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return nbt_run_suite(suite()); }
