/* One-pass scanner of kernel LOG lines (greylogd._logscan; Python side: greylogd/analysis/logscan.py).
 *
 * ls_scan() reads n lines (data[offsets[i]:offsets[i+1]], a trailing "\n" allowed) and, per line, sets
 * status[i] to LS_SKIP (no " OUT=": not a LOG line), LS_GOOD (one output row) or LS_FALLBACK (anything
 * this scanner does not accept *exactly* as the RE2 patterns of headers.py and kernlog.py would: the
 * caller parses those lines with the Python path, which decides what is bad and why). It is
 * deliberately strict: printable ASCII only, the usual stamp shapes, the first " SRC="/" PROTO=" must
 * fit, addresses a plain dotted quad or a hex-and-colons IPv6 address that is not IPv4-mapped.
 * Every read is bounded by the line's end and every write by the caller's capacities (a row that does
 * not fit becomes LS_FALLBACK), so hostile bytes (NUL, invalid UTF-8, huge lines) cannot overrun.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define LS_GOOD 0
#define LS_SKIP 1
#define LS_FALLBACK 2
#define LS_RFC3164 1
#define LS_RFC3339 2
#define LS_DMESG 3
#define LS_KMSG 4
#define LS_FIELDS 6 /* host, prefix, in_if, proto, src, dst */
#define LS_BAD_ADDRESS 1 /* row reasons (0: a connection), as kernlog_lines._reasons names them */
#define LS_BAD_PORT 2

typedef struct {
    int64_t *line;   /* row -> index of its line */
    int64_t *stamp;  /* RFC 3339: epoch us; RFC 3164: MMDDhhmmss as printed; dmesg/kmsg: uptime us */
    int32_t *spt, *dpt; /* -1: none */
    int8_t *ip_version;
    int8_t *reason;  /* 0, LS_BAD_ADDRESS or LS_BAD_PORT */
    char *arena[LS_FIELDS];
    int64_t capacity[LS_FIELDS];
    int64_t *offsets[LS_FIELDS]; /* rows + 1 entries each, offsets[f][0] set by the caller */
    int64_t rows, next;          /* rows written, next line to scan: 0 and 0 on the first call */
    int full;                    /* the field whose arena was full when ls_scan returned 0 */
} ls_out;

typedef struct { const char *p; const char *end; } span;

typedef struct {
    int64_t stamp;
    int32_t spt, dpt;
    int8_t ip_version, reason;
    span field[LS_FIELDS];
    span program; /* p NULL: none */
    int64_t pid;  /* -1: none */
    char addr[2][48]; /* normalised src, dst */
    int addr_len[2];
} row;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

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

/* YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh[:]mm) followed by a space; *pp moved past the space */
static int rfc3339(const char **pp, const char *end, int64_t *us) {
    const char *p = *pp;
    int y, mo, d, h, mi, s, oh = 0, om = 0;
    if (!fixed(p, end, 4, &y) || end - p < 20 || p[4] != '-' || !fixed(p + 5, end, 2, &mo) || p[7] != '-'
        || !fixed(p + 8, end, 2, &d) || p[10] != 'T' || !fixed(p + 11, end, 2, &h) || p[13] != ':'
        || !fixed(p + 14, end, 2, &mi) || p[16] != ':' || !fixed(p + 17, end, 2, &s))
        return 0;
    if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59
        || s > 59)
        return 0;
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
    int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    *us = seconds * 1000000 + frac;
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
    while (p < end && *p != ' ') p++;
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

static int header(const char **pp, const char *end, int fmt, row *r) {
    const char *p = *pp;
    int64_t v;
    switch (fmt) {
    case LS_RFC3339:
        if (!rfc3339(&p, end, &r->stamp) || !host_and_program(&p, end, &r->field[0], &r->program, &r->pid))
            return 0;
        break;
    case LS_RFC3164:
        if (!rfc3164(&p, end, &r->stamp) || !host_and_program(&p, end, &r->field[0], &r->program, &r->pid))
            return 0;
        break;
    case LS_DMESG:
        if (p < end && *p == '<') {
            p++;
            if (!number(&p, end, 9, &v) || p >= end || *p++ != '>') return 0;
        }
        if (!uptime(&p, end, &r->stamp)) return 0;
        r->field[0].p = r->field[0].end = p;
        r->program.p = NULL, r->pid = -1;
        break;
    case LS_KMSG:
        if (!number(&p, end, 9, &v) || p >= end || *p++ != ',' || !number(&p, end, 18, &v) || p >= end
            || *p++ != ',' || !number(&p, end, 15, &r->stamp) || p >= end || *p++ != ',')
            return 0;
        p = memchr(p, ';', end - p);
        if (!p) return 0;
        p++;
        r->field[0].p = r->field[0].end = p;
        r->program.p = NULL, r->pid = -1;
        break;
    default:
        return 0;
    }
    *pp = p;
    return 1;
}

