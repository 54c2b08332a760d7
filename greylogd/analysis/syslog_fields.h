/* Syslog header and address parsing shared by the C scanners (logscan.c: kernel LOG
 * lines; greydscan.c: greyd's messages). Every function reads only inside [p, end) and accepts only what
 * the RE2 patterns of headers.HEADERS (header) accept, so a caller can fall back to the Python path for
 * everything else. Included once per scanner module; all functions are static. Addresses: addresses.h.
 */
#ifndef GREYLOGD_SYSLOG_FIELDS_H
#define GREYLOGD_SYSLOG_FIELDS_H
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LS_RFC3164 1
#define LS_RFC3339 2
#define LS_DMESG 3
#define LS_KMSG 4

typedef struct { const char *p; const char *end; } span;

/* what header() found: stamp as ls_out.stamp (logscan.c); host empty for dmesg/kmsg */
typedef struct {
    int64_t stamp;
    span host;
    span program; /* p NULL: none */
    int64_t pid;  /* -1: none */
} syslog_header;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* the first c in [p, end), else end. Fields are short: 16 bytes at a time (SSE2, every x86-64) while
 * 16 are left, then byte by byte, beats a call to memchr and a loop's mispredicted exit. */
static inline const char *find_byte(const char *p, const char *end, char c) {
#ifdef __SSE2__
    const __m128i wanted = _mm_set1_epi8(c);
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, wanted));
        if (bits) return p + __builtin_ctz(bits);
    }
#endif
    while (p < end && *p != c) p++;
    return p;
}

/* exactly k digits at p (inside end) into *v */
static int fixed(const char *p, const char *end, int k, int *v) {
    if (end - p < k) return 0;
    *v = 0;
    for (int i = 0; i < k; i++) {
        if (!is_digit(p[i])) return 0;
        *v = *v * 10 + (p[i] - '0');
    }
    return 1;
}

