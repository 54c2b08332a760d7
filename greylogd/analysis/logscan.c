/* One-pass scanner of kernel LOG lines (greylogd._logscan; Python side: greylogd/analysis/logscan.py).
 *
 * ls_scan() reads n lines (data[offsets[i]:offsets[i+1]], a trailing "\n" allowed) and, per line, sets
 * status[i] to LS_SKIP (no " OUT=": not a LOG line), LS_GOOD (one output row) or LS_FALLBACK (anything
 * this scanner does not accept *exactly* as the RE2 patterns of headers.py and kernlog.py would: the
 * caller parses those lines with the Python path, which decides what is bad and why). It is
 * deliberately strict: printable ASCII only, the usual stamp shapes, the first " SRC="/" PROTO=" must
 * fit, addresses a plain dotted quad or a hex-and-colons IPv6 address that is not IPv4-mapped.
 * Every read is bounded by the chunk's end (SIMD blocks, line_blocks.h, may read into the next line;
 * those bytes are masked off) and every write by the caller's capacities (a row that does not fit
 * becomes LS_FALLBACK), so hostile bytes (NUL, invalid UTF-8, huge lines) cannot overrun.
 * Output text columns (text_column.h): host, prefix, in_if, proto and dst dictionary-encoded as they
 * are written (a chunk has few distinct values of each; ls_ranks sorts them for pandas), src one
 * string a row. ls_line_ends splits a chunk into lines; ls_headers splits syslog headers only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "addresses.h"
#include "line_blocks.h"
#include "text_column.h"

#define LS_GOOD 0
#define LS_SKIP 1
#define LS_FALLBACK 2
#define LS_FIELDS 6 /* host, prefix, in_if, proto, dst, src */
#define LS_CODED 5  /* the first LS_CODED fields are dictionary-encoded: few distinct values */
#define LS_DST 4
#define LS_SRC 5
#define LS_BAD_ADDRESS 1 /* row reasons (0: a connection), as kernlog_lines._reasons names them */
#define LS_BAD_PORT 2

typedef struct {
    int64_t *line;   /* row -> index of its line */
    int64_t *stamp;  /* RFC 3339: epoch us; RFC 3164: MMDDhhmmss as printed; dmesg/kmsg: uptime us */
    int32_t *spt, *dpt; /* -1: none */
    int8_t *ip_version;
    text_column text[LS_FIELDS];   /* fields < LS_CODED dictionary-encoded, src one a row */
    int64_t *bad_line, *bad_stamp; /* bad lines the scanner can name (one per line at most) */
    int8_t *bad_reason;            /* LS_BAD_ADDRESS or LS_BAD_PORT */
    int64_t rows, bad;             /* rows and bad lines written: 0 and 0 on the call */
} ls_out;

typedef struct {
    int64_t stamp;
    int32_t spt, dpt;
    int8_t ip_version, reason;
    span field[LS_FIELDS];
    char addr[2][48]; /* normalised src, dst (IPv6) */
} row;

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
    for (;;) { /* tokens other than 'I' are single bytes: skipped together */
        q = find_byte(q, end, 'I');
        if (end - q >= 3 && q[1] == 'N' && q[2] == '=') break;
        if (q >= end) return 0;
        if (end - q >= 2 && q[1] != 'N') q += 2;
        else if (end - q >= 3 && q[1] == 'N') q += 3;
        else return 0;
    }
    span *prefix = &r->field[1], *in_if = &r->field[2];
    prefix->p = p;
    prefix->end = q;
    while (prefix->p < prefix->end && *prefix->p == ' ') prefix->p++;
    while (prefix->end > prefix->p && prefix->end[-1] == ' ') prefix->end--;
    in_if->p = q + 3;
    in_if->end = find_byte(in_if->p, end, ' ');
    return end - in_if->end >= 5 && memcmp(in_if->end, " OUT=", 5) == 0;
}

/* where a line's first " OUT=", " SRC=" and " PROTO=" are, and whether it is all printable ASCII */
typedef struct {
    const char *out, *src, *proto;
    int printable;
} marks;

/* the needle, if any, that starts at p (a space) */
static void needle(const char *p, const char *end, marks *k) {
    if (end - p < 5) return;
    if (p[1] == 'O' && !k->out && memcmp(p, " OUT=", 5) == 0) k->out = p;
    else if (p[1] == 'S' && !k->src && memcmp(p, " SRC=", 5) == 0) k->src = p;
    else if (p[1] == 'P' && !k->proto && end - p >= 7 && memcmp(p, " PROTO=", 7) == 0) k->proto = p;
}

