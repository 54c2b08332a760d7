/* SIMD passes over a block of a chunk's bytes for the kernel LOG scanner (logscan.c): where a block
 * may hold one of the LOG fields' needles, which bytes are outside printable ASCII, where the newlines
 * are. Each comes as an SSE2 function (every x86-64) and, on x86-64 with GCC or Clang, an AVX2 one
 * compiled for that target alone (LS_AVX2), which the caller uses only where the CPU has AVX2: the build
 * stays portable (no -march). The drivers are inlined into one function per block function, so the
 * block's work is inlined too. Included once, by logscan.c; all functions are static.
 */
#ifndef GREYLOGD_LINE_BLOCKS_H
#define GREYLOGD_LINE_BLOCKS_H
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Where a block of 32 bytes at p (p[0..33] readable) may hold a needle, and which of its bytes are
 * outside printable ASCII: candidates in the low 32 bits, outside bytes in the high ones. A candidate
 * is a space followed two bytes on by 'R' or 'U': " SRC=", " PROTO=" and " OUT=" start at such places
 * (so do a few other words: needle() tells). Outside is x + 1 < 0x21 as signed bytes (0x00-0x1f,
 * 0x7f, 0x80-0xff). SSE2 (every x86-64) takes two halves; AVX2, where the CPU has it, one. */
typedef uint64_t (*block_fn)(const char *p);

#ifdef __SSE2__
static inline uint64_t block_sse2(const char *p) {
    uint64_t bits = 0;
    for (int half = 0; half < 2; half++, p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p), w = _mm_loadu_si128((const __m128i *)(p + 2));
        __m128i odd = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(1)), _mm_set1_epi8(0x21));
        __m128i ru = _mm_or_si128(_mm_cmpeq_epi8(w, _mm_set1_epi8('R')), _mm_cmpeq_epi8(w, _mm_set1_epi8('U')));
        __m128i candidate = _mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), ru);
        bits |= ((uint64_t)(unsigned)_mm_movemask_epi8(odd) << 32 | (unsigned)_mm_movemask_epi8(candidate))
                << 16 * half;
    }
    return bits;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LS_AVX2 1
__attribute__((target("avx2"))) static inline uint64_t block_avx2(const char *p) {
    __m256i v = _mm256_loadu_si256((const __m256i *)p), w = _mm256_loadu_si256((const __m256i *)(p + 2));
    __m256i odd = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x21), _mm256_add_epi8(v, _mm256_set1_epi8(1)));
    __m256i ru = _mm256_or_si256(_mm256_cmpeq_epi8(w, _mm256_set1_epi8('R')),
                                 _mm256_cmpeq_epi8(w, _mm256_set1_epi8('U')));
    __m256i candidate = _mm256_and_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(' ')), ru);
    return (uint64_t)(unsigned)_mm256_movemask_epi8(odd) << 32 | (unsigned)_mm256_movemask_epi8(candidate);
}
#endif

/* The newlines of 64 bytes at p as bits, and *high ORed with a bit set where a byte has its high bit
 * set: four SSE2 loads (every x86-64), or two AVX2 ones where the CPU has them. */
typedef uint64_t (*newline_fn)(const char *p, unsigned *high);

#ifdef __SSE2__
static inline uint64_t newlines_sse2(const char *p, unsigned *high) {
    uint64_t bits = 0;
    for (int k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        *high |= (unsigned)_mm_movemask_epi8(v);
        bits |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))) << 16 * k;
    }
    return bits;
}
#endif

#ifdef LS_AVX2
__attribute__((target("avx2"))) static inline uint64_t newlines_avx2(const char *p, unsigned *high) {
    uint64_t bits = 0;
    for (int k = 0; k < 2; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + 32 * k));
        *high |= (unsigned)_mm256_movemask_epi8(v);
        bits |= (uint64_t)(unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n'))) << 32 * k;
    }
    return bits;
}
#endif

/* ls_line_ends, 64 bytes a step with block (NULL: none), byte by byte after */
static inline __attribute__((always_inline)) int64_t line_ends_with(newline_fn block, const char *data,
                                                                    int64_t size, int64_t *ends, int *ascii) {
    int64_t lines = 0, i = 0;
    unsigned high = 0;
    ends[0] = 0;
    for (; block && size - i >= 64; i += 64)
        for (uint64_t bits = block(data + i, &high); bits; bits &= bits - 1)
            ends[++lines] = i + __builtin_ctzll(bits) + 1;
    for (; i < size; i++) {
        high |= (unsigned char)data[i] >> 7;
        if (data[i] == '\n') ends[++lines] = i + 1;
    }
    *ascii = !high;
    return lines;
}

static int64_t line_ends_plain(const char *data, int64_t size, int64_t *ends, int *ascii) {
#ifdef __SSE2__
    return line_ends_with(newlines_sse2, data, size, ends, ascii);
#else
    return line_ends_with(NULL, data, size, ends, ascii);
#endif
}

#ifdef LS_AVX2
__attribute__((target("avx2"))) static int64_t line_ends_avx2(const char *data, int64_t size, int64_t *ends,
                                                              int *ascii) {
    return line_ends_with(newlines_avx2, data, size, ends, ascii);
}
#endif

#endif
