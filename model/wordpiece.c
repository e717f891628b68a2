/*
 * wordpiece.c - BERT basic tokenizer + WordPiece over UTF-8 (see wordpiece.h
 * for the exact algorithm; tests/reference/tokenizer_ref.py is the same
 * algorithm in Python, and tests/test_wordpiece_parity.sh compares the two).
 *
 * One pass over the bytes: code points accumulate into the current
 * whitespace token (t->cps); at whitespace, a CJK ideograph or the end, the
 * token is lowercased / NFD-stripped (uncased vocabularies), split on
 * punctuation, and each word goes through greedy longest-match-first WordPiece
 * against the hash map. Tokens made only of ASCII skip the Unicode steps.
 */
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "hb_error.h"
#include "wordpiece.h"

/* ------------------------------------------------------------------------ */
/* growing id array */

void wp_ids_push(wp_ids *a, int32_t id) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->v = hb_realloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = id;
}

void wp_ids_free(wp_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------ */
/* UTF-8 */

/* Decodes one code point at s[0..n); returns its length (1-4) or 0 if the
 * bytes there are not shortest-form UTF-8 of a scalar value. */
static inline int s_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2) return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        uint32_t v = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
        *cp = v;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        uint32_t v = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        if (v < 0x10000 || v > 0x10FFFF) return 0;
        *cp = v;
        return 4;
    }
    return 0;
}

static inline int s_encode(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int wp_utf8_check(const char *s, size_t n, size_t *bad_off) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = s_decode(u + i, n - i, &cp);
        if (!k) {
            if (bad_off) *bad_off = i;
            return -1;
        }
        i += (size_t)k;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* character classes (BERT's _is_control, _is_whitespace, _is_chinese_char,
 * _is_punctuation) */

enum { C_OTHER = 0, C_SPACE, C_DROP, C_CJK };

static inline int s_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static inline int s_class(uint32_t cp) {
    if (cp < 0x80) {
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return C_SPACE;
        if (cp < 0x20 || cp == 0x7F) return C_DROP; /* includes U+0000 */
        return C_OTHER;
    }
    if (cp == 0xFFFD) return C_DROP;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF) return C_DROP;
    /* Zs is BERT's whitespace; Zl/Zp survive its cleaning but Python's
     * str.split() in whitespace_tokenize splits on them. */
    if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP) return C_SPACE;
    if (s_is_cjk(cp)) return C_CJK;
    return C_OTHER;
}

static inline int s_is_punct(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* Python's Cased / Case_Ignorable properties for the final-sigma rule of
 * str.lower(), approximated from utf8proc's data: cased = has a case or a
 * case mapping; case-ignorable = Mn Me Cf Lm Sk or Word_Break MidLetter /
 * MidNumLet / Single_Quote. */
static int s_is_cased(uint32_t cp) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return 1;
    return utf8proc_tolower((utf8proc_int32_t)cp) != (utf8proc_int32_t)cp ||
           utf8proc_toupper((utf8proc_int32_t)cp) != (utf8proc_int32_t)cp;
}

static int s_is_case_ignorable(uint32_t cp) {
    switch (cp) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
        return 1;
    default:
        break;
    }
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

/* CPython's handle_capital_sigma: U+03A3 at i of s[0..n) lowercases to
 * final sigma U+03C2 when preceded by a cased letter (skipping
 * case-ignorables) and not followed by one. */
static uint32_t s_lower_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && s_is_case_ignorable(s[j - 1])) j--;
    if (j == 0 || !s_is_cased(s[j - 1])) return 0x3C3;
    for (j = i + 1; j < n && s_is_case_ignorable(s[j]); j++) {
    }
    return (j == n || !s_is_cased(s[j])) ? 0x3C2 : 0x3C3;
}

/* ------------------------------------------------------------------------ */
/* vocabulary */

int wp_token_id(const wp_tokenizer *t, const char *tok, size_t len) {
    int32_t id;
    return strmap_get(&t->vocab, tok, len, &id) ? id : -1;
}

const char *wp_token_text(const wp_tokenizer *t, int id) {
    return (id >= 0 && id < t->n_tokens) ? t->tokens[id] : NULL;
}

static int s_special(wp_tokenizer *t, const char *name, int required, const char *path, char *err) {
    int id = wp_token_id(t, name, strlen(name));
    if (id < 0 && required) return hb_fail(err, "%s: vocabulary has no %s token", path, name), -2;
    return id;
}

