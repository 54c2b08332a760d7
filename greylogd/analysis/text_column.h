/* One text column of a C scanner's output (logscan.c, greydscan.c; Python side: scan_text.py).
 *
 * Strings back to back, one a row, or (code) each distinct string once with a code a row: a column of
 * few distinct values (host, prefix, address, lists) is dictionary-encoded as it is written, through a
 * hash table that starts small (a chunk's distinct values are few, and a table that fits in the cache
 * is probed without misses) and is doubled to stay at most half full. A row's string is part of its
 * line or a normalised address no longer than it, so a capacity of the chunk's size always suffices;
 * a caller may start smaller and grow it when text_fits says no.
 */
#ifndef GREYLOGD_TEXT_COLUMN_H
#define GREYLOGD_TEXT_COLUMN_H
#include "syslog_fields.h"

typedef struct {
    char *data;       /* NULL: not wanted */
    int64_t capacity;
    int64_t *offsets; /* strings + 1 entries, [0] set by the caller */
    uint8_t *valid;   /* without code: row -> 0 where the row has no such string (it is then empty) */
    int32_t *code;    /* NULL: a string a row; else row -> index of its string, -1 where it has none */
    int32_t *slots;   /* with code: hash table of mask + 1 entries (all -1 on the call), grown up to
                         room entries: a power of two more than twice the lines */
    int64_t mask, room;
    int64_t strings;  /* strings written (0 on the call) */
} text_column;

/* the last 1-8 bytes of the n (> 0) at p as a word: overlapping fixed-size loads, not a memcpy of a
 * variable size (a call) */
