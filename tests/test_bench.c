/* test_bench.c: `nibble bench` end to end on a small synthetic model (made
 * with tools/nb-synth): the JSON has one row per (threads, act, test) with
 * llama-bench's field names and self-consistent numbers, CSV and markdown
 * have their header and rows, and bad invocations fail with the right exit
 * status. Speed itself is never asserted. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "nb_internal.h"
#include "testutil.h"

static const char *model_path(void) {
  static char path[1024];
  if (path[0]) return path;
  snprintf(path, sizeof path, "%s", nbt_tmp("bench-small-q8_0.gguf"));
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' -q --dim 128 --ffn 352 --layers 2 --heads 4 --kv-heads 2 "
           "--vocab 400 --ctx 128 --type q8_0 -o '%s'",
           nbt_build("tools/nb-synth"), path);
  int st = system(cmd);
  ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", cmd);
  return path;
}

/* Runs nibble bench with args; stdout into *out (owned); returns status. */
static int bench(const char *args, char **out) {
  const char *o = nbt_tmp("bench.out");
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' bench %s > '%s' 2> '%s.err'",
           nbt_build("nibble"), args, o, o);
  int st = system(cmd);
  ck_assert_msg(st != -1 && WIFEXITED(st), "cannot run %s", cmd);
  size_t n;
  *out = nbt_read_file(o, &n);
  ck_assert_ptr_nonnull(*out);
  return WEXITSTATUS(st);
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  ck_assert_msg(cJSON_IsNumber(v), "field %s missing or not a number", k);
  return v->valuedouble;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  ck_assert_msg(cJSON_IsString(v), "field %s missing or not a string", k);
  return v->valuestring;
}

START_TEST(test_json_rows) {
  char args[2048], *out = NULL;
  snprintf(args, sizeof args,
           "-m '%s' -p 16,8 -n 4 -t 1,2 -r 3 --act f16,q8 --bw-mib 16 "
           "--bw-reps 1 -o json",
           model_path());
  ck_assert_int_eq(bench(args, &out), 0);
  cJSON *arr = cJSON_Parse(out);
  ck_assert_msg(cJSON_IsArray(arr), "not a JSON array: %.200s", out);
  /* 2 thread counts x 2 acts x (2 pp + 1 tg) */
  ck_assert_int_eq(cJSON_GetArraySize(arr), 12);
  int seen_tg = 0;
  const cJSON *r;
  cJSON_ArrayForEach(r, arr) {
    ck_assert_str_eq(str(r, "model_filename"), model_path());
    ck_assert(strstr(str(r, "model_type"), "Q8_0") != NULL);
    ck_assert(strlen(str(r, "build_commit")) > 0);
    ck_assert(strlen(str(r, "cpu_info")) > 0);
    ck_assert(strlen(str(r, "test_time")) == 20);
    ck_assert(strlen(str(r, "kernels")) > 0);
    const char *act = str(r, "act");
    ck_assert(!strcmp(act, "f16") || !strcmp(act, "q8"));
    int th = (int)num(r, "n_threads");
    ck_assert(th == 1 || th == 2);
    int np = (int)num(r, "n_prompt"), ng = (int)num(r, "n_gen");
    ck_assert((np == 16 || np == 8) != (ng == 4));
    char want[16];
    snprintf(want, sizeof want, "%s%d", np ? "pp" : "tg", np ? np : ng);
    ck_assert_str_eq(str(r, "test"), want);
    ck_assert(num(r, "model_size") > 0);
    ck_assert(num(r, "file_size") > num(r, "model_size"));
    ck_assert_int_eq((int64_t)num(r, "model_n_params"),
                     2 * 128 * 400 +
                         2 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 352 +
                              2 * 128) +
                         128);
    /* samples: one per rep; avg_ts is their mean */
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "samples_ts");
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(r, "samples_ns");
    ck_assert_int_eq(cJSON_GetArraySize(s), 3);
    ck_assert_int_eq(cJSON_GetArraySize(sn), 3);
    double sum = 0;
    const cJSON *x;
    int i = 0;
    cJSON_ArrayForEach(x, s) {
      ck_assert(x->valuedouble > 0);
      double ns = cJSON_GetArrayItem(sn, i++)->valuedouble;
      double toks = np ? np : ng;
      ck_assert_double_eq_tol(x->valuedouble, toks / (ns * 1e-9),
                              x->valuedouble * 1e-9);
      sum += x->valuedouble;
    }
    ck_assert_double_eq_tol(num(r, "avg_ts"), sum / 3, sum * 1e-12);
    ck_assert(num(r, "stddev_ts") >= 0);
    ck_assert(num(r, "median_ts") > 0);
    ck_assert(num(r, "ttft_ms") > 0);
    ck_assert(num(r, "ttft_ms") <= num(r, "avg_ns") * 1e-6 * 1.0001);
    ck_assert(num(r, "mem_bw_before") > 0 && num(r, "mem_bw_after") > 0);
    ck_assert_double_eq_tol(
        num(r, "mem_bw"),
        0.5 * (num(r, "mem_bw_before") + num(r, "mem_bw_after")), 1.0);
    ck_assert(num(r, "weights_read_bw") > 0);
    ck_assert(num(r, "peak_rss") > 0);
    ck_assert(num(r, "state_bytes") > 0);
    if (ng) {
      seen_tg++;
      double eff = num(r, "eff_weight_bw");
      ck_assert_double_eq_tol(eff,
                              num(r, "weight_bytes_per_token") *
                                  num(r, "avg_ts"),
                              eff * 1e-9);
      ck_assert_double_eq_tol(num(r, "bw_pct"), 100 * eff / num(r, "mem_bw"),
                              1e-6 * num(r, "bw_pct"));
    } else {
      ck_assert(num(r, "eff_weight_bw") == 0);
    }
  }
  ck_assert_int_eq(seen_tg, 4);
  cJSON_Delete(arr);
  nb_free(out);
}
END_TEST