/* the optional uptime "[ 5765.603140] " before a LOG prefix (any number of digits, as the RE2 pattern) */
static const char *skip_uptime(const char *p, const char *end) {
    const char *q = p + 1, *digits;
    if (p >= end || *p != '[') return p;
    while (q < end && *q == ' ') q++;
    for (int part = 0; part < 2; part++) {
        digits = q;
        while (q < end && is_digit(*q)) q++;
        if (q == digits || q >= end || *q++ != (part ? ']' : '.')) return p;
    }
    return q < end && *q == ' ' ? q + 1 : p;
}

/* prefix and IN= of kernlog.LOG_FIELDS[0]: the prefix is tokenised as (?:[^I]|I[^N]|IN[^=])* */
static int prefix_and_in(const char *p, const char *end, row *r) {
    const char *q;
    p = skip_uptime(p, end);
    q = p;
    for (;;) {
        if (end - q >= 3 && q[0] == 'I' && q[1] == 'N' && q[2] == '=') break;
        if (q >= end) return 0;
        if (*q != 'I') q++;
        else if (end - q >= 2 && q[1] != 'N') q += 2;
        else if (end - q >= 3 && q[1] == 'N') q += 3;
        else return 0;
    }
    span *prefix = &r->field[1], *in_if = &r->field[2];
    prefix->p = p;
    prefix->end = q;
    while (prefix->p < prefix->end && *prefix->p == ' ') prefix->p++;
    while (prefix->end > prefix->p && prefix->end[-1] == ' ') prefix->end--;
    in_if->p = q + 3;
    in_if->end = memchr(in_if->p, ' ', end - in_if->p);
    return in_if->end && end - in_if->end >= 5 && memcmp(in_if->end, " OUT=", 5) == 0;
}

/* "[^ ]+" at p, ending before a space (or the end when to_end) */
static const char *word(const char *p, const char *end, span *out) {
    out->p = p;
    while (p < end && *p != ' ') p++;
    out->end = p;
    return p > out->p ? p : NULL;
}

/* where a line's first " OUT=", " SRC=" and " PROTO=" are, and whether it is all printable ASCII */
typedef struct {
    const char *out, *src, *proto;
    int printable;
} marks;

/* the needle, if any, that starts at p (a space); end - p >= 5 */
static void needle(const char *p, const char *end, marks *k) {
    if (p[1] == 'O' && !k->out && memcmp(p, " OUT=", 5) == 0) k->out = p;
    else if (p[1] == 'S' && !k->src && memcmp(p, " SRC=", 5) == 0) k->src = p;
    else if (p[1] == 'P' && !k->proto && end - p >= 7 && memcmp(p, " PROTO=", 7) == 0) k->proto = p;
}

/* each LOG field is found where RE2 would search first: the first occurrence (the caller falls back
 * when that one is before the message or does not fit the pattern). With SSE2 (every x86-64), spaces
 * and bytes outside printable ASCII (signed < 0x20 covers 0x80-0xff too, plus 0x7f) are found 16
 * bytes at a time; the plain loop does the rest and is the whole of it elsewhere. */
static void mark(const char *s, const char *end, marks *k) {
    const char *p = s;
    int outside = 0;
    k->out = k->src = k->proto = NULL;
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(' '), low = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        outside |= _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, low), _mm_cmpeq_epi8(v, del)));
        unsigned bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, space));
        for (; bits && !(k->out && k->src && k->proto); bits &= bits - 1) {
            const char *at = p + __builtin_ctz(bits);
            if (end - at >= 5) needle(at, end, k);
        }
    }
#endif
    for (; p < end; p++) {
        outside |= (unsigned char)(*p - 0x20) > 0x5e;
        if (*p == ' ' && end - p >= 5) needle(p, end, k);
    }
    k->printable = !outside;
}

/* " SRC=a DST=b " and " PROTO=x[ SPT=n DPT=m]" at their first occurrences, which must be in the message;
 * 1, or LS_BAD_PORT + 1 when the patterns match but a port is out of range (to_int: 1-18 digits, <= 65535) */