/* each LOG field is found where RE2 would search first: the first occurrence (the caller falls back
 * when that one is before the message or does not fit the pattern). Blocks of 32 bytes (block: NULL
 * where there is no SIMD) while they and the two bytes after them are readable (limit: the bytes past
 * the line's end are masked off); the plain loop does the rest. Inlined into one function per block. */
static inline __attribute__((always_inline)) void mark_with(block_fn block, const char *s, const char *end,
                                                            const char *limit, marks *k) {
    const char *p = s;
    unsigned outside = 0;
    k->out = k->src = k->proto = NULL;
    for (; block && p < end && limit - p >= 34; p += 32) {
        uint64_t bits = block(p);
        unsigned keep = end - p >= 32 ? ~0u : (1u << (end - p)) - 1;
        outside |= (unsigned)(bits >> 32) & keep;
        for (unsigned at = (unsigned)bits & keep; at; at &= at - 1) needle(p + __builtin_ctz(at), end, k);
    }
    for (; p < end; p++) {
        outside |= (unsigned char)(*p - 0x20) > 0x5e;
        if (*p == ' ') needle(p, end, k);
    }
    k->printable = !outside;
}

typedef void (*mark_fn)(const char *s, const char *end, const char *limit, marks *k);

static void mark_plain(const char *s, const char *end, const char *limit, marks *k) {
#ifdef __SSE2__
    mark_with(block_sse2, s, end, limit, k);
#else
    mark_with(NULL, s, end, limit, k);
#endif
}

#ifdef LS_AVX2
__attribute__((target("avx2"))) static void mark_avx2(const char *s, const char *end, const char *limit,
                                                      marks *k) {
    mark_with(block_avx2, s, end, limit, k);
}
#endif

static int avx2_wanted = 1;

/* Whether the AVX2 functions are used from now on: where the CPU has AVX2 (the build stays portable:
 * no -march) and wanted (1; 0 for the SSE2 ones, so that tests cover both on any machine; -1 asks).
 * Both give the same results. */