static inline uint64_t last_word(const char *p, int64_t n) {
    uint64_t w;
    uint32_t a, b;
    if (n >= 8) {
        memcpy(&w, p + n - 8, 8);
        return w;
    }
    if (n >= 4) {
        memcpy(&a, p, 4), memcpy(&b, p + n - 4, 4);
        return (uint64_t)a << 32 | b;
    }
    return (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[n / 2] << 8 | (unsigned char)p[n - 1];
}

/* a hash of a short string, 8 bytes at a time (multiply and fold, as in MurmurHash3's finaliser) */
static uint64_t text_hash(span v) {
    uint64_t h = (uint64_t)(v.end - v.p) * 0x9E3779B97F4A7C15ULL, w;
    const char *p = v.p;
    for (; v.end - p > 8; p += 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    h = (h ^ (v.end > p ? last_word(p, v.end - p) : 0)) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

/* n bytes from s to d; strings of up to 16 bytes (most fields) through overlapping fixed-size moves */
static inline void copy_bytes(char *d, const char *s, int64_t n) {
    uint64_t a, b;
    uint32_t c, e;
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        memcpy(&a, s, 8), memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8), memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        memcpy(&c, s, 4), memcpy(&e, s + n - 4, 4);
        memcpy(d, &c, 4), memcpy(d + n - 4, &e, 4);
    } else if (n > 0) {
        char x = s[0], y = s[n / 2], z = s[n - 1];
        d[0] = x, d[n / 2] = y, d[n - 1] = z;
    }
}

/* whether the n bytes at a and b are the same: inline, as a call to memcmp costs more than comparing
 * the short strings of a column (8 bytes at a time, the last 1-7 through overlapping loads) */
static inline int same_bytes(const char *a, const char *b, int64_t n) {
    uint64_t x = 0, y = 0;
    uint32_t u, v;
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        memcpy(&x, a, 8), memcpy(&y, b, 8);
        if (x != y) return 0;
    }
    if (n >= 4) {
        memcpy(&u, a, 4), memcpy(&v, b, 4);
        x = u ^ v;
        memcpy(&u, a + n - 4, 4), memcpy(&v, b + n - 4, 4);
        return !(x | (u ^ v));
    }
    return !n || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

/* whether string c of t is s */
static int text_equal(const text_column *t, int32_t c, span s) {
    int64_t n = s.end - s.p;
    return t->offsets[c + 1] - t->offsets[c] == n && same_bytes(t->data + t->offsets[c], s.p, n);
}

/* the slot of s in t's hash table: the one holding s's code, or the free one where it goes (linear
 * probing; the table is never more than half full, so a free slot is always found) */
static int32_t *text_slot(const text_column *t, span s) {
    for (uint64_t i = text_hash(s) & t->mask;; i = (i + 1) & t->mask)
        if (t->slots[i] < 0 || text_equal(t, t->slots[i], s)) return &t->slots[i];
}

/* double t's hash table and put its strings back */
static void text_grow(text_column *t) {
    t->mask = 2 * t->mask + 1;
    memset(t->slots, 0xff, (t->mask + 1) * sizeof *t->slots);
    for (int64_t c = 0; c < t->strings; c++)
        *text_slot(t, (span){t->data + t->offsets[c], t->data + t->offsets[c + 1]}) = (int32_t)c;
}

/* whether s (p NULL: none) can be put into t: a column not wanted takes anything */
static int text_fits(const text_column *t, span s) {
    return !t->data || !s.p || t->offsets[t->strings] + (s.end - s.p) <= t->capacity;
}

/* the string s of row k (p NULL: the row has none) into t; the caller checked text_fits */
static void text_put(text_column *t, int64_t k, span s) {
    int64_t n = s.p ? s.end - s.p : 0;
    if (!t->data) return;
    if (t->code) {
        if (s.p && k > 0 && t->code[k - 1] >= 0 && text_equal(t, t->code[k - 1], s)) { /* as often */
            t->code[k] = t->code[k - 1];
            return;
        }
        if (2 * (t->strings + 1) > t->mask + 1 && t->mask + 1 < t->room) text_grow(t);
        int32_t *found = s.p ? text_slot(t, s) : NULL;
        if (!found || *found >= 0) { /* no string, or one already written */
            t->code[k] = found ? *found : -1;
            return;
        }
        t->code[k] = *found = (int32_t)t->strings;
    } else {
        t->valid[k] = s.p != NULL;
    }
    copy_bytes(t->data + t->offsets[t->strings], s.p, n);
    t->offsets[t->strings + 1] = t->offsets[t->strings] + n;
    t->strings++;
}

/* row k's strings fields[f] into the columns t[f], f < count, or none of them (0) when one does not fit:
 * a scanner then leaves the line to the Python path */
static int text_put_row(text_column *t, int count, int64_t k, const span *fields) {
    for (int f = 0; f < count; f++)
        if (!text_fits(&t[f], fields[f])) return 0;
    for (int f = 0; f < count; f++) text_put(&t[f], k, fields[f]);
    return 1;
}

/* whether string a of t sorts before string b: byte order, a prefix before the longer string (the
 * order arrow and pandas give UTF-8 text) */
static inline int text_before(const text_column *t, int32_t a, int32_t b) {
    int64_t na = t->offsets[a + 1] - t->offsets[a], nb = t->offsets[b + 1] - t->offsets[b];
    int c = memcmp(t->data + t->offsets[a], t->data + t->offsets[b], na < nb ? na : nb);
    return c < 0 || (c == 0 && na < nb);
}

/* order[0..n) (string indices of t) sorted by text_before: a merge sort through scratch[0..n), as a
 * hostile log can give a column as many distinct strings as lines */
static inline void text_sort(const text_column *t, int32_t *order, int32_t *scratch, int64_t n) {
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            for (int64_t i = lo, j = mid, k = lo; k < hi; k++)
                scratch[k] = j >= hi || (i < mid && !text_before(t, order[j], order[i])) ? order[i++] : order[j++];
        }
        memcpy(order, scratch, n * sizeof *order);
    }
}

/* A dictionary column finished as pandas' categorical of its values: t's strings sorted into order
 * (scratch: room for as many), and each of the first rows codes as its string's rank (-1 stays -1) in
 * codes, ints of width bytes (1, 2 or 4: the caller picks the smallest that holds -1 and the ranks,
 * as pandas does). Every string has a row (text_put adds none otherwise), so none is unused. */
static inline void text_ranks(const text_column *t, int64_t rows, int32_t *order, int32_t *scratch,
                              void *codes, int width) {
    for (int32_t c = 0; c < t->strings; c++) order[c] = c;
    text_sort(t, order, scratch, t->strings);
    for (int32_t c = 0; c < t->strings; c++) scratch[order[c]] = c; /* string -> rank */
    for (int64_t k = 0; k < rows; k++) {
        int32_t rank = t->code[k] < 0 ? -1 : scratch[t->code[k]];
        if (width == 1) ((int8_t *)codes)[k] = (int8_t)rank;
        else if (width == 2) ((int16_t *)codes)[k] = (int16_t)rank;
        else ((int32_t *)codes)[k] = rank;
    }
}

#endif