static int log_fields(const char *m, const char *end, const marks *k, row *r) {
    const char *p = k->src;
    if (!p || p < m || !(p = word(p + 5, end, &r->field[4])) || end - p < 5 || memcmp(p, " DST=", 5) != 0)
        return 0;
    if (!(p = word(p + 5, end, &r->field[5])) || p >= end) return 0;
    p = k->proto;
    if (!p || p < m || !(p = word(p + 7, end, &r->field[3]))) return 0;
    r->spt = r->dpt = -1;
    if (end - p > 5 && memcmp(p, " SPT=", 5) == 0) {
        const char *q = p + 5;
        int64_t spt, dpt;
        const char *digits = q;
        while (q < end && is_digit(*q)) q++;
        if (q == digits || end - q < 6 || memcmp(q, " DPT=", 5) != 0 || !is_digit(q[5])) return 1;
        q = digits;
        if (!number(&q, end, 18, &spt) || spt > 65535) return LS_BAD_PORT + 1;
        q += 5;
        if (!number(&q, end, 18, &dpt) || dpt > 65535) return LS_BAD_PORT + 1;
        r->spt = (int32_t)spt;
        r->dpt = (int32_t)dpt;
    }
    return 1;
}

/* kernlog._IPV4: four decimal octets 0..255 without leading zeros */
static int dotted_quad(span a) {
    const char *p = a.p;
    for (int k = 0; k < 4; k++) {
        const char *start = p;
        int64_t v;
        if (!number(&p, a.end, 3, &v) || v > 255 || (p - start > 1 && *start == '0')) return 0;
        if (k < 3 && (p >= a.end || *p++ != '.')) return 0;
    }
    return p == a.end;
}

/* ipaddress.IPv6Address(x).compressed of a hex-and-colons address; not IPv4-mapped (Python versions
 * print those differently) */
static int ipv6(span a, char *out, int *len) {
    char text[48];
    unsigned char b[16];
    size_t n = a.end - a.p;
    if (n < 2 || n > 39) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a.p[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':')) return 0;
    }
    memcpy(text, a.p, n);
    text[n] = 0;
    if (inet_pton(AF_INET6, text, b) != 1) return 0;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, 12) == 0) return 0;
    int best = -1, best_len = 0, run = -1, run_len = 0;
    for (int k = 0; k < 8; k++) {
        if (b[2 * k] == 0 && b[2 * k + 1] == 0) {
            if (run < 0) run = k;
            if (++run_len > best_len) best_len = run_len, best = run;
        } else {
            run = -1, run_len = 0;
        }
    }
    if (best_len < 2) best = -1;
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int k = 0; k < 8; k++) {
        if (k == best) {
            *o++ = ':';
            if (k == 0) *o++ = ':';
            k += best_len - 1;
            continue;
        }
        unsigned v = (unsigned)b[2 * k] << 8 | b[2 * k + 1];
        int started = 0;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned nibble = (v >> shift) & 15;
            if (nibble || started || shift == 0) *o++ = hex[nibble], started = 1;
        }
        if (k < 7) *o++ = ':';
    }
    *len = (int)(o - out);
    return 1;
}

/* 1 valid (normalised into out), -1 surely invalid for ipaddress too (only digits and dots, not a
 * dotted quad: neither IPv4Address nor IPv6Address takes it), 0 not known here */
static int address(span a, char *out, int *len, int *version) {
    if (dotted_quad(a)) {
        memcpy(out, a.p, a.end - a.p);
        *len = (int)(a.end - a.p);
        *version = 4;
        return 1;
    }
    *version = 6;
    if (ipv6(a, out, len)) return 1;
    for (const char *p = a.p; p < a.end; p++)
        if (!is_digit(*p) && *p != '.') return 0;
    return -1;
}

/* 1: a row (r->reason says whether it is a connection or which bad line), 0: for the Python path.
 * A bad row's reason is the one _reasons would give: the stamp and the three patterns passed (the
 * caller still checks rfc3164 stamps), then an invalid address wins over an invalid port. */
static int scan_line(const char *s, const char *end, int fmt, const marks *k, row *r) {
    int v4, v6, fields; /* the frame's ip_version is the source address's */
    if (!k->printable || !header(&s, end, fmt, r) || !prefix_and_in(s, end, r)
        || !(fields = log_fields(s, end, k, r)))
        return 0;
    int src = address(r->field[4], r->addr[0], &r->addr_len[0], &v4);
    int dst = address(r->field[5], r->addr[1], &r->addr_len[1], &v6);
    if (src < 0 || dst < 0) r->reason = LS_BAD_ADDRESS;
    else if (!src || !dst) return 0;
    else r->reason = fields == LS_BAD_PORT + 1 ? LS_BAD_PORT : 0;
    if (r->reason) {
        for (int f = 0; f < LS_FIELDS; f++) r->field[f].end = r->field[f].p;
        r->ip_version = 0;
        return 1;
    }
    r->ip_version = (int8_t)v4;
    r->field[4].p = r->addr[0], r->field[4].end = r->addr[0] + r->addr_len[0];
    r->field[5].p = r->addr[1], r->field[5].end = r->addr[1] + r->addr_len[1];
    return 1;
}