int wp_load(wp_tokenizer **out, const char *vocab_path, int lowercase, char *err) {
    *out = NULL;
    FILE *f = fopen(vocab_path, "rb");
    if (!f) return hb_fail(err, "%s: cannot open vocabulary", vocab_path);
    size_t cap = 1 << 16, len = 0;
    char *buf = hb_malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) buf = hb_realloc(buf, cap *= 2);
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return hb_fail(err, "%s: read error", vocab_path);
    }
    buf[len] = '\0';
    wp_tokenizer *t = hb_calloc(1, sizeof *t);
    t->vocab_text = buf;
    t->lowercase = lowercase;
    strmap_init(&t->vocab);
    size_t tcap = 0;
    long line = 0;
    /* One token per line as load_vocab reads them: a final line without
     * '\n' counts, an empty file has no tokens. */
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && buf[e] != '\n') e++;
        size_t a = i, b = e;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r' || buf[a] == '\v' || buf[a] == '\f')) a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r' || buf[b - 1] == '\v' ||
                         buf[b - 1] == '\f'))
            b--;
        line++;
        size_t bad;
        if (wp_utf8_check(buf + a, b - a, &bad)) {
            wp_destroy(&t);
            return hb_fail(err, "%s:%ld: invalid UTF-8 in vocabulary", vocab_path, line);
        }
        buf[b] = '\0'; /* b <= e: overwrites '\n', trailing space or the final NUL */
        if ((size_t)t->n_tokens == tcap) {
            tcap = tcap ? tcap * 2 : 32768;
            t->tokens = hb_realloc(t->tokens, tcap * sizeof *t->tokens);
        }
        t->tokens[t->n_tokens] = buf + a;
        strmap_put(&t->vocab, buf + a, b - a, t->n_tokens);
        if ((int)(b - a) > t->max_token_bytes) t->max_token_bytes = (int)(b - a);
        t->n_tokens++;
        i = e + 1;
    }
    if (t->n_tokens == 0) {
        wp_destroy(&t);
        return hb_fail(err, "%s: empty vocabulary", vocab_path);
    }
    if ((t->unk_id = s_special(t, "[UNK]", 1, vocab_path, err)) < 0 ||
        (t->cls_id = s_special(t, "[CLS]", 1, vocab_path, err)) < 0 ||
        (t->sep_id = s_special(t, "[SEP]", 1, vocab_path, err)) < 0 ||
        (t->pad_id = s_special(t, "[PAD]", 1, vocab_path, err)) < 0) {
        wp_destroy(&t);
        return -1;
    }
    t->mask_id = s_special(t, "[MASK]", 0, vocab_path, err);
    *out = t;
    return 0;
}

void wp_destroy(wp_tokenizer **tp) {
    wp_tokenizer *t = *tp;
    if (!t) return;
    strmap_free(&t->vocab);
    free(t->tokens);
    free(t->vocab_text);
    free(t->cps);
    free(t->cps2);
    free(t->word);
    free(t->word_off);
    free(t);
    *tp = NULL;
}

/* ------------------------------------------------------------------------ */
/* WordPiece */

static void s_reserve_u32(uint32_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    *p = hb_realloc(*p, c * sizeof **p);
    *cap = c;
}

/* Greedy longest-match-first over the word whose n code points are
 * cps[0..n). The word's bytes go to t->word from offset 2, so that a
 * continuation key "##" + rest is formed in place by writing "##" over the
 * two bytes before `start` (bytes already consumed). */
static void s_wordpiece(wp_tokenizer *t, const uint32_t *cps, size_t n, wp_ids *out) {
    if (n == 0) return;
    if (n > WP_MAX_WORD_CHARS) {
        wp_ids_push(out, t->unk_id);
        return;
    }
    if (t->word_cap < 4 * n + 2) {
        t->word_cap = 4 * WP_MAX_WORD_CHARS + 8;
        t->word = hb_realloc(t->word, t->word_cap);
    }
    s_reserve_u32(&t->word_off, &t->word_off_cap, n + 1);
    char *w = t->word;
    uint32_t *off = t->word_off;
    uint32_t pos = 2;
    for (size_t k = 0; k < n; k++) {
        off[k] = pos;
        pos += (uint32_t)s_encode(cps[k], w + pos);
    }
    off[n] = pos;
    size_t mark = out->n, start = 0;
    while (start < n) {
        size_t end = n;
        size_t extra = start ? 2 : 0;
        while (end > start && off[end] - off[start] + extra > (size_t)t->max_token_bytes) end--;
        int32_t id = -1;
        if (start) {
            w[off[start] - 2] = '#';
            w[off[start] - 1] = '#';
        }
        for (; end > start; end--) {
            if (strmap_get(&t->vocab, w + off[start] - extra, off[end] - off[start] + extra, &id)) break;
        }
        if (end == start) {
            out->n = mark;
            wp_ids_push(out, t->unk_id);
            return;
        }
        wp_ids_push(out, id);
        start = end;
    }
}

