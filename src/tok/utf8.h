/*
 * utf8.h: strict UTF-8 (RFC 3629) decoding shared by the tokenizer (input
 * validation) and the detokenizer (byte-fallback assembly). "Strict" means:
 * no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF, no truncated sequences. This is exactly SentencePiece's
 * DecodeUTF8/IsValidDecodeUTF8, so the detokenizer replaces the same bytes
 * with U+FFFD as SentencePiece's Decode does.
 */
#ifndef NB_TOK_UTF8_H
#define NB_TOK_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a sequence starting with lead byte `c` needs: 1..4, or 0 if `c`
 * can never start a valid sequence (continuation byte, C0/C1, F5..FF). */
static inline int nb__utf8_need(uint8_t c) {
  if (c < 0x80) return 1;
  if (c < 0xc2) return 0;
  if (c < 0xe0) return 2;
  if (c < 0xf0) return 3;
  if (c < 0xf5) return 4;
  return 0;
}

/* Checks the first `avail` bytes (avail < need allowed) of a sequence
 * against the rules for its lead byte: continuation bytes 10xxxxxx, and the
 * second-byte ranges that exclude overlongs (E0: A0..BF, F0: 90..BF),
 * surrogates (ED: 80..9F) and > U+10FFFF (F4: 80..8F). Returns the full
 * length if the sequence is complete and valid, 0 if what is there is a
 * valid but incomplete prefix, -1 if it can never become valid. */
static inline int nb__utf8_check(const uint8_t *s, size_t avail) {
  if (avail == 0) return 0;
  int need = nb__utf8_need(s[0]);
  if (need == 0) return -1;
  for (int i = 1; i < need && (size_t)i < avail; i++) {
    uint8_t c = s[i];
    uint8_t lo = 0x80, hi = 0xbf;
    if (i == 1) {
      if (s[0] == 0xe0) lo = 0xa0;
      if (s[0] == 0xed) hi = 0x9f;
      if (s[0] == 0xf0) lo = 0x90;
      if (s[0] == 0xf4) hi = 0x8f;
    }
    if (c < lo || c > hi) return -1;
  }
  return (size_t)need <= avail ? need : 0;
}

/* Offset of the first byte that does not start a complete valid sequence,
 * or `len` if all of s[0..len) is valid UTF-8. */
static inline size_t nb__utf8_first_invalid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int n = nb__utf8_check(s + i, len - i);
    if (n <= 0) return i;
    i += (size_t)n;
  }
  return len;
}

#endif /* NB_TOK_UTF8_H */