/* append row k's strings; 0 (nothing appended, out->full set) when one does not fit */
static int emit(ls_out *out, int64_t k, const row *r) {
    for (int f = 0; f < LS_FIELDS; f++)
        if (out->offsets[f][k] + (r->field[f].end - r->field[f].p) > out->capacity[f]) {
            out->full = f;
            return 0;
        }
    for (int f = 0; f < LS_FIELDS; f++) {
        int64_t n = r->field[f].end - r->field[f].p;
        memcpy(out->arena[f] + out->offsets[f][k], r->field[f].p, n);
        out->offsets[f][k + 1] = out->offsets[f][k] + n;
    }
    out->stamp[k] = r->stamp;
    out->spt[k] = r->spt;
    out->dpt[k] = r->dpt;
    out->ip_version[k] = r->ip_version;
    out->reason[k] = r->reason;
    return 1;
}

/* Scan lines out->next .. n-1; 1 when done, 0 when arena out->full could not take the row of line
 * out->next: the caller grows it (each field of a row is at most as long as its line, so an arena of
 * the data's size always does) and calls again. */
int ls_scan(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, ls_out *out) {
    for (int64_t i = out->next; i < n; i++) {
        const char *s = data + offsets[i], *end = data + offsets[i + 1];
        row r;
        marks k;
        if (end > s && end[-1] == '\n') end--;
        mark(s, end, &k);
        if (!k.out) {
            status[i] = LS_SKIP;
        } else if (!scan_line(s, end, fmt, &k, &r)) {
            status[i] = LS_FALLBACK;
        } else if (emit(out, out->rows, &r)) {
            status[i] = LS_GOOD;
            out->line[out->rows++] = i;
        } else {
            out->next = i;
            return 0;
        }
    }
    out->next = n;
    return 1;
}

/* line starts of newline-terminated data: ends[0] = 0, ends[k + 1] = one past the k-th "\n"; returns the
 * number of lines. With ends NULL only counts (so the caller can size the array exactly). */
int64_t ls_line_ends(const char *data, int64_t size, int64_t *ends) {
    int64_t lines = 0;
    const char *p = data, *end = data + size;
    if (ends) ends[0] = 0;
    while (p < end && (p = memchr(p, '\n', end - p)) != NULL) {
        p++;
        lines++;
        if (ends) ends[lines] = p - data;
    }
    return lines;
}

/* The syslog header of each line as headers.HEADERS[fmt] splits it (rfc3339, rfc3164, dmesg, kmsg):
 * status[i] LS_GOOD, or LS_FALLBACK where this code cannot vouch for the line (a stamp shape it does
 * not take, no header): split those with the RE2 pattern. stamp[i] as ls_out.stamp; spans[5 i ...]:
 * host start, host end, program start, program end, message start, as offsets into data (-1: no
 * host (dmesg, kmsg) or no program); pid[i] (-1: none). The message runs to the line's end. All -1
 * for a line not parsed. */
void ls_headers(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, int64_t *stamp,
                int64_t *spans, int64_t *pid) {
    for (int64_t i = 0; i < n; i++) {
        const char *p = data + offsets[i], *end = data + offsets[i + 1];
        int64_t *span = spans + 5 * i;
        row r;
        if (end > p && end[-1] == '\n') end--;
        if (!header(&p, end, fmt, &r)) {
            status[i] = LS_FALLBACK;
            stamp[i] = pid[i] = span[0] = span[1] = span[2] = span[3] = span[4] = -1;
            continue;
        }
        int host = fmt == LS_RFC3339 || fmt == LS_RFC3164;
        status[i] = LS_GOOD;
        stamp[i] = r.stamp;
        span[0] = host ? r.field[0].p - data : -1;
        span[1] = host ? r.field[0].end - data : -1;
        span[2] = r.program.p ? r.program.p - data : -1;
        span[3] = r.program.p ? r.program.end - data : -1;
        span[4] = p - data;
        pid[i] = r.pid;
    }
}
