/* IP addresses of LOG and greyd lines, as kernlog_lines normalises them (kernlog_lines._IPV4, then
 * ipaddress for the rest), for the C scanners (logscan.c, greydscan.c). address() accepts only what it
 * can normalise or reject exactly as Python would; the caller falls back to the Python path for the
 * rest. Reads stay inside the bytes the caller says are readable; all functions are static.
 */
#ifndef GREYLOGD_ADDRESSES_H
#define GREYLOGD_ADDRESSES_H
#include <arpa/inet.h>
#include "syslog_fields.h"

#ifdef __SSE2__
/* kernlog._IPV4: four decimal octets 0..255 without leading zeros, the n (7..15) bytes of v (the
 * rest of v ignored). Each rule is a test on bit masks of the bytes, with no branch and no octet waiting
 * for the one before: a loop over octets is a chain of dependent loads and mispredicted lengths. */
static inline int quad_bits(__m128i v, int n) {
    unsigned all = (1u << n) - 1;
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    unsigned digits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)) & all;
    unsigned dots = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))) & all;
    unsigned zero = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('0')));
    unsigned two = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('2')));
    unsigned above2 = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_set1_epi8('2')));
    unsigned five = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('5')));
    unsigned above5 = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(v, _mm_set1_epi8('5')));
    unsigned dots2 = dots & (dots - 1), dots3 = dots2 & (dots2 - 1); /* dots less the first, first two */
    unsigned starts = (dots << 1 | 1) & all; /* an octet starts at 0 and after each dot */
    unsigned three = starts & digits & digits >> 1 & digits >> 2; /* octets of three digits start here */
    unsigned over = three & (above2 | (two & (above5 >> 1 | (five >> 1 & above5 >> 2)))); /* > 255 */
    return (digits | dots) == all && dots3 && !(dots3 & (dots3 - 1)) && (starts & digits) == starts
           && (digits >> (n - 1) & 1) && !(digits & digits >> 1 & digits >> 2 & digits >> 3)
           && !(starts & zero & digits >> 1) && !over;
}

/* the dotted quad check of a..end, a 16-byte load straight from a when limit (how far bytes can be
 * read) allows, else from a copy */
static inline int dotted_quad(const char *a, const char *end, const char *limit) {
    int n = (int)(end - a);
    char copy[16] = {0};
    if (n < 7 || n > 15) return 0;
    if (limit - a < 16) a = memcpy(copy, a, n);
    return quad_bits(_mm_loadu_si128((const __m128i *)a), n);
}
#else
/* kernlog._IPV4, where there is no SSE2: octet by octet */
static int dotted_quad(const char *p, const char *end, const char *limit) {
    (void)limit;
    for (int k = 0; k < 4; k++) {
        const char *start = p;
        int64_t v;
        if (!number(&p, end, 3, &v) || v > 255 || (p - start > 1 && *start == '0')) return 0;
        if (k < 3 && (p >= end || *p++ != '.')) return 0;
    }
    return p == end;
}
#endif

/* ipaddress.IPv6Address(x).compressed of a hex-and-colons address; not IPv4-mapped (Python versions
 * print those differently) */
__attribute__((noinline)) static int ipv6(span a, char *out, int *len) { /* not inlined: rare */
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

/* 1 valid (*out: the normal form, a itself for a dotted quad, else written into buf[48]), -1 surely
 * invalid for ipaddress too (only digits and dots, not a dotted quad: neither IPv4Address nor
 * IPv6Address takes it), 0 not known here; bytes up to limit (>= a.end) may be read */
static inline int address(span a, const char *limit, char *buf, span *out, int *version) {
    int len;
    *version = 4;
    if (dotted_quad(a.p, a.end, limit)) {
        *out = a;
        return 1;
    }
    *version = 6;
    if (ipv6(a, buf, &len)) {
        *out = (span){buf, buf + len};
        return 1;
    }
    for (const char *p = a.p; p < a.end; p++)
        if (!is_digit(*p) && *p != '.') return 0;
    return -1;
}

#endif
