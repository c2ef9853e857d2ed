/* cmd_convert.c: `nibble convert CKPT --tokenizer MODEL -o OUT.gguf`:
 * imports a llama2.c checkpoint (nb_convert_llama2c) and prints a one-line
 * summary of the file written. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f) {
  fprintf(f,
          "usage: nibble convert CKPT.bin --tokenizer TOKENIZER.model -o "
          "OUT.gguf\n\n"
          "Converts a llama2.c checkpoint (legacy v0 or v1 header) and its\n"
          "SentencePiece model into a GGUF file (F32 weights, llama keys,\n"
          "vocabulary, and the .model bytes embedded for the tokenizer).\n");
  return f == stdout ? 0 : 2;
}

int nb_cli_convert(int argc, char **argv) {
  const char *ckpt = NULL, *tok = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
    if ((!strcmp(a, "--tokenizer") || !strcmp(a, "-t")) && i + 1 < argc) {
      tok = argv[++i];
    } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
      out = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "nibble convert: unknown or incomplete option %s\n", a);
      return usage(stderr);
    } else if (ckpt == NULL) {
      ckpt = a;
    } else {
      fprintf(stderr, "nibble convert: unexpected argument %s\n", a);
      return usage(stderr);
    }
  }
  if (ckpt == NULL || tok == NULL || out == NULL) {
    fprintf(stderr, "nibble convert: CKPT, --tokenizer and -o are required\n");
    return usage(stderr);
  }
  nb_err err = {0, ""};
  if (nb_convert_llama2c(ckpt, tok, out, &err) < 0)
    return nb_cli_fail("convert", &err);
  nb_gguf *g = NULL;
  if (nb_gguf_open(&g, out, &err) < 0) return nb_cli_fail("convert", &err);
  uint64_t params = 0;
  for (int64_t i = 0; i < nb_gguf_n_tensors(g); i++) {
    const nb_tensor_info *t = nb_gguf_tensor(g, i);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) n *= (uint64_t)t->ne[d];
    params += n;
  }
  int64_t dim = 0, layers = 0, vocab = 0;
  nb_gguf_get_int(g, "llama.embedding_length", &dim, NULL);
  nb_gguf_get_int(g, "llama.block_count", &layers, NULL);
  vocab = (int64_t)nb_gguf_arr_len(g, nb_gguf_find_key(g, "tokenizer.ggml.tokens"));
  printf("nibble convert: wrote %s: %lld tensors, %llu parameters, %llu "
         "bytes (llama, dim %lld, %lld layers, vocab %lld, f32)\n",
         out, (long long)nb_gguf_n_tensors(g), (unsigned long long)params,
         (unsigned long long)nb_gguf_file_size(g), (long long)dim,
         (long long)layers, (long long)vocab);
  nb_gguf_close(g);
  return 0;
}
