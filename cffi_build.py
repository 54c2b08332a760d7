"""Declares the cffi builder for greylogd._nflog (API mode, compiled at install time, never at import).

Besides the libnetfilter_log binding it compiles greylogd/capture/capture.c: the one packet parser (C, used
by the NFLOG callback and by greylogd.capture.packet.parse) and the NFLOG callback that appends one
fixed-size record per packet (capture.h declares both, and is read verbatim into the cdef so the two cannot
drift). Only greylogd/capture/ imports the result (nflog.py and packet.py). Constants come from the C
headers via `#define NAME ...` so they can never drift from the installed libnetfilter_log (SO_RCVBUFFORCE
is here because Python's socket module does not export it). recv/setsockopt go through Python's socket
module on a dup of nflog_fd(): it already maps errno to exceptions and retries EINTR, so the binding stays
libnetfilter_log only. nflog_bind_pf/nflog_unbind_pf are deliberately absent: since Linux 3.x the NFLOG
target and nft `log group` reach nfnetlink_log without them, and they only (re)set the namespace's default
logger, which unbind_pf would take away from any other tool (ulogd) using it.
"""

from pathlib import Path

from cffi import FFI

CDEF = """
#define AF_INET ...
#define AF_INET6 ...
#define NFULNL_COPY_NONE ...
#define NFULNL_COPY_META ...
#define NFULNL_COPY_PACKET ...
#define NFULNL_CFG_F_SEQ ...
#define NFULNL_CFG_F_SEQ_GLOBAL ...
#define SO_RCVBUFFORCE ...

struct nflog_handle;
struct nflog_g_handle;
struct nflog_data;
struct nfgenmsg { uint8_t nfgen_family; uint8_t version; uint16_t res_id; };
struct timeval { long tv_sec; long tv_usec; ...; };

typedef int nflog_callback(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg,
                           struct nflog_data *nfd, void *data);

struct nflog_handle *nflog_open(void);
int nflog_close(struct nflog_handle *h);
int nflog_fd(struct nflog_handle *h);
struct nflog_g_handle *nflog_bind_group(struct nflog_handle *h, uint16_t num);
int nflog_unbind_group(struct nflog_g_handle *gh);
int nflog_set_mode(struct nflog_g_handle *gh, uint8_t mode, unsigned int len);
int nflog_set_timeout(struct nflog_g_handle *gh, uint32_t timeout);
int nflog_set_flags(struct nflog_g_handle *gh, uint16_t flags);
int nflog_set_qthresh(struct nflog_g_handle *gh, uint32_t qthresh);
int nflog_set_nlbufsiz(struct nflog_g_handle *gh, uint32_t nlbufsiz);
int nflog_callback_register(struct nflog_g_handle *gh, nflog_callback *cb, void *data);
int nflog_handle_packet(struct nflog_handle *h, char *buf, int len);

int nflog_get_payload(struct nflog_data *nfad, char **data);
char *nflog_get_prefix(struct nflog_data *nfad);
int nflog_get_seq(struct nflog_data *nfad, uint32_t *seq);
int nflog_get_seq_global(struct nflog_data *nfad, uint32_t *seq);
int nflog_get_timestamp(struct nflog_data *nfad, struct timeval *tv);
uint32_t nflog_get_indev(struct nflog_data *nfad);
uint32_t nflog_get_outdev(struct nflog_data *nfad);
"""
CAPTURE_DIR = Path(__file__).resolve().parent / "greylogd" / "capture"

SOURCE = """
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include "capture.h"
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF + (CAPTURE_DIR / "capture.h").read_text())
ffibuilder.set_source("greylogd._nflog", SOURCE, sources=[str(CAPTURE_DIR / "capture.c")],
                      include_dirs=[str(CAPTURE_DIR)], libraries=["netfilter_log"],
                      extra_compile_args=["-O2", "-Wall", "-Wextra"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
