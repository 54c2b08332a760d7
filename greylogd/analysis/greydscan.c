/* One-pass scanner of greyd's log lines (greylogd._greydscan; Python side: greylogd/analysis/greydscan.py).
 *
 * gs_scan() reads n lines (data[offsets[i]:offsets[i+1]], a trailing "\n" allowed) and, per line, sets
 * status[i] to GS_SKIP (a header whose program is not one of greyd's), GS_GOOD (one output row) or
 * GS_FALLBACK (anything this scanner cannot vouch for: the caller parses those lines with the Python
 * path, greydlog.py's RE2 rules, which decides what they are and why they are bad). A row is a message
 * of the kinds that make up nearly all of a real log, classified *exactly* as the ordered
 * greydlog_rules.RULES would: the rule it names matches, with the same captures, and no earlier rule
 * can (the unanchored connected/disconnected rules need their literal, which is searched for first).
 * A row whose address is surely invalid for ipaddress gets kind GS_BAD_ADDRESS. Only the columns the
 * caller gives buffers for are written; host, address and lists are dictionary-encoded as they are
 * written (a hash table per column and call), since a chunk repeats few distinct values.
 * Deliberately strict: printable ASCII only, the stamp shapes of syslog_fields.h, addresses that
 * address() can normalise or reject for certain. Every read is bounded by the line's end and every
 * write by the caller's capacities (a row that does not fit falls back), so hostile bytes cannot overrun.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <strings.h>
#include "addresses.h"
#include "text_column.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define GS_GOOD 0
#define GS_SKIP 1
#define GS_FALLBACK 2
/* row kinds (greydscan.py maps them to frames.GREYD_KINDS codes) */
#define GS_CONNECTED 0
#define GS_DISCONNECTED 1
#define GS_GREY 2
#define GS_BLACK 3
#define GS_NEW_ENTRY 4
#define GS_UPDATED_ENTRY 5
#define GS_NEW_TRAP_ENTRY 6
#define GS_UPDATED_TRAP_ENTRY 7
#define GS_WHITELISTING 8
#define GS_PACKET 9
#define GS_BAD_ADDRESS 10
/* text fields */
#define GS_HOST 0
#define GS_PROGRAM 1
#define GS_IP 2 /* normalised */
#define GS_FROM 3
#define GS_TO 4
#define GS_HELO 5
#define GS_LISTS 6
#define GS_MESSAGE 7
#define GS_TEXTS 8
/* numbers */
#define GS_DURATION 0
#define GS_CLIENTS 1
#define GS_BLACK_CLIENTS 2
#define GS_NUMBERS 3

typedef struct {
    int64_t *line;                /* row -> index of its line */
    int8_t *kind;                 /* row -> GS_CONNECTED .. GS_PACKET, or GS_BAD_ADDRESS */
    int64_t *pid;                 /* row -> pid, -1: none; NULL: not wanted */
    int64_t *number[GS_NUMBERS];  /* row -> value, -1: none or out of range; NULL: not wanted */
    text_column text[GS_TEXTS];
    int64_t rows;                 /* rows written (0 on the call) */
} gs_out;

typedef struct {
    int kind;
    span field[GS_TEXTS]; /* p NULL: the rule has no such group */
    int64_t number[GS_NUMBERS];
} message;

/* printable ASCII only (0x20-0x7e): RE2's view of such a line is byte by byte, and a tab or a byte
 * of UTF-8 is left to the Python path. SSE2 (every x86-64) tests 16 bytes at a time. */
static int printable(const char *p, const char *end) {
    int outside = 0;
#ifdef __SSE2__
    const __m128i low = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (; end - p >= 16 && !outside; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        outside = _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, low), _mm_cmpeq_epi8(v, del)));
    }
#endif
    for (; p < end && !outside; p++) outside = (unsigned char)(*p - 0x20) > 0x5e;
    return !outside;
}

/* greydlog.PROGRAMS, case-insensitive */
static int ours(span program) {
    static const char *const names[] = {"greyd", "greylogd", "spamd", "spamlogd", "greydb", "greyd-setup"};
    static const size_t lengths[] = {5, 8, 5, 8, 6, 11};
    size_t n = program.p ? (size_t)(program.end - program.p) : 0;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (lengths[k] == n && strncasecmp(program.p, names[k], n) == 0) return 1;
    return 0;
}

/* the literal at p: where it ends, NULL when absent (every function here passes NULL on) */
static const char *literal(const char *p, const char *end, const char *text) {
    size_t n = strlen(text);
    return p && (size_t)(end - p) >= n && memcmp(p, text, n) == 0 ? p + n : NULL;
}

/* "[^ ]*" at p into out (possibly empty) */
static const char *run(const char *p, const char *end, span *out) {
    if (!p) return NULL;
    out->p = p;
    while (p < end && *p != ' ') p++;
    out->end = p;
    return p;
}