START_TEST(test_csv_and_md) {
  char args[2048], *out = NULL;
  snprintf(args, sizeof args, "-m '%s' -p 8 -n 4 -t 1 -r 2 --bw-mib 0 -o csv",
           model_path());
  ck_assert_int_eq(bench(args, &out), 0);
  const char *hdr = "build_commit,cpu_info,model_filename,model_type,"
                    "model_size,model_n_params,n_threads,";
  ck_assert(!strncmp(out, hdr, strlen(hdr)));
  int lines = 0;
  for (char *c = out; *c; c++) lines += *c == '\n';
  ck_assert_int_eq(lines, 3); /* header + pp8 + tg4 */
  ck_assert(strstr(out, ",pp8,") && strstr(out, ",tg4,"));
  ck_assert(strstr(out, ",bw_pct,weights_read_bw,peak_rss,") != NULL);
  /* every line has the header's number of fields (commas outside quotes) */
  int fields[3] = {0}, line = 0;
  bool quoted = false;
  for (char *c = out; *c && line < 3; c++) {
    if (*c == '"') quoted = !quoted;
    else if (*c == ',' && !quoted) fields[line]++;
    else if (*c == '\n') line++;
  }
  ck_assert_int_eq(fields[1], fields[0]);
  ck_assert_int_eq(fields[2], fields[0]);
  nb_free(out);

  snprintf(args, sizeof args, "-m '%s' -p 8 -n 0 -t 1 -r 1 --no-warmup "
           "--bw-mib 0", model_path());
  ck_assert_int_eq(bench(args, &out), 0);
  ck_assert(strstr(out, "| model |") != NULL);
  ck_assert(strstr(out, "| pp8 |") != NULL);
  ck_assert(strstr(out, "tg") == NULL);
  nb_free(out);
}
END_TEST

START_TEST(test_errors) {
  char args[2048], *out = NULL;
  ck_assert_int_eq(bench("-p 8", &out), 2); /* no model */
  nb_free(out);
  ck_assert_int_eq(bench("-m x.gguf -o xml", &out), 2);
  nb_free(out);
  ck_assert_int_eq(bench("-m x.gguf --act f8", &out), 2);
  nb_free(out);
  ck_assert_int_eq(bench("-m /nonexistent/model.gguf --bw-mib 0", &out), 1);
  nb_free(out);
  /* more tokens than the model's context (128) */
  snprintf(args, sizeof args, "-m '%s' -p 512 -n 0 --bw-mib 0", model_path());
  ck_assert_int_eq(bench(args, &out), 1);
  nb_free(out);
}
END_TEST

int main(void) {
  Suite *s = suite_create("bench");
  TCase *tc = tcase_create("bench");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_json_rows);
  tcase_add_test(tc, test_csv_and_md);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  return nbt_run_suite(s);
}
