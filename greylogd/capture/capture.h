/* Declarations of capture.c, read both by the C compiler and (verbatim) by cffi's cdef, so they are plain
 * declarations only: no #include, no include guard. Includers first include <stdint.h>, <netinet/in.h> and
 * <libnetfilter_log/libnetfilter_log.h>. */
#define GREYLOGD_ANY_FAMILY -1
#define GREYLOGD_TCP 6
#define GREYLOGD_UDP 17
#define GREYLOGD_MAX_EXT_HEADERS 8

/* One parsed packet; addresses in network order (IPv4 in the first 4 bytes); 0 where there is no such
 * header (ports and flags of non-TCP/UDP packets and of non-first fragments). */
struct greylogd_packet {
    uint8_t family;
    uint8_t proto;
    uint8_t tcp_flags;
    uint16_t sport;
    uint16_t dport;
    uint8_t src[16];
    uint8_t dst[16];
};

/* One logged packet. ts (Unix seconds) is valid when has_ts, seq when has_seq; the packet fields and the
 * address texts (inet_ntop, NUL-terminated) when parsed, else the payload was malformed. */
struct greylogd_record {
    double ts;
    uint32_t seq;
    uint16_t group;
    uint16_t sport;
    uint16_t dport;
    uint8_t inbound;
    uint8_t has_seq;
    uint8_t has_ts;
    uint8_t parsed;
    uint8_t family;
    uint8_t proto;
    uint8_t tcp_flags;
    char src[46];
    char dst[46];
    char prefix[128];
};

/* Where the callback appends: records[0 .. count), capacity slots; overflow counts packets that found
 * it full (never expected: see NflogSource). */
struct greylogd_sink {
    struct greylogd_record *records;
    uint32_t capacity;
    uint32_t count;
    uint32_t overflow;
};

/* The callback's data pointer for one bound group. */
struct greylogd_group {
    struct greylogd_sink *sink;
    uint16_t num;
    uint8_t inbound;
};

int greylogd_parse_packet(const uint8_t *data, long len, int family, struct greylogd_packet *out);
int greylogd_on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfd,
                       void *data);