/* "[^ ]+" at p into out (syslog_fields.h's word(), passing NULL on) */
static const char *word_at(const char *p, const char *end, span *out) {
    return p ? word(p, end, out) : NULL;
}

/* "[^ ]+" at p followed by the character c (inside the run): out is the run without its last c */
static const char *run_before(const char *p, const char *end, char c, span *out) {
    if (!(p = run(p, end, out)) || out->end - out->p < 2 || out->end[-1] != c) return NULL;
    out->end--;
    return p;
}

/* "[0-9]+" at p; *v as to_int reads it (1-18 digits, <= maximum), else -1 */
static const char *digits(const char *p, const char *end, int64_t maximum, int64_t *v) {
    const char *start = p;
    int64_t value = 0;
    if (!p) return NULL;
    for (; p < end && is_digit(*p); p++)
        if (p - start < 18) value = value * 10 + (*p - '0');
    *v = p - start <= 18 && value <= maximum ? value : -1;
    return p > start ? p : NULL;
}

/* "(?: lists:(.*))?$" (sep " lists:" or ", lists:"): the list names trimmed of spaces, "" if absent */
static int lists(const char *p, const char *end, const char *sep, message *m) {
    span *l = &m->field[GS_LISTS];
    if (!p) return 0;
    l->p = l->end = end;
    if (p == end) return 1;
    if (!(p = literal(p, end, sep))) return 0;
    while (p < end && *p == ' ') p++;
    l->p = p;
    while (l->end > p && l->end[-1] == ' ') l->end--;
    return 1;
}

static const char CONNECTED[] = ": connected (", DISCONNECTED[] = ": disconnected after ";

/* "IP: connected \((c)/(b)\)(?:, lists:(.*))?$" and "IP: disconnected after (d) seconds\.(?: lists:(.*))?$"
 * where their literal first occurs (at): the leftmost match when the address starts the message (it
 * is [^ ]+, so no match can start earlier); anything else is left to the Python path. */
static int connection(const char *s, const char *end, const char *at, int kind, message *m) {
    const char *p;
    if (at == s || memchr(s, ' ', at - s)) return 0;
    m->kind = kind;
    m->field[GS_IP] = (span){s, at};
    if (kind == GS_CONNECTED) {
        p = digits(at + strlen(CONNECTED), end, INT64_C(1) << 31, &m->number[GS_CLIENTS]);
        p = digits(literal(p, end, "/"), end, INT64_C(1) << 31, &m->number[GS_BLACK_CLIENTS]);
        return lists(literal(p, end, ")"), end, ", lists:", m);
    }
    p = digits(at + strlen(DISCONNECTED), end, INT64_C(1) << 62, &m->number[GS_DURATION]);
    return lists(literal(p, end, " seconds."), end, " lists:", m);
}

/* the first ": connected (" or ": disconnected after " (connected's if both), found at the colons */
static const char *connection_literal(const char *s, const char *end, int *kind) {
    const char *found = NULL;
    for (const char *p = s; (p = memchr(p, ':', end - p)) != NULL; p++) {
        if (literal(p, end, CONNECTED)) {
            *kind = GS_CONNECTED;
            return p;
        }
        if (!found && literal(p, end, DISCONNECTED)) found = p;
    }
    *kind = GS_DISCONNECTED;
    return found;
}

/* "IP: (from) -> (to)$" after "(GREY) " / "(BLACK) " */
static int tagged(const char *p, const char *end, message *m) {
    p = run_before(p, end, ':', &m->field[GS_IP]);
    p = run(literal(p, end, " "), end, &m->field[GS_FROM]);
    p = run(literal(p, end, " -> "), end, &m->field[GS_TO]);
    return p == end;
}

/* "IP from (from) to (to), helo (.*)$" after "new entry " and the like */
static int tuple(const char *p, const char *end, message *m) {
    span *helo = &m->field[GS_HELO];
    p = run(literal(word_at(p, end, &m->field[GS_IP]), end, " from "), end, &m->field[GS_FROM]);
    p = run(literal(p, end, " to "), end, &m->field[GS_TO]);
    if (!p || p == m->field[GS_TO].p || p[-1] != ',') return 0;
    m->field[GS_TO].end--;
    if (!(p = literal(p, end, " helo "))) return 0;
    helo->p = p, helo->end = end;
    return 1;
}

/* "IP(?: in [^ ]+)?$" after "whitelisting " */
static int whitelisting(const char *p, const char *end, message *m) {
    span list;
    if (!(p = word_at(p, end, &m->field[GS_IP]))) return 0;
    return p == end || word_at(literal(p, end, " in "), end, &list) == end;
}

/* the rest of greylogd's and spamlogd's packet lines (rules "packet"), after their literal: "IP, daddr =
 * [^ ]+$" (in, saddr) or "[^ ]+, daddr = IP$" (out, saddr) or "IP$" */