/* ------------------------------------------------------------------------ */
/* basic tokenizer */

/* Processes the whitespace token t->cps[0..n): lowercase + strip accents
 * (uncased), then punctuation split, then WordPiece per word. */
static void s_flush(wp_tokenizer *t, size_t n, int ascii, wp_ids *out) {
    uint32_t *s = t->cps;
    if (t->lowercase) {
        if (ascii) {
            for (size_t k = 0; k < n; k++)
                if (s[k] >= 'A' && s[k] <= 'Z') s[k] += 32;
        } else {
            /* str.lower(): U+0130 expands to two code points */
            s_reserve_u32(&t->cps2, &t->cps2_cap, 2 * n + 1);
            uint32_t *l = t->cps2;
            size_t m = 0;
            for (size_t k = 0; k < n; k++) {
                uint32_t c = s[k];
                if (c == 0x3A3)
                    l[m++] = s_lower_sigma(s, n, k);
                else if (c == 0x130) {
                    l[m++] = 'i';
                    l[m++] = 0x307;
                } else
                    l[m++] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
            }
            /* NFD: full canonical decomposition, then canonical ordering
             * (stable sort of runs of non-starters by combining class), then
             * drop category Mn. Decompositions are at most 4 code points. */
            s_reserve_u32(&t->cps, &t->cps_cap, 4 * m + 1);
            s = t->cps;
            size_t d = 0;
            for (size_t k = 0; k < m; k++) {
                if (l[k] < 0xC0) {
                    s[d++] = l[k];
                    continue;
                }
                utf8proc_int32_t buf[8];
                int bound = 0;
                utf8proc_ssize_t r =
                    utf8proc_decompose_char((utf8proc_int32_t)l[k], buf, 8, UTF8PROC_DECOMPOSE, &bound);
                if (r < 1 || r > 8) {
                    s[d++] = l[k];
                    continue;
                }
                for (utf8proc_ssize_t q = 0; q < r; q++) s[d++] = (uint32_t)buf[q];
            }
            for (size_t k = 1; k < d; k++) {
                uint32_t c = s[k];
                int cc = utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
                if (!cc) continue;
                size_t j = k;
                while (j > 0) {
                    int pc = utf8proc_get_property((utf8proc_int32_t)s[j - 1])->combining_class;
                    if (pc <= cc) break;
                    s[j] = s[j - 1];
                    j--;
                }
                s[j] = c;
            }
            size_t w = 0;
            for (size_t k = 0; k < d; k++)
                if (utf8proc_category((utf8proc_int32_t)s[k]) != UTF8PROC_CATEGORY_MN) s[w++] = s[k];
            n = w;
        }
    }
    size_t ws = 0;
    for (size_t k = 0; k < n; k++) {
        if (s_is_punct(s[k])) {
            s_wordpiece(t, s + ws, k - ws, out);
            s_wordpiece(t, s + k, 1, out);
            ws = k + 1;
        }
    }
    s_wordpiece(t, s + ws, n - ws, out);
}

int wp_tokenize(wp_tokenizer *t, const char *text, size_t n, wp_ids *out, size_t *bad_off, char *err) {
    const unsigned char *u = (const unsigned char *)text;
    size_t i = 0, m = 0;
    int ascii = 1;
    if (t->cps_cap < 256) s_reserve_u32(&t->cps, &t->cps_cap, 256);
    while (i < n) {
        uint32_t cp = u[i];
        if (cp < 0x80) {
            i++;
        } else {
            int k = s_decode(u + i, n - i, &cp);
            if (!k) {
                if (bad_off) *bad_off = i;
                return hb_fail(err, "invalid UTF-8 at byte %zu", i);
            }
            i += (size_t)k;
        }
        int cls = s_class(cp);
        if (cls == C_OTHER) {
            if (m == t->cps_cap) s_reserve_u32(&t->cps, &t->cps_cap, m + 1);
            t->cps[m++] = cp;
            ascii &= cp < 0x80;
            continue;
        }
        if (cls == C_DROP) continue;
        if (m) s_flush(t, m, ascii, out);
        m = 0;
        ascii = 1;
        if (cls == C_CJK) {
            t->cps[0] = cp;
            s_flush(t, 1, 0, out);
        }
    }
    if (m) s_flush(t, m, ascii, out);
    return 0;
}
