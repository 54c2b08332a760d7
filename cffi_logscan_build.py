"""Declares the cffi builder for greylogd._logscan (API mode, compiled at install time, never at import).

The C source is greylogd/analysis/logscan.c (one-pass scanner of kernel LOG lines), with the syslog header and
address parsers it shares with other scanners in greylogd/analysis/syslog_fields.h; only
greylogd/analysis/logscan.py imports the result. cffi releases the GIL around ls_scan, so the
reader's worker threads scan chunks in parallel.
"""

from pathlib import Path

from cffi import FFI

CDEF = """
#define LS_GOOD ...
#define LS_SKIP ...
#define LS_FALLBACK ...
#define LS_RFC3164 ...
#define LS_RFC3339 ...
#define LS_DMESG ...
#define LS_KMSG ...
#define LS_FIELDS ...
#define LS_CODED ...
#define LS_BAD_ADDRESS ...
#define LS_BAD_PORT ...

typedef struct {
    int64_t *line;
    int64_t *stamp;
    int32_t *spt, *dpt;
    int8_t *ip_version;
    int32_t *code[5];
    int32_t *slots[5];
    int64_t mask;
    int32_t distinct[5];
    char *arena[6];
    int64_t capacity[6];
    int64_t *offsets[6];
    int64_t *bad_line, *bad_stamp;
    int8_t *bad_reason;
    int64_t rows, bad, next;
    int full;
} ls_out;

int64_t ls_count_lines(const char *data, int64_t size, int *ascii);
void ls_line_ends(const char *data, int64_t size, int64_t *ends);
void ls_headers(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, int64_t *stamp,
                int64_t *spans, int64_t *pid);
int ls_scan(const char *data, const int64_t *offsets, int64_t n, int fmt, int8_t *status, ls_out *out);
"""

SOURCE = Path(__file__).parent / "greylogd" / "analysis" / "logscan.c"

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("greylogd._logscan", SOURCE.read_text(encoding="utf-8"),
                      include_dirs=[str(SOURCE.parent)], depends=[str(SOURCE.parent / "syslog_fields.h")],
                      extra_compile_args=["-O2", "-Wall", "-Wextra"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