static int packet(const char *p, const char *end, int shape, message *m) {
    span other, *ip = &m->field[GS_IP];
    if (shape == 0) /* the address, then the other one */
        return word_at(literal(run_before(p, end, ',', ip), end, " daddr = "), end, &other) == end;
    if (shape == 1) /* the other address, then this one */
        p = literal(run_before(p, end, ',', &other), end, " daddr = ");
    return word_at(p, end, ip) == end;
}

/* the anchored rules this scanner knows, by their literal start: kind, and how the rest is read */
#define START(text) text, sizeof text - 1
static const struct {
    const char *start;
    size_t length;
    int kind, shape; /* shape: 0 tagged, 1 tuple, 2 whitelisting, 3.. packet shape 0.. */
} anchored[] = {
    {START("(GREY) "), GS_GREY, 0},
    {START("(BLACK) "), GS_BLACK, 0},
    {START("new entry "), GS_NEW_ENTRY, 1},
    {START("new greytrap entry "), GS_NEW_TRAP_ENTRY, 1},
    {START("updated entry "), GS_UPDATED_ENTRY, 1},
    {START("updated greytrap entry "), GS_UPDATED_TRAP_ENTRY, 1},
    {START("whitelisting "), GS_WHITELISTING, 2},
    {START("packet received: direction = in, saddr = "), GS_PACKET, 3},
    {START("packet received: direction = out, saddr = "), GS_PACKET, 4},
    {START("packet received: direction = in, addr = "), GS_PACKET, 5},
    {START("packet received: direction = out, addr = "), GS_PACKET, 5},
    {START("inbound "), GS_PACKET, 5},
    {START("outbound "), GS_PACKET, 5},
};

/* 1 when the message (s .. end) is one of the kinds above, its captures in m; 0: the Python path's */
static int classify(const char *s, const char *end, message *m) {
    int kind;
    const char *at = connection_literal(s, end, &kind);
    if (at) return connection(s, end, at, kind, m);
    for (size_t k = 0; k < sizeof anchored / sizeof *anchored; k++) {
        const char *p = s + anchored[k].length;
        if ((size_t)(end - s) < anchored[k].length || *s != *anchored[k].start
            || memcmp(s, anchored[k].start, anchored[k].length) != 0)
            continue;
        m->kind = anchored[k].kind;
        switch (anchored[k].shape) {
        case 0: return tagged(p, end, m);
        case 1: return tuple(p, end, m);
        case 2: return whitelisting(p, end, m);
        default: return packet(p, end, anchored[k].shape - 3, m);
        }
    }
    return 0;
}

/* append the row of line i; 0 (nothing appended) when its address is not known here or does not fit */
static int emit(gs_out *out, int64_t i, const syslog_header *h, const char *s, const char *end, message *m) {
    char ip[48];
    span normal;
    int version, valid = address(m->field[GS_IP], end, ip, &normal, &version);
    int64_t k = out->rows;
    if (!valid) return 0;
    m->field[GS_IP] = valid < 0 ? (span){ip, ip} : normal;
    if (valid < 0) m->kind = GS_BAD_ADDRESS;
    m->field[GS_HOST] = h->host, m->field[GS_PROGRAM] = h->program;
    m->field[GS_MESSAGE] = (span){s, end};
    if (!text_put_row(out->text, GS_TEXTS, k, m->field)) return 0;
    for (int f = 0; f < GS_NUMBERS; f++)
        if (out->number[f]) out->number[f][k] = m->number[f];
    if (out->pid) out->pid[k] = h->pid;
    out->line[k] = i;
    out->kind[k] = (int8_t)m->kind;
    out->rows = k + 1;
    return 1;
}

/* Scan lines 0 .. n-1: status[i] as above; stamp[i] as syslog_fields.h's header() gives it (the caller
 * places it and falls back where the time rules reject it), -1 for GS_FALLBACK lines. */
void gs_scan(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, int64_t *stamp,
             gs_out *out) {
    stamp_cache cache = {{0}, 0};
    for (int64_t i = 0; i < n; i++) {
        const char *s = data + offsets[i], *end = data + offsets[i + 1];
        syslog_header h;
        message m;
        if (end > s && end[-1] == '\n') end--;
        stamp[i] = -1;
        status[i] = GS_FALLBACK;
        if (!printable(s, end) || !header(&s, end, fmt, &cache, &h)) continue;
        stamp[i] = h.stamp;
        if (!ours(h.program)) {
            status[i] = GS_SKIP;
            continue;
        }
        for (int f = 0; f < GS_TEXTS; f++) m.field[f].p = NULL; /* stores: memset's rep stos costs more */
        for (int f = 0; f < GS_NUMBERS; f++) m.number[f] = -1;
        if (classify(s, end, &m) && emit(out, i, &h, s, end, &m)) status[i] = GS_GOOD;
    }
}