/* 1..maxd digits at *pp, value into *v, *pp advanced */
static int number(const char **pp, const char *end, int maxd, int64_t *v) {
    const char *p = *pp;
    *v = 0;
    while (p < end && is_digit(*p)) {
        if (p - *pp >= maxd) return 0;
        *v = *v * 10 + (*p++ - '0');
    }
    if (p == *pp) return 0;
    *pp = p;
    return 1;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* days since 1970-01-01 of a valid civil date (H. Hinnant's algorithm) */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = y / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* the two digits at p (checked by the caller) as a number */
static inline int two_digits(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

/* the date and time to the second of the last RFC 3339 stamp read, and its seconds since the epoch
 * before the offset: a log's lines come in bursts, and a stamp that repeats them skips the calendar.
 * Zeros (no stamp yet) never match: a stamp starts with a digit. */
typedef struct {
    char key[19];
    int64_t seconds;
} stamp_cache;

/* YYYY-MM-DDThh:mm:ss at p (19 bytes readable) as seconds since the epoch, the offset not applied.
 * The shape is checked without a branch a byte. */
static int civil_seconds(const char *p, int64_t *seconds) {
    static const char shape[] = "0000-00-00T00:00:00"; /* 0: a digit */
    unsigned odd = 0;
    for (int i = 0; i < 19; i++)
        odd |= shape[i] == '0' ? (unsigned)(unsigned char)p[i] - '0' > 9 : p[i] != shape[i];
    if (odd) return 0;
    int y = two_digits(p) * 100 + two_digits(p + 2), mo = two_digits(p + 5), d = two_digits(p + 8);
    int h = two_digits(p + 11), mi = two_digits(p + 14), s = two_digits(p + 17);
    if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59
        || s > 59)
        return 0;
    *seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return 1;
}

/* YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh[:]mm) followed by a space; *pp moved past the space */
static int rfc3339(const char **pp, const char *end, stamp_cache *cache, int64_t *us) {
    const char *p = *pp;
    int oh = 0, om = 0;
    int64_t local;
    if (end - p < 20) return 0;
    if (memcmp(p, cache->key, 19) == 0) {
        local = cache->seconds;
    } else {
        if (!civil_seconds(p, &local)) return 0;
        memcpy(cache->key, p, 19), cache->seconds = local;
    }
    p += 19;
    int64_t frac = 0;
    if (p < end && *p == '.') {
        const char *f = ++p;
        while (p < end && is_digit(*p) && p - f < 9) frac = frac * 10 + (*p++ - '0');
        if (p == f || (p < end && is_digit(*p))) return 0;
        for (int k = (int)(p - f); k < 6; k++) frac *= 10;
        for (int k = (int)(p - f); k > 6; k--) frac /= 10;
    }
    int64_t offset = 0;
    if (p < end && *p == 'Z') {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1;
        if (!fixed(p + 1, end, 2, &oh)) return 0;
        p += 3;
        if (p < end && *p == ':') p++;
        if (!fixed(p, end, 2, &om) || oh > 14 || om > 59) return 0;
        p += 2;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return 0;
    }
    if (p >= end || *p != ' ') return 0;
    *us = (local - offset) * 1000000 + frac;
    *pp = p + 1;
    return 1;
}

/* "Nov 23 08:05:58 " (day also " 5"); the digits packed as MMDDhhmmss, validated by the caller */
static int rfc3164(const char **pp, const char *end, int64_t *packed) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = *pp;
    int mo = 0, d, h, mi, s;
    if (end - p < 16) return 0;
    for (int k = 0; k < 12 && !mo; k++)
        if (memcmp(p, months + 3 * k, 3) == 0) mo = k + 1;
    if (!mo || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':' || p[15] != ' ') return 0;
    if (!is_digit(p[5]) || !(p[4] == ' ' || is_digit(p[4]))) return 0;
    d = (p[4] == ' ' ? 0 : p[4] - '0') * 10 + p[5] - '0';
    if (!fixed(p + 7, end, 2, &h) || !fixed(p + 10, end, 2, &mi) || !fixed(p + 13, end, 2, &s)) return 0;
    *packed = (((mo * 100LL + d) * 100 + h) * 100 + mi) * 100 + s;
    *pp = p + 16;
    return 1;
}

/* "host " then the optional "prog[pid]: " of headers._PROG; *pp moved to the message */
static int host_and_program(const char **pp, const char *end, span *host, span *program, int64_t *pid) {
    const char *p = *pp, *q;
    program->p = program->end = NULL;
    *pid = -1;
    host->p = p;
    p = find_byte(p, end, ' ');
    if (p == host->p || p >= end) return 0;
    host->end = p++;
    q = p;
    while (q < end && *q != ' ' && *q != ':' && *q != '[' && *q != ']') q++;
    if (q > p) {
        const char *r = q;
        int64_t number_in_brackets = -1;
        if (r < end && *r == '[') {
            r++;
            if (number(&r, end, 10, &number_in_brackets) && r < end && *r == ']') r++;
            else r = q, number_in_brackets = -1;
        }
        if (end - r >= 2 && r[0] == ':' && r[1] == ' ') {
            program->p = p, program->end = q, *pid = number_in_brackets;
            p = r + 2;
        }
    }
    *pp = p;
    return 1;
}

/* "[ 5765.603140] " (uptime, as dmesg prints it) into microseconds; *pp moved past it */
static int uptime(const char **pp, const char *end, int64_t *us) {
    const char *p = *pp;
    int64_t s, f = 0;
    if (p >= end || *p != '[') return 0;
    p++;
    while (p < end && *p == ' ') p++;
    if (!number(&p, end, 9, &s) || p >= end || *p != '.') return 0;
    const char *fs = ++p;
    while (p < end && is_digit(*p) && p - fs < 9) {
        if (p - fs < 6) f = f * 10 + (*p - '0');
        p++;
    }
    if (p == fs || (p < end && is_digit(*p))) return 0;
    for (int k = (int)(p - fs); k < 6; k++) f *= 10;
    if (end - p < 2 || p[0] != ']' || p[1] != ' ') return 0;
    *us = s * 1000000 + f;
    *pp = p + 2;
    return 1;
}

/* The header of format fmt at *pp into h, *pp moved to the message; cache: the caller's, kept from
 * line to line (rfc3339 stamps) */
static int header(const char **pp, const char *end, int fmt, stamp_cache *cache, syslog_header *h) {
    const char *p = *pp;
    int64_t v;
    switch (fmt) {
    case LS_RFC3339:
        if (!rfc3339(&p, end, cache, &h->stamp) || !host_and_program(&p, end, &h->host, &h->program, &h->pid))
            return 0;
        break;
    case LS_RFC3164:
        if (!rfc3164(&p, end, &h->stamp) || !host_and_program(&p, end, &h->host, &h->program, &h->pid))
            return 0;
        break;
    case LS_DMESG:
        if (p < end && *p == '<') {
            p++;
            if (!number(&p, end, 9, &v) || p >= end || *p++ != '>') return 0;
        }
        if (!uptime(&p, end, &h->stamp)) return 0;
        h->host.p = h->host.end = p;
        h->program.p = NULL, h->pid = -1;
        break;
    case LS_KMSG:
        if (!number(&p, end, 9, &v) || p >= end || *p++ != ',' || !number(&p, end, 18, &v) || p >= end
            || *p++ != ',' || !number(&p, end, 15, &h->stamp) || p >= end || *p++ != ',')
            return 0;
        p = memchr(p, ';', end - p);
        if (!p) return 0;
        p++;
        h->host.p = h->host.end = p;
        h->program.p = NULL, h->pid = -1;
        break;
    default:
        return 0;
    }
    *pp = p;
    return 1;
}

/* "[^ ]+" at p, ending before a space (or the end when to_end) */
static const char *word(const char *p, const char *end, span *out) {
    out->p = p;
    p = find_byte(p, end, ' ');
    out->end = p;
    return p > out->p ? p : NULL;
}


#endif