int ls_avx2(int wanted) {
    if (wanted >= 0) avx2_wanted = wanted;
#ifdef LS_AVX2
    return avx2_wanted && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static mark_fn choose_mark(void) {
#ifdef LS_AVX2
    if (ls_avx2(-1)) return mark_avx2;
#endif
    return mark_plain;
}

/* " SRC=a DST=b " and " PROTO=x[ SPT=n DPT=m]" at their first occurrences, which must be in the message;
 * 1, or LS_BAD_PORT + 1 when the patterns match but a port is out of range (to_int: 1-18 digits, <= 65535) */
static int log_fields(const char *m, const char *end, const marks *k, row *r) {
    const char *p = k->src;
    if (!p || p < m || !(p = word(p + 5, end, &r->field[LS_SRC])) || end - p < 5 || memcmp(p, " DST=", 5) != 0)
        return 0;
    if (!(p = word(p + 5, end, &r->field[LS_DST])) || p >= end) return 0;
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

/* 1: a row (r->reason says whether it is a connection or which bad line), 0: for the Python path.
 * A bad row's reason is the one _reasons would give: the stamp and the three patterns passed (the
 * caller still checks rfc3164 stamps), then an invalid address wins over an invalid port. */
static int scan_line(const char *s, const char *end, const char *limit, int fmt, stamp_cache *cache,
                     const marks *k, row *r) {
    int v4, v6, fields; /* the frame's ip_version is the source address's */
    syslog_header h;
    if (!k->printable || !header(&s, end, fmt, cache, &h) || !prefix_and_in(s, end, r)
        || !(fields = log_fields(s, end, k, r)))
        return 0;
    r->stamp = h.stamp;
    r->field[0] = h.host;
    span normal[2];
    int src = address(r->field[LS_SRC], limit, r->addr[0], &normal[0], &v4);
    int dst = address(r->field[LS_DST], limit, r->addr[1], &normal[1], &v6);
    if (src < 0 || dst < 0) r->reason = LS_BAD_ADDRESS;
    else if (!src || !dst) return 0;
    else r->reason = fields == LS_BAD_PORT + 1 ? LS_BAD_PORT : 0;
    if (r->reason) return 1;
    r->ip_version = (int8_t)v4;
    r->field[LS_SRC] = normal[0], r->field[LS_DST] = normal[1];
    return 1;
}

/* append row r; 0 (nothing appended: the line falls back) when a string does not fit its column */
static int emit(ls_out *out, const row *r) {
    int64_t k = out->rows;
    if (!text_put_row(out->text, LS_FIELDS, k, r->field)) return 0;
    out->stamp[k] = r->stamp;
    out->spt[k] = r->spt;
    out->dpt[k] = r->dpt;
    out->ip_version[k] = r->ip_version;
    out->rows++;
    return 1;
}

/* Scan lines 0 .. n-1. A connection is a row; a line the scanner can name as bad (an invalid address or
 * port) is a bad line instead. */
void ls_scan(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, ls_out *out) {
    const char *limit = data + offsets[n];
    mark_fn mark = choose_mark();
    stamp_cache cache = {{0}, 0};
    for (int64_t i = 0; i < n; i++) {
        const char *s = data + offsets[i], *end = data + offsets[i + 1];
        row r;
        marks k;
        if (end > s && end[-1] == '\n') end--;
        mark(s, end, limit, &k);
        if (!k.out) {
            status[i] = LS_SKIP;
        } else if (!scan_line(s, end, limit, fmt, &cache, &k, &r)) {
            status[i] = LS_FALLBACK;
        } else if (r.reason) {
            status[i] = LS_GOOD;
            out->bad_line[out->bad] = i, out->bad_stamp[out->bad] = r.stamp;
            out->bad_reason[out->bad++] = r.reason;
        } else if (emit(out, &r)) {
            status[i] = LS_GOOD;
            out->line[out->rows - 1] = i;
        } else {
            status[i] = LS_FALLBACK;
        }
    }
}

/* text_ranks (text_column.h) of the dictionary column t for Python (scan_text.TextColumn.categorical):
 * the categorical pandas makes of it, sorted here instead of by a pass over its codes there */
void ls_ranks(const text_column *t, int64_t rows, int32_t *order, int32_t *scratch, void *codes, int width) {
    text_ranks(t, rows, order, scratch, codes, width);
}

/* The lines of data[0:size] in one pass: ends[0] = 0, ends[k + 1] = one past the k-th "\n" (ends has
 * room for size + 1 entries, the most there can be); returns how many newlines there are, and sets
 * *ascii to whether no byte has its high bit set (then the data is valid UTF-8 without checking). */
int64_t ls_line_ends(const char *data, int64_t size, int64_t *ends, int *ascii) {
#ifdef LS_AVX2
    if (ls_avx2(-1)) return line_ends_avx2(data, size, ends, ascii);
#endif
    return line_ends_plain(data, size, ends, ascii);
}

/* The syslog header of each line as headers.HEADERS[fmt] splits it (rfc3339, rfc3164, dmesg, kmsg):
 * status[i] LS_GOOD, or LS_FALLBACK where this code cannot vouch for the line (a stamp shape it does
 * not take, no header): split those with the RE2 pattern. stamp[i] as ls_out.stamp; spans[5 i ...]:
 * host start, host end, program start, program end, message start, as offsets into data (-1: no
 * host (dmesg, kmsg) or no program); pid[i] (-1: none). The message runs to the line's end. All -1
 * for a line not parsed. */
void ls_headers(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, int64_t *stamp,
                int64_t *spans, int64_t *pid) {
    stamp_cache cache = {{0}, 0};
    for (int64_t i = 0; i < n; i++) {
        const char *p = data + offsets[i], *end = data + offsets[i + 1];
        int64_t *span = spans + 5 * i;
        syslog_header r;
        if (end > p && end[-1] == '\n') end--;
        if (!header(&p, end, fmt, &cache, &r)) {
            status[i] = LS_FALLBACK;
            stamp[i] = pid[i] = span[0] = span[1] = span[2] = span[3] = span[4] = -1;
            continue;
        }
        int host = fmt == LS_RFC3339 || fmt == LS_RFC3164;
        status[i] = LS_GOOD;
        stamp[i] = r.stamp;
        span[0] = host ? r.host.p - data : -1;
        span[1] = host ? r.host.end - data : -1;
        span[2] = r.program.p ? r.program.p - data : -1;
        span[3] = r.program.p ? r.program.end - data : -1;
        span[4] = p - data;
        pid[i] = r.pid;
    }
}

